"""The worked example: a hand calculation's numbers, from evaluating the derivation itself.

One engine behind the write-up's worked example and ``symnet example``: the values file gives x, y,
the learning rate and every W⁽ᵏ⁾, b⁽ᵏ⁾; the numbers are the derivation's expressions (forward
definitions, chain factors, deltas, gradients) evaluated at that point, and the updated parameters
after one gradient-descent step θ ← θ − α ∂E/∂θ.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy as sp

from symnet.derivation.chains import E, Delta, Derivation, Factor
from symnet.derivation import update
from symnet.derivation.update import valid_momentum
from symnet.errors import InputError
from symnet.files import read_toml
from symnet.numeric.evaluate import Evaluator
from symnet.numeric.finite_differences import kink_distance, kinks_of, targets
from symnet.spec import Network


SIGNIFICANT = 9


def fmt(v: float, digits: int = SIGNIFICANT) -> str:
    """A number to ``digits`` significant digits, as a hand calculation would write it."""
    return f"{v:.{digits}g}"


@dataclass(frozen=True)
class Values:
    """One sample and the parameters to evaluate at: x (n0,), y (nL,), params [W1, b1, …]."""

    x: np.ndarray
    y: np.ndarray
    params: list[np.ndarray]
    learning_rate: float = 0.5
    momentum: float = 0.0


VALUE_KEYS = ("x", "y", "learning_rate", "momentum")


#: ``--values random`` or ``random:SEED``: drawn values instead of a file
RANDOM = re.compile(r"random(?::(\d{1,9}))?")


def load_values(path: str | Path, net: Network) -> Values:
    """Read VALUES.toml (``x``, ``y``, ``learning_rate``, ``W1`` rows = source neurons, ``b1``, …), or
    draw them for ``random[:SEED]``."""
    drawn = RANDOM.fullmatch(str(path))
    if drawn:
        return random_values(net, int(drawn.group(1) or 0))
    return values_from_dict(read_toml(path, "values file"), net, source=str(path))


def random_values(net: Network, seed: int = 0) -> Values:
    """Small readable values for any network (two decimals, |v| ≤ 0.5 for parameters, ≤ 1 for inputs;
    targets valid for the loss), so that a write-up without a values file still gets a worked example.
    Redrawn while a kinked activation (ReLU …) sits within 0.005 of its kink, where its derivative would
    depend on a rounding."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        x = np.round(rng.uniform(-1, 1, net.n_in), 2)
        y = np.round(targets(net.loss, net.n_out, 1, rng)[0], 2)
        params = [np.round(rng.uniform(-0.5, 0.5, shape), 2) for _, shape in net.param_shapes]
        if kink_distance(kinks_of(net), params, x.reshape(1, -1)) >= 0.005:
            break
    return Values(x, y, params, learning_rate=0.5)


def values_from_dict(data: dict, net: Network, source: str = "values") -> Values:
    L = net.depth
    names = [name for name, _ in net.param_shapes]
    unknown = sorted(set(data) - set(VALUE_KEYS) - set(names))
    if unknown:
        raise InputError(f"{source}: unknown key {unknown[0]!r}; expected x, y, learning_rate, "
                         f"{', '.join(names)} (and optionally momentum)")

    def array(key: str, shape: tuple[int, ...], what: str) -> np.ndarray:
        if key not in data:
            raise InputError(f"{source}: missing {key} ({what}, shape {_shape(shape)})")
        raw = data[key]
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) and shape == (1,):
            raw = [raw]
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in _leaves(raw)):
            raise InputError(f"{source}: {key} must be numbers only (no true/false or text), e.g. {key} = "
                             f"{_example(shape)}")
        try:
            arr = np.array(raw, dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"{source}: {key} must be numbers in nested lists, e.g. {key} = "
                             f"{_example(shape)}") from None
        if arr.shape != shape:
            raise InputError(f"{source}: {key} has shape {_shape(arr.shape)}, expected {_shape(shape)} ({what})")
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{source}: {key} has a value that is not a finite number")
        return arr

    x = array("x", (net.n_in,), f"{net.n_in} inputs")
    y = array("y", (net.n_out,), f"{net.n_out} targets")
    params = []
    if isinstance(net, Network):
        n = net.layers
        for k in range(1, L + 1):
            params.append(array(f"W{k}", (n[k - 1], n[k]),
                                f"rows i = the {n[k - 1]} neurons of layer {k - 1}, columns j = the {n[k]} of layer {k}"))
            params.append(array(f"b{k}", (n[k],), f"one bias per neuron of layer {k}"))
    else:
        for name, shape in net.param_shapes:
            what = (f"rows i = the {shape[0]} units the layer reads, columns j = its {shape[1]} units" if len(shape) == 2
                    else f"one bias per unit of layer {name[1:]}")
            params.append(array(name, shape, what))
    rates = {}
    for key, default in (("learning_rate", 0.5), ("momentum", 0.0)):
        v = data.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise InputError(f"{source}: {key} must be a number, got {v!r}")
        rates[key] = float(v)
    if not valid_momentum(rates["momentum"]):
        raise InputError(f"{source}: momentum must be in [0, 1), got {rates['momentum']}")
    if not rates["learning_rate"] > 0:
        raise InputError(f"{source}: learning_rate must be positive, got {rates['learning_rate']}")
    return Values(x, y, params, rates["learning_rate"], rates["momentum"])


