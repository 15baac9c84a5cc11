"""Activation functions: each one is defined here once, and every other table is built from it.

A definition is a SymPy :class:`Activation` subclass registered with :func:`register`: its name (in
specs, claims and kernels), its definition f(x), its LaTeX and plain-text symbols, the names a claim may
call it by, its initialisation scheme, and — where evaluating the definition as written would overflow
or cancel — a kernel form proved equal to it (σ through e^{−|z|}, tanh through e^{−2|z|} − 1).

Its derivative, the one every chain-rule factor uses, is the result of a :class:`Lemma`: SymPy
differentiates the definition and rewrites the result in terms of the function's own value
(σ′ = σ(1 − σ), tanh′ = 1 − tanh²) or of another activation (softplus′ = σ).  ReLU′(0) = 0 by
convention: its derivative is the Heaviside step H(x) with H(0) = 0, which is also what differentiating
its piecewise definition gives.

Two names are not elementwise functions and are handled by the stages themselves: ``IDENTITY`` (a layer
with no activation) and ``SOFTMAX`` (the output layer's normalised exponential, whose Jacobian is full).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Callable

import mpmath
import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p
from sympy.codegen.rewriting import expm1_opt, log1p_opt, optimize

from symnet.functions.simplest import shortest

x = sp.Symbol("x", real=True)
_u = sp.Symbol("u", positive=True)  # u = eˣ, the substitution that turns exponentials into algebra
_s = sp.Symbol("s", real=True)  # the value f(x) that the compact derivative is written in
_w = sp.Symbol("w", positive=True)

IDENTITY = "identity"
SOFTMAX = "softmax"
#: the symbols of the two activations that are not Activation classes
_SPECIAL_LATEX = {IDENTITY: r"\operatorname{id}", SOFTMAX: r"\operatorname{softmax}"}
_SPECIAL_GLYPH = {IDENTITY: "id", SOFTMAX: "softmax"}


class Activation(sp.Function):
    """An elementwise activation f; a subclass gives ``name``, ``latex_name`` and ``definition``."""

    nargs = 1
    name: str = ""
    latex_name: str = ""
    #: how diagnoses write it in plain text (σ for the sigmoid)
    glyph: str = ""
    #: further names a claim may call it by (text and LaTeX: ``sigma``, ``lrelu``)
    claim_names: tuple[str, ...] = ()
    #: the activation the compact derivative is written in, when not the function itself
    derivative_in: str | None = None
    #: weight initialisation for layers with this activation: "he" (ReLU-like) or "glorot"
    init: str = "glorot"
    #: whether f maps every real number into (0, 1) (what binary cross-entropy needs of an output)
    unit_interval: bool = False
    #: whether it was defined by a formula (symnet.functions.formula), and that definition's text
    defined: bool = False
    source: str = ""

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        raise NotImplementedError

    @classmethod
    def kernel_form(cls, arg: sp.Expr) -> sp.Expr:
        """f(arg) as kernels and NumPy evaluate it: the definition unless overflow needs another form."""
        return cls.definition(arg)

    @classmethod
    def kinked(cls) -> bool:
        """Whether f is defined piecewise, so not smooth at its break (ReLU′ jumps at 0, ELU″ does):
        finite differences across it measure neither side, and samples keep away from it."""
        return isinstance(cls.definition(x), sp.Piecewise)

    @classmethod
    @cache
    def numpy_function(cls) -> Callable[[np.ndarray], np.ndarray]:
        """f on NumPy arrays, from the kernel form (no overflow warnings: both branches are evaluated)."""
        f = sp.lambdify(x, inline(cls.kernel_form(x), kernel=True), "numpy")

        def evaluate(v: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore", invalid="ignore"):
                return f(np.asarray(v, dtype=float))

        return evaluate

    @classmethod
    @cache
    def mpmath_function(cls) -> Callable[[mpmath.mpf], mpmath.mpf]:
        """f in mpmath's arbitrary precision, from the definition (log(1 + eˣ) as log1p, so it keeps
        its digits for very negative x)."""
        if cls.defined:  # a formula as written (optimize can take minutes on a large one)
            return sp.lambdify(x, inline(cls.definition(x)), "mpmath")
        return sp.lambdify(x, optimize(cls.definition(x), [log1p_opt, expm1_opt]), "mpmath")

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


#: every elementwise activation by name, in the order they were registered
ACTIVATION_CLASSES: dict[str, type[Activation]] = {}


def register(cls: type[Activation]) -> type[Activation]:
    """Make an activation known to every stage (spec, derivation, write-up, kernels, claims)."""
    if not cls.name.isidentifier() or cls.name in ACTIVATION_CLASSES or cls.name in (IDENTITY, SOFTMAX):
        raise ValueError(f"activation name {cls.name!r} is not a new identifier")
    ACTIVATION_CLASSES[cls.name] = cls
    return cls


def names(hidden: bool = False) -> tuple[str, ...]:
    """The activation names a spec may use: every registered one, identity, and (outputs only) softmax."""
    return (*ACTIVATION_CLASSES, IDENTITY) + (() if hidden else (SOFTMAX,))


def latex_name(name: str) -> str:
    return ACTIVATION_CLASSES[name].latex_name if name in ACTIVATION_CLASSES else _SPECIAL_LATEX[name]


def glyph(name: str) -> str:
    cls = ACTIVATION_CLASSES.get(name)
    return (cls.glyph or cls.name) if cls else _SPECIAL_GLYPH[name]


def unit_interval(name: str) -> bool:
    """Whether the activation's every value lies in (0, 1)."""
    return name == SOFTMAX or (name in ACTIVATION_CLASSES and ACTIVATION_CLASSES[name].unit_interval)


