"""The one rule every stage uses to tidy an expression: keep the form with the fewest operations.

Whole gradients are never handed to ``simplify`` (it is slow and its result unpredictable); a stage
proposes a few rewritten forms and keeps the shortest, the first on ties.
"""
from __future__ import annotations

import sympy as sp


def shortest(*forms: sp.Expr) -> sp.Expr:
    """The form with the fewest operations (the earliest of equals)."""
    return min(forms, key=sp.count_ops)


def factored(expr: sp.Expr) -> sp.Expr:
    """expr, or its cancelled and factored form if that is shorter."""
    return shortest(expr, sp.factor(sp.cancel(expr)))