def _leaves(raw: object) -> list:
    """The entries of nested lists (a lone value is its own leaf)."""
    if isinstance(raw, list):
        return [leaf for item in raw for leaf in _leaves(item)]
    return [raw]


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")


def _example(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return "[" + ", ".join(["0.1"] * shape[0]) + "]"
    return "[" + ", ".join(["[" + ", ".join(["0.1"] * shape[1]) + "]"] * shape[0]) + "]"


@dataclass(frozen=True)
class ChainNumbers:
    """The numbers of one parameter's chain: each path's factor values, and the gradient."""

    param: sp.Symbol
    paths: list[list[tuple[Factor, float]]] | None  # None when the net has too many paths to list
    local: tuple[Factor, float]  # ∂h/∂θ
    delta: float
    gradient: float


@dataclass(frozen=True)
class Update:
    param: sp.Symbol
    before: float
    gradient: float
    after: float


class WorkedExample:
    """Every number of one forward pass, backward pass and gradient-descent step at ``values``."""

    def __init__(self, derivation: Derivation, values: Values, params: list[str] | None = None):
        self.derivation, self.values = derivation, values
        d, ev = derivation, Evaluator(derivation)
        vals = ev.evaluate(values.params, values.x.reshape(1, -1), values.y.reshape(1, -1))
        self._ev, self._env = ev, vals.env

        def num(expr: sp.Expr) -> float:
            return float(np.asarray(ev.value(expr, self._env)).reshape(-1)[0])

        self.num = num
        m = d.model
        #: inputs, then h and a of each layer in order, ŷ last
        self.inputs = [(s, num(s)) for s in m.x]
        self.targets = [(s, num(s)) for s in m.y]
        self.forward = [(s, num(s)) for s in m.definitions]
        self.error = num(E)
        self.deltas: list[tuple[Delta, float]] = [(dl, num(dl.symbol)) for dl in d.all_deltas()]
        chosen = [d.symbol(p) for p in params] if params else m.params
        self.chains = [self._chain_numbers(p) for p in chosen]
        self.updates = self._updates()

    def _chain_numbers(self, param: sp.Symbol) -> ChainNumbers:
        c = self.derivation.chain(param)
        paths = None
        if c.paths is not None:
            paths = [[(f, self.num(f.compact)) for f in p.factors] for p in c.paths]
        return ChainNumbers(param, paths, (c.local, self.num(c.local.compact)), self.num(c.delta),
                            self.num(c.via_delta))

    def _updates(self) -> list[Update]:
        """θ ← θ − α ∂E/∂θ for every parameter (momentum from rest gives the same first step)."""
        lr = self.values.learning_rate
        out = []
        for p in self.derivation.model.params:
            before = float(self._env[p])
            g = self.num(self.derivation.chain(p).via_delta)
            out.append(Update(p, before, g, update.step(before, g, lr).after))
        return out


    def gradient(self, param: str | sp.Symbol) -> float:
        return self.num(self.derivation.chain(param).via_delta)