def init_scheme(name: str) -> str:
    return ACTIVATION_CLASSES[name].init if name in ACTIVATION_CLASSES else "glorot"


def is_kinked(name: str) -> bool:
    return name in ACTIVATION_CLASSES and ACTIVATION_CLASSES[name].kinked()


def claim_functions() -> dict[str, type[Activation]]:
    """Every name a claim may call an activation by."""
    out: dict[str, type[Activation]] = {}
    for cls in ACTIVATION_CLASSES.values():
        out.update(dict.fromkeys((cls.name, *cls.claim_names), cls))
    return out


def apply(name: str, arg: sp.Expr) -> sp.Expr:
    """f(arg) for an elementwise activation name; identity is the argument itself."""
    if name == IDENTITY:
        return arg
    return ACTIVATION_CLASSES[name](arg)


def expand_definitions(expr: sp.Expr) -> sp.Expr:
    """Replace every activation by its definition (σ(h) → 1/(1 + e⁻ʰ))."""
    return expr.replace(lambda e: isinstance(e, Activation), lambda e: e.expand_definition())


def inline(expr: sp.Expr, kernel: bool = False) -> sp.Expr:
    """expr with every activation replaced by its definition (or kernel form), repeatedly: a defined
    activation's formula may call others (swish(x) = x*sigmoid(x))."""
    while expr.has(Activation):
        expr = expr.replace(lambda e: isinstance(e, Activation),
                            lambda e: (type(e).kernel_form if kernel else type(e).definition)(e.args[0]))
    return expr


def numpy_functions() -> dict[str, object]:
    """The namespace that ``lambdify`` needs to evaluate expressions containing activations."""
    return {cls.__name__: cls.numpy_function() for cls in ACTIVATION_CLASSES.values()}


# -- forms that do not overflow, each an identity SymPy proves (tests/functions) -----------------------
def odd_from_nonnegative(f: sp.FunctionClass, z: sp.Expr, value: sp.Expr) -> sp.Expr:
    """f(z) from ``value`` = f(|z|) for an odd f (the oddness is SymPy's: f(−w) → −f(w))."""
    negative = f(-_w).subs(f(_w), value)
    return sp.Piecewise((value, z >= 0), (negative, True))


