"""The index symbols of the layer (index) form and the widths they run over.

One set for every stage: ``i`` runs over a layer's inputs, ``j`` over its units, ``l`` over a layer
above (or a softmax's other units), ``q`` over the outputs in a loss, ``p`` is a free index distinct
from all of them (∂E/∂a_p).
"""
from __future__ import annotations

import sympy as sp

i, j, l, q = sp.symbols("i j l q", integer=True, positive=True)
p = sp.Symbol("p", integer=True, positive=True)


def width(k: int) -> sp.Symbol:
    """n_k, the symbolic width of layer k (n0: the inputs)."""
    return sp.Symbol(f"n{k}", integer=True, positive=True)
