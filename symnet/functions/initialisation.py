"""Weight initialisation schemes, each defined once as the SymPy expression of its scale.

He (normal, variance 2/fan_in) keeps the variance of ReLU-like layers' outputs from shrinking; Glorot
(uniform on ±limit, variance 2/(fan_in + fan_out)) keeps it for the saturating ones.  An activation names
its scheme (``Activation.init``); kernels print the scale from here.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

FAN_IN = sp.Symbol("fan_in", positive=True)
FAN_OUT = sp.Symbol("fan_out", positive=True)


@dataclass(frozen=True)
class Scheme:
    name: str
    #: "normal": W = scale · N(0, 1); "uniform": W uniform on [−scale, scale]
    distribution: str
    #: unevaluated, so a kernel computes it as written (√(2/n), not √2/√n)
    scale: sp.Expr
    variance: sp.Expr


SCHEMES = {
    "he": Scheme("He", "normal", sp.sqrt(sp.UnevaluatedExpr(2 / FAN_IN)), 2 / FAN_IN),
    "glorot": Scheme("Glorot", "uniform", sp.sqrt(sp.UnevaluatedExpr(6 / (FAN_IN + FAN_OUT))), 2 / (FAN_IN + FAN_OUT)),
}