def tanh_from_expm1(m: sp.Expr) -> sp.Expr:
    """tanh z for z ≥ 0 in m = e^{−2z} − 1, which has no cancellation near 0: from tanh's definition
    with w = e^{−2z}, then w = 1 + m."""
    z = sp.Symbol("z", real=True)
    t = sp.tanh(z).rewrite(sp.exp)
    in_w = sp.simplify(t.subs(z, -sp.log(_w) / 2))
    return sp.factor(sp.simplify(in_w.subs(_w, 1 + m)))


def logistic_from_exp(e: sp.Expr, z: sp.Expr) -> sp.Expr:
    """1/(1 + e^{−z}) in e = e^{−|z|} ≤ 1 (never overflows): the definition with z = −log e for
    z ≥ 0 and z = log e for z < 0."""
    t = sp.Symbol("t", real=True)
    definition = 1 / (1 + sp.exp(-t))
    nonnegative = sp.simplify(definition.subs(t, -sp.log(_w))).subs(_w, e)
    negative = sp.simplify(definition.subs(t, sp.log(_w))).subs(_w, e)
    return sp.Piecewise((nonnegative, z >= 0), (negative, True))


# -- the activations ---------------------------------------------------------------------------------
@register
class Sigmoid(Activation):
    name, latex_name, glyph, claim_names, unit_interval = "sigmoid", r"\sigma", "σ", ("sigma",), True

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        return 1 / (1 + sp.exp(-arg))

    @classmethod
    def kernel_form(cls, arg: sp.Expr) -> sp.Expr:
        return logistic_from_exp(sp.exp(-sp.Abs(arg)), arg)

    def _eval_is_positive(self) -> bool | None:
        return self.args[0].is_real

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        return f"sigma({printer._print(self.args[0])})"


@register
class Tanh(Activation):
    name, latex_name = "tanh", r"\tanh"

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        return (sp.exp(arg) - sp.exp(-arg)) / (sp.exp(arg) + sp.exp(-arg))

    @classmethod
    def kernel_form(cls, arg: sp.Expr) -> sp.Expr:
        # one e^{−2|z|} − 1 instead of libm's tanh, which costs three times as much
        return odd_from_nonnegative(sp.tanh, arg, tanh_from_expm1(expm1(-2 * sp.Abs(arg))))


@register
class Softplus(Activation):
    name, latex_name, derivative_in, init = "softplus", r"\operatorname{softplus}", "sigmoid", "he"

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        return sp.log(1 + sp.exp(arg))

    @classmethod
    def kernel_form(cls, arg: sp.Expr) -> sp.Expr:
        # log(1 + eᶻ) = max(z, 0) + log(1 + e^{−|z|}): never overflows
        return sp.Max(arg, 0) + log1p(sp.exp(-sp.Abs(arg)))


@register
class ReLU(Activation):
    name, latex_name, glyph, init = "relu", r"\operatorname{ReLU}", "ReLU", "he"

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        # x > 0 strictly: the derivative of this definition is 0 at x = 0, the convention we document
        return sp.Piecewise((arg, arg > 0), (0, True))


@register
class LeakyReLU(Activation):
    name, latex_name, glyph, init = "leaky_relu", r"\operatorname{LReLU}", "LReLU", "he"
    claim_names = ("lrelu", "leakyrelu")
    slope = sp.Rational(1, 100)

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        return sp.Piecewise((arg, arg > 0), (cls.slope * arg, True))


@register
class ELU(Activation):
    name, latex_name, glyph, init = "elu", r"\operatorname{ELU}", "ELU", "he"

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        return sp.Piecewise((arg, arg > 0), (sp.exp(arg) - 1, True))

    @classmethod
    def kernel_form(cls, arg: sp.Expr) -> sp.Expr:
        # eᶻ − 1 loses every digit near 0⁻ when computed as written
        return sp.Piecewise((arg, arg > 0), (expm1(arg), True))


