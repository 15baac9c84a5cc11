"""The part of a wide network that checking one claim needs.

∂E/∂W1[1,1] of a 784-256-10 network runs through one input, one hidden unit and the ten outputs; the
other 783 inputs and 255 hidden units only add terms to the sums h = Σ W·a + b above them.  A layer below
the derivative's own can therefore be cut to the units that are named, plus one unit standing for all the
others: its weight into each unit above is free, so the sums take every value they take in the whole
network, and the claim equals the truth on the slice exactly when it does on the whole network.  The
truth itself is the same expression on both: every chain-rule path runs through kept units.  The layers
from the derivative's own up are kept whole, as are the outputs (the loss and a softmax read all of them).
"""
from __future__ import annotations

import dataclasses

import sympy as sp

from symnet.derivation.names import Name, parse_name
from symnet.spec import Network

#: parameters up to which a network is checked whole, so that a counterexample lists every value of a
#: point that a person can redo by hand
WHOLE_UP_TO = 12


def slice_network(net: Network, of: sp.Symbol, wrt: sp.Symbol, claim: sp.Expr) -> Network:
    """``net`` cut to the units that ∂of/∂wrt and the claim read (``net`` itself when nothing can go)."""
    if net.n_params <= WHOLE_UP_TO:
        return net
    L = net.depth
    highest = [0] * (L + 1)  # the highest unit named in each layer
    whole_from = _layer(parse_name(wrt.name), L) + 1  # the chain runs through all of these layers
    for s in {of, wrt} | claim.free_symbols:
        name = parse_name(s.name) if isinstance(s, sp.Symbol) else None
        if name is None or name.kind == "E":
            continue  # E and m are not units
        for layer, unit in _units(name, L):
            highest[layer] = max(highest[layer], unit)
        if name.kind == "delta":
            # δ = ∂E/∂h runs through every unit above its own
            whole_from = min(whole_from, name.layer + 1)
    layers = tuple(n if k >= whole_from or k == L else min(n, highest[k] + 1) for k, n in enumerate(net.layers))
    return net if layers == net.layers else dataclasses.replace(net, layers=layers)


def _layer(name: Name, L: int) -> int:
    if name.kind == "x":
        return 0
    return L if name.kind in ("y", "yhat") else name.layer


def _units(name: Name, L: int) -> list[tuple[int, int]]:
    """(layer, unit) of each unit a name involves: W_k[i,j] joins unit i below to unit j."""
    unit = name.index[-1] if name.index else 1
    if name.kind == "W":
        return [(name.layer - 1, name.index[0]), (name.layer, unit)]
    return [(_layer(name, L), unit)]
