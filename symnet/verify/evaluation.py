"""A SymPy expression's value at a point, in mpmath at the working precision.

SymPy's own ``evalf`` is slow on large trees and quietly returns complex or infinite values; this walks the
tree once with a memo, and a value that is not a finite real number — a log of a negative, a division by
zero, an exponential too large to store — is :class:`Undefined` instead.
"""
from __future__ import annotations

import mpmath
import sympy as sp

from symnet.functions.activations import Activation

DIGITS = 50  # working precision of the numeric comparison
TOLERANCE = mpmath.mpf(10) ** -30  # relative; 20 digits of headroom for cancellation inside a claim
_NOISE = mpmath.mpf(10) ** -48
# |x| for e^x: no honest claim comes near it, and e^(e^x) past it would need gigabytes for its exponent
_MAX_EXP_ARG = 10 ** 6

Point = dict[sp.Symbol, mpmath.mpf]


class Undefined(Exception):
    """The expression has no real value at this point (log of a negative, division by zero)."""


def value(expr: sp.Expr, point: Point) -> mpmath.mpf:
    """``expr`` at ``point`` at the working precision; raises Undefined where it has no real value."""
    memo: dict[sp.Expr, mpmath.mpf] = {}
    try:
        v = _eval(expr, point, memo)
    except (ZeroDivisionError, ValueError, OverflowError, MemoryError):
        raise Undefined from None
    if isinstance(v, mpmath.mpc) or not mpmath.isfinite(v):
        raise Undefined
    return v


def close(a: mpmath.mpf, b: mpmath.mpf) -> bool:
    """Equal to 30 of the 50 digits; values below 1e-48 are rounding noise of O(1) quantities."""
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b)) or max(abs(a), abs(b)) < _NOISE


def _eval(e: sp.Expr, env: Point, memo: dict) -> mpmath.mpf:
    if e in memo:
        return memo[e]
    if e.is_Symbol:
        if e not in env:
            raise Undefined
        v = env[e]
    elif e.is_Integer:
        v = mpmath.mpf(int(e))
    elif e.is_Rational:
        v = mpmath.mpf(int(e.p)) / int(e.q)
    elif e.is_Number or e.is_NumberSymbol:
        v = mpmath.mpf(str(e.evalf(DIGITS + 10)))
    elif isinstance(e, sp.Add):
        v = mpmath.fsum(_eval(a, env, memo) for a in e.args)
    elif isinstance(e, sp.Mul):
        v = mpmath.fprod(_eval(a, env, memo) for a in e.args)
    elif isinstance(e, sp.Pow):
        base, ex = _eval(e.base, env, memo), e.exp
        if ex.is_Integer:
            v = base ** int(ex)
        else:
            if base < 0:
                raise Undefined
            v = base ** _eval(ex, env, memo)
    elif isinstance(e, sp.exp):
        v = _exp(_eval(e.args[0], env, memo))
    elif isinstance(e, sp.log):
        arg = _eval(e.args[0], env, memo)
        if arg <= 0:
            raise Undefined
        v = mpmath.log(arg)
    elif isinstance(e, sp.Heaviside):
        arg = _eval(e.args[0], env, memo)
        at0 = _eval(e.args[1], env, memo) if len(e.args) > 1 else mpmath.mpf(1) / 2
        v = mpmath.mpf(1) if arg > 0 else (mpmath.mpf(0) if arg < 0 else at0)
    elif isinstance(e, sp.Piecewise):
        for piece, cond in e.args:
            if _holds(cond, env, memo):
                v = _eval(piece, env, memo)
                break
        else:
            raise Undefined
    elif isinstance(e, Activation):
        v = _activation(e, _eval(e.args[0], env, memo))
    elif isinstance(e, sp.Abs):
        v = abs(_eval(e.args[0], env, memo))
    elif isinstance(e, sp.sign):  # the derivative of abs, e.g. in a Huber loss's linear branch
        v = mpmath.mpf(mpmath.sign(_eval(e.args[0], env, memo)))
    else:
        raise Undefined
    memo[e] = v
    return v


def _activation(f: Activation, x: mpmath.mpf) -> mpmath.mpf:
    try:
        return type(f).mpmath_function()(x)
    except (OverflowError, ZeroDivisionError, ValueError):
        raise Undefined from None


def _exp(x: mpmath.mpf) -> mpmath.mpf:
    if abs(x) > _MAX_EXP_ARG:
        raise Undefined
    return mpmath.exp(x)


def _holds(cond: sp.Basic, env: Point, memo: dict) -> bool:
    if cond is sp.true:
        return True
    if cond is sp.false:
        return False
    if isinstance(cond, sp.core.relational.Relational):
        lhs, rhs = _eval(cond.lhs, env, memo), _eval(cond.rhs, env, memo)
        return {"<": lhs < rhs, "<=": lhs <= rhs, ">": lhs > rhs, ">=": lhs >= rhs,
                "==": lhs == rhs, "!=": lhs != rhs}[cond.rel_op]
    if isinstance(cond, sp.And):
        return all(_holds(a, env, memo) for a in cond.args)
    if isinstance(cond, sp.Or):
        return any(_holds(a, env, memo) for a in cond.args)
    raise Undefined