@register
class SiLU(Activation):
    name, latex_name, glyph, derivative_in, init = "silu", r"\operatorname{SiLU}", "SiLU", "sigmoid", "he"
    claim_names = ("swish",)

    @classmethod
    def definition(cls, arg: sp.Expr) -> sp.Expr:
        return arg / (1 + sp.exp(-arg))

    @classmethod
    def kernel_form(cls, arg: sp.Expr) -> sp.Expr:
        return arg * Sigmoid.kernel_form(arg)


# -- the derivative lemma ----------------------------------------------------------------------------
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


@cache
def lemma(name: str) -> Lemma:
    """Derive f′ for the named activation from its definition."""
    cls = ACTIVATION_CLASSES[name]
    definition = cls.definition(x)
    derivative = sp.diff(definition, x)
    if isinstance(definition, sp.Piecewise):
        # d/dx of a piecewise function: already compact (0 and 1, the slope, eˣ)
        compact = sp.piecewise_fold(derivative)
        if compact == sp.Piecewise((1, x > 0), (0, True)):
            compact = sp.Heaviside(x, 0)  # the same function: 1 for x > 0, 0 for x <= 0
        return Lemma(name, definition, derivative, None, compact)
    if not definition.has(sp.exp):
        # nothing to substitute: the derivative as SymPy gives it is the compact form
        return Lemma(name, definition, derivative, None, shortest(derivative, sp.factor(derivative)))
    target_cls = ACTIVATION_CLASSES[cls.derivative_in or name]
    g_of_u = _in_u(target_cls.definition(x))
    roots = []
    if not cls.defined:
        roots = sp.solve(sp.Eq(_s, g_of_u), _u)
    elif _solvable(g_of_u):
        try:
            roots = sp.solve(sp.Eq(_s, g_of_u), _u)
        except NotImplementedError:
            roots = []
    if not roots:
        # a defined activation whose definition is not a function of eˣ alone: the raw derivative
        return Lemma(name, definition, derivative, None, shortest(derivative, sp.factor(derivative)))
    # eˣ > 0: take the root that is not a negated expression (tanh gives ±√…)
    u_of_s = sorted(roots, key=lambda r: bool(r.could_extract_minus_sign()))[0]
    in_s = sp.simplify(_in_u(derivative).subs(_u, u_of_s))
    compact = _tidy(sp.factor(in_s)).subs(_s, target_cls(x))
    return Lemma(name, definition, derivative, sp.Eq(sp.exp(x), u_of_s.subs(_s, target_cls(x))), compact)


def _solvable(g_of_u: sp.Expr) -> bool:
    """Whether s = g(u) can be solved for u = eˣ: g is a rational function of u alone."""
    return g_of_u.free_symbols == {_u} and g_of_u.is_rational_function(_u)


def _in_u(expr: sp.Expr) -> sp.Expr:
    return expr.subs(sp.exp(-x), 1 / _u).subs(sp.exp(x), _u)


def _tidy(expr: sp.Expr) -> sp.Expr:
    """The shorter of the factored and expanded forms, signs folded in: s(1 − s), 1 − s²."""
    coeff, factors = sp.factor_list(expr)
    if coeff < 0:
        # fold the sign into the first factor that reads better negated (s − 1 → 1 − s)
        odd = [k for k, (f, e) in enumerate(factors) if e % 2 == 1 and f != _s]
        preferred = [k for k in odd if factors[k][0].could_extract_minus_sign() is False]
        for k in (preferred or odd)[:1]:
            factors[k] = (-factors[k][0], factors[k][1])
            coeff = -coeff
    return shortest(coeff * sp.Mul(*(f**e for f, e in factors)), sp.expand(expr))
