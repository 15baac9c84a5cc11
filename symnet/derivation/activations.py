"""Activation functions as SymPy functions whose compact derivatives are derived, not typed in.

Each activation knows its *definition* (σ(x) = 1/(1 + e⁻ˣ), …). Its derivative, the one every
chain-rule factor uses, is the result of a :class:`Lemma`: SymPy differentiates the definition and
rewrites the result in terms of the function's own value (σ′ = σ(1 − σ), tanh′ = 1 − tanh²) or of
another activation (softplus′ = σ).  ReLU′(0) = 0 by convention: its derivative is the Heaviside
step H(x) with H(0) = 0, which is also what differentiating its piecewise definition gives.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

x = sp.Symbol("x", real=True)
_u = sp.Symbol("u", positive=True)  # u = eˣ, the substitution that turns exponentials into algebra
_s = sp.Symbol("s", real=True)  # the value f(x) that the compact derivative is written in


class Activation(sp.Function):
    """An elementwise activation f; subclasses give ``name``, ``definition`` and ``numpy``."""

    nargs = 1
    name: str = ""
    latex_name: str = ""
    #: the activation the compact derivative is written in, when not the function itself
    derivative_in: str | None = None

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        raise NotImplementedError

    @staticmethod
    def numpy(v: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return lemma(self.name).compact.subs(x, self.args[0])

    def expand_definition(self) -> sp.Expr:
        return self.definition(self.args[0])

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return self.definition(self.args[0])._eval_evalf(prec)

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        return f"{self.name}({printer._print(self.args[0])})"

    def _latex(self, printer: sp.printing.latex.LatexPrinter, exp: str | None = None) -> str:
        head = self.latex_name + (f"^{{{exp}}}" if exp else "")
        return rf"{head}\left({printer._print(self.args[0])}\right)"


class Sigmoid(Activation):
    name, latex_name = "sigmoid", r"\sigma"

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        return 1 / (1 + sp.exp(-arg))

    def _eval_is_positive(self) -> bool | None:
        return self.args[0].is_real

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        return f"sigma({printer._print(self.args[0])})"

    @staticmethod
    def numpy(v: np.ndarray) -> np.ndarray:
        # e^{-|v|} never overflows, so both halves of the logistic are exact for any v
        e = np.exp(-np.abs(v))
        return np.where(v >= 0, 1 / (1 + e), e / (1 + e))


class Tanh(Activation):
    name, latex_name = "tanh", r"\tanh"

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        return (sp.exp(arg) - sp.exp(-arg)) / (sp.exp(arg) + sp.exp(-arg))

    numpy = staticmethod(np.tanh)


class Softplus(Activation):
    name, latex_name, derivative_in = "softplus", r"\operatorname{softplus}", "sigmoid"

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        return sp.log(1 + sp.exp(arg))

    @staticmethod
    def numpy(v: np.ndarray) -> np.ndarray:
        return np.logaddexp(0.0, v)


class ReLU(Activation):
    name, latex_name = "relu", r"\operatorname{ReLU}"

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        # x > 0 strictly: the derivative of this definition is 0 at x = 0, the convention we document
        return sp.Piecewise((arg, arg > 0), (0, True))

    @staticmethod
    def numpy(v: np.ndarray) -> np.ndarray:
        return np.maximum(v, 0.0)


class LeakyReLU(Activation):
    name, latex_name = "leaky_relu", r"\operatorname{LReLU}"
    slope = sp.Rational(1, 100)

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        return sp.Piecewise((arg, arg > 0), (cls.slope * arg, True))

    @staticmethod
    def numpy(v: np.ndarray) -> np.ndarray:
        return np.where(v > 0, v, 0.01 * v)


ACTIVATION_CLASSES: dict[str, type[Activation]] = {
    c.name: c for c in (Sigmoid, Tanh, Softplus, ReLU, LeakyReLU)
}


def apply(name: str, arg: sp.Expr) -> sp.Expr:
    """f(arg) for an elementwise activation name; identity is the argument itself."""
    if name == "identity":
        return arg
    return ACTIVATION_CLASSES[name](arg)


def expand_definitions(expr: sp.Expr) -> sp.Expr:
    """Replace every activation by its definition (σ(h) → 1/(1 + e⁻ʰ))."""
    return expr.replace(lambda e: isinstance(e, Activation), lambda e: e.expand_definition())


def numpy_functions() -> dict[str, object]:
    """The namespace that ``lambdify`` needs to evaluate expressions containing activations."""
    return {cls.__name__: cls.numpy for cls in ACTIVATION_CLASSES.values()}


@dataclass(frozen=True)
class Lemma:
    """f′ derived from f's definition: the steps the write-up prints, and the compact result.

    ``definition`` f(x); ``derivative`` d/dx of it as SymPy gives it; ``substitution`` the
    equation (eˣ in terms of s = g(x)) that rewrites it; ``compact`` f′(x) in terms of g(x).
    For the piecewise activations there is no substitution: the derivative is already compact.
    """

    name: str
    definition: sp.Expr
    derivative: sp.Expr
    substitution: sp.Eq | None
    compact: sp.Expr

    @property
    def in_terms_of(self) -> str:
        return ACTIVATION_CLASSES[self.name].derivative_in or self.name


@cache
def lemma(name: str) -> Lemma:
    """Derive f′ for the named activation from its definition."""
    cls = ACTIVATION_CLASSES[name]
    definition = cls.definition(x)
    derivative = sp.diff(definition, x)
    if isinstance(definition, sp.Piecewise):
        # d/dx of a piecewise-linear function: already the compact form (0 and 1 or the slope).
        compact = sp.piecewise_fold(derivative)
        if name == "relu":
            compact = sp.Heaviside(x, 0)  # the same function: 1 for x > 0, 0 for x <= 0
        return Lemma(name, definition, derivative, None, compact)
    target_cls = ACTIVATION_CLASSES[cls.derivative_in or name]
    g_of_u = _in_u(target_cls.definition(x))
    # eˣ > 0: take the root that is not a negated expression (tanh gives ±√…)
    u_of_s = sorted(sp.solve(sp.Eq(_s, g_of_u), _u), key=lambda r: bool(r.could_extract_minus_sign()))[0]
    in_s = sp.simplify(_in_u(derivative).subs(_u, u_of_s))
    compact = _tidy(sp.factor(in_s)).subs(_s, target_cls(x))
    return Lemma(name, definition, derivative, sp.Eq(sp.exp(x), u_of_s.subs(_s, target_cls(x))), compact)


def _in_u(expr: sp.Expr) -> sp.Expr:
    return expr.subs(sp.exp(-x), 1 / _u).subs(sp.exp(x), _u)


def _tidy(expr: sp.Expr) -> sp.Expr:
    """The shorter of the factored and expanded forms, signs folded in: s(1 − s), 1 − s²."""
    coeff, factors = sp.factor_list(expr)
    if coeff < 0:
        # fold the sign into the first factor that reads better negated (s − 1 → 1 − s)
        for k, (f, e) in enumerate(factors):
            if e % 2 == 1 and f.could_extract_minus_sign() is False and f != _s:
                factors[k] = (-f, e)
                coeff = -coeff
                break
    factored = coeff * sp.Mul(*(f**e for f, e in factors))
    expanded = sp.expand(expr)
    return expanded if sp.count_ops(expanded) < sp.count_ops(factored) else factored
