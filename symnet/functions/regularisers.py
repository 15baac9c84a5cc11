"""L2 weight decay: the cost gains (λ/2)·Σ W², summed over every weight of every layer.

Biases are not decayed: a bias shifts a neuron's threshold and does not make the network's function
steeper, so penalising it only biases the fit (the usual convention, stated in the write-up).
"""
from __future__ import annotations

from collections.abc import Iterable

import sympy as sp

#: λ, the decay strength (``--l2``)
lam = sp.Symbol("lambda", positive=True)


def l2_penalty(weights: Iterable[sp.Basic]) -> sp.Expr:
    """(λ/2)·Σ w² over ``weights``."""
    return lam / 2 * sp.Add(*(w ** 2 for w in weights))


def decay(weight: sp.Basic) -> sp.Expr:
    """∂/∂w of the penalty, derived: λ·w."""
    dummy = sp.Dummy("w", real=True)
    return sp.diff(l2_penalty([dummy]), dummy).xreplace({dummy: weight})
