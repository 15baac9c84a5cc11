"""Numerically stable forms of the forward pass and the loss, reached by SymPy rewrites.

The derivation writes ŷⱼ = e^{hⱼ} / Σₗ e^{hₗ} and E = −Σ yⱼ log ŷⱼ, which overflow for logits of size
1e3 when evaluated as written.  A kernel evaluates the *same* expressions after identities that hold
exactly (each is proved symbolically in the tests):

* the softmax total S = Σₗ e^{hₗ} is named through its logarithm, lse = log S, so ŷⱼ = e^{hⱼ − lse} and
  log ŷⱼ = hⱼ − lse (SymPy does the cancelling);
* lse = M + log Σₗ e^{hₗ − M} for any real M; the kernel takes M = maxₗ hₗ so no exponential exceeds 1;
* log σ(z) = −softplus(−z) and log(1 − σ(z)) = −softplus(z), the cross-entropy of a sigmoid from its
  logit; what is left is handed to SymPy's own ``log1p``/``expm1`` rewrites.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from functools import cache

import mpmath
import sympy as sp
from sympy.codegen.rewriting import expm1_opt, log1p_opt, optimize

from symnet.functions.activations import Sigmoid, Softplus

_z = sp.Wild("z")
#: (pattern, replacement): identities of the logistic function used to take logs of it stably
LOG_RULES: tuple[tuple[sp.Expr, sp.Expr], ...] = (
    (sp.log(Sigmoid(_z)), -Softplus(-_z)),
    (sp.log(1 - Sigmoid(_z)), -Softplus(_z)),
)


def softmax_total(definition: sp.Expr) -> sp.Expr:
    """S in a softmax output's definition e^{hⱼ}/S."""
    _, den = sp.fraction(definition)
    return den


def softmax_from_lse(definition: sp.Expr, lse: sp.Symbol) -> sp.Expr:
    """e^{hⱼ}/S rewritten with S = e^{lse}: e^{hⱼ − lse}, at most 1 whatever hⱼ is."""
    total = softmax_total(definition)
    return sp.powsimp(definition.xreplace({total: sp.exp(lse)}))


def shifted_log_sum_exp(total: sp.Expr, shift: sp.Expr) -> sp.Expr:
    """log S for S a sum of exponentials (an Add, or a Sum over an index), shifted by M:
    M + log Σ e^{hₗ − M}, equal to log S for every real M."""
    shifted = total.replace(lambda e: isinstance(e, sp.exp), lambda e: sp.exp(e.args[0] - shift))
    return shift + sp.log(shifted)


def shifted_softmax(definition: sp.Expr, shift: sp.Expr) -> sp.Expr:
    """e^{hⱼ}/Σ e^{hₗ} with every exponential shifted by M: e^{hⱼ − M}/Σ e^{hₗ − M}, equal for every real M."""
    return definition.replace(lambda e: isinstance(e, sp.exp), lambda e: sp.exp(e.args[0] - shift))


def loss_from_logits(loss: sp.Expr, outputs: dict[sp.Expr, sp.Expr]) -> sp.Expr:
    """The per-sample loss with the outputs written in their logits where it takes their logarithm.

    ``outputs`` maps each ŷ (symbol or indexed) to its stable value (e^{h − lse} or σ(h)).  A loss
    without logarithms (mse) keeps ŷ: it is bounded and the kernel has ŷ at hand already.
    """
    if not loss.has(sp.log):
        return loss
    expr = loss.xreplace(outputs)
    for pattern, replacement in LOG_RULES:
        expr = expr.replace(pattern, replacement)
    return optimize(expr, [expm1_opt, log1p_opt])


# -- the complement 1 − ŷ of a softmax output ------------------------------------------------------
# Binary cross-entropy over softmax outputs takes log(1 − ŷⱼ) and divides by 1 − ŷⱼ.  Once a logit leads
# the others by about 37, ŷⱼ rounds to 1 and 1 − ŷⱼ to 0, although the true value, Σ_{l≠j} ŷₗ, is far from
# any underflow.  The kernel names it cⱼ = e^{lse₋ⱼ − lse}, with lse₋ⱼ = log Σ_{l≠j} e^{hₗ} shifted by the
# largest of those logits, and the derivation's expressions are rewritten in it: every 1 − ŷⱼ (and every
# denominator that is a product of them) becomes cⱼ, and log cⱼ becomes lse₋ⱼ − lse.

def in_complements(expr: sp.Expr, complement: Callable[[sp.Expr], sp.Expr | None]) -> sp.Expr:
    """expr with 1 − ŷ written as its complement; ``complement(ŷ)`` gives c for an output ŷ, else None."""
    outputs = [a for a in expr.atoms(sp.Symbol, sp.Indexed) if complement(a) is not None]
    if not outputs:
        return expr
    as_c = {a: 1 - complement(a) for a in outputs}
    back = {complement(a): 1 - a for a in outputs}

    def in_c(e: sp.Expr) -> sp.Expr:
        # ŷ = 1 − c inside the expression, factored: (ŷⱼ − 1)(ŷ_q − 1) → cⱼ c_q; what is not a product of
        # complements is written back in ŷ
        factored = sp.factor(sp.expand(e.xreplace(as_c)))
        return sp.Mul(*(f if f.free_symbols <= set(back) or not f.is_Add else sp.expand(f.xreplace(back))
                        for f in sp.Mul.make_args(factored)))

    def is_complement_sum(e: sp.Expr) -> bool:
        # a polynomial in the outputs alone (1 − ŷⱼ, ŷⱼŷ_q − ŷⱼ − ŷ_q + 1); anything with other quantities
        # in it would be expanded into a sum that cancels
        if not e.is_Add or not e.has(*outputs):
            return False
        factors = (f.base if f.is_Pow else f for term in e.args for f in sp.Mul.make_args(term))
        return all(f.is_Number or f in as_c for f in factors)

    return expr.replace(is_complement_sum, in_c)


def loss_in_complements(loss: sp.Expr, complement: Callable[[sp.Expr], sp.Expr | None],
                        log_complement: Callable[[sp.Expr], sp.Expr]) -> sp.Expr:
    """The loss with log(1 − ŷ) as log cⱼ = lse₋ⱼ − lse (``log_complement(c)``)."""
    expr = in_complements(loss, complement)
    return expr.replace(lambda e: isinstance(e, sp.log) and log_complement(e.args[0]) is not None,
                        lambda e: log_complement(e.args[0]))


def complement_log(h: list[sp.Expr], lse: sp.Expr, p: int) -> sp.Expr:
    """log cₚ = log(1 − ŷₚ) = lse₋ₚ − lse from the logits: the other logits' log-sum-exp, shifted by their
    largest (so that its largest exponential is 1 and the sum never underflows to 0)."""
    others = [x for k, x in enumerate(h) if k != p]
    return shifted_log_sum_exp(sp.Add(*(sp.exp(x) for x in others)), sp.Max(*others)) - lse


def softmax_rule_in_complements(rhs: sp.Expr, j: sp.Symbol, complement: Callable[[sp.Expr], sp.Expr | None]) -> sp.Expr:
    """The layer form's softmax output delta δⱼ = (terms) + Σ_q f(q) with 1 − ŷ as c, and f(j) taken out of
    the sum: the own term and the rest cancel in floating point near saturation, but not once factored
    together (for bce: (ŷⱼ − yⱼ)(1 − ŷⱼ)/cⱼ = ŷⱼ − yⱼ)."""
    terms = sp.Add.make_args(sp.expand(rhs))
    sums = [t for t in terms if t.has(sp.Sum)]
    if not sums:
        return in_complements(rhs, complement)
    limits = next(iter(rhs.atoms(sp.Sum))).limits
    (q, _, _), = limits
    body = sp.S.Zero
    for term in sums:
        (total,) = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.Sum)]
        body += sp.Mul(*(f for f in sp.Mul.make_args(term) if f is not total)) * total.function
    body = sp.factor(body)
    own = sp.factor(sp.Add(*(t for t in terms if not t.has(sp.Sum))) + body.xreplace({q: j}))
    others = sp.Piecewise((in_complements(body, complement), sp.Ne(q, j)), (0, True))
    return in_complements(own, complement) + sp.Sum(others, *limits)


# -- exponentials for whole blocks of a batch ------------------------------------------------------
# A gemm kernel applies its activations to whole (batch × width) blocks.  libm's exp is a call that
# stops LLVM from vectorising those loops, so the gemm layout evaluates e^x by range reduction and a
# polynomial, in straight-line code that LLVM vectorises:
#     e^x = 2^k · e^r,  k = round(x / ln 2),  r = x − k ln 2,  |r| ≤ ln 2 / 2,
# with e^r − 1 from its Taylor polynomial.  The constants are computed here to 50 digits, the degree is
# the smallest whose remainder is below a quarter of an ulp, and the activations' forms in e^x are
# derived from their definitions — nothing below is typed in but the algorithm.
# The polynomial is evaluated in Estrin's form (pairs of terms, then pairs of pairs, with r², r⁴, r⁸): its
# chain of dependent multiply-adds is log₂(degree) long, not degree long as in Horner's form, so the
# vector loop's iterations overlap (e^x − 1: 3.0 → 2.2 ns per element on the AVX2 host of benchmarks/NOTES.md).

_r = sp.Symbol("r", real=True)
UNIT_ROUNDOFF = mpmath.mpf(2) ** -53
#: per dtype: the unit roundoff, the fraction bits ln 2's high part keeps (so that k · ln2_hi is exact for
#: every k of the clamped range: 53 − 32 and 24 − 16 bits are left for k), the clamp of x (beyond it e^x
#: is 0 or ∞ already), and the integer that holds a float's bits with its exponent's bias and position
FORMATS = {
    "float64": dict(roundoff=UNIT_ROUNDOFF, hi_bits=32, lo=-746.0, hi=710.0, int="int64", bias=1023, shift=52),
    "float32": dict(roundoff=mpmath.mpf(2) ** -24, hi_bits=16, lo=-104.0, hi=89.0, int="int32", bias=127, shift=23),
}


@dataclass(frozen=True)
class VectorExp:
    """Constants and polynomial of the branch-free e^x (see the section's comment).

    ``ln2_hi`` keeps 32 fraction bits of ln 2 (16 in float32), so k · ln2_hi is exact for every k of the
    clamped range and r = (x − k·ln2_hi) − k·ln2_lo loses nothing; ``polynomial`` is e^r − 1 in Estrin's
    form in ``r`` and the ``powers`` (r2 = r·r, r4 = r2·r2, …, in the order they are computed); ``bound``
    the Taylor remainder's largest relative size for |r| ≤ ``r_max``; ``lo``, ``hi``, ``int``, ``bias``,
    ``shift``: the dtype's clamp of x and the layout of its bits; ``round``: 1.5·2^shift, the float whose
    sum with an integer-valued k holds k in its lowest bits (k's bits without a float-to-int conversion,
    which AVX2 has no vector instruction for).
    """

    log2e: float
    ln2_hi: float
    ln2_lo: float
    r_max: float
    degree: int
    bound: float
    polynomial: sp.Expr
    powers: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()
    r: sp.Symbol = _r
    lo: float = -746.0
    hi: float = 710.0
    int: str = "int64"
    bias: int = 1023
    shift: int = 52

    @property
    def round(self) -> float:
        return 1.5 * 2.0**self.shift


def estrin(coefficients: list[sp.Expr], x: sp.Symbol) -> tuple[sp.Expr, tuple[tuple[sp.Symbol, sp.Expr], ...]]:
    """Σ cₙ xⁿ in Estrin's form: (c₀ + c₁x) + (c₂ + c₃x)·x² + ((c₄ + c₅x) + (c₆ + c₇x)·x²)·x⁴ + …, with the
    powers x², x⁴, … as symbols of their own, and their definitions in the order they are computed."""
    terms, power, powers = list(coefficients), x, []
    while len(terms) > 1:
        terms = [terms[n] + (terms[n + 1] * power if n + 1 < len(terms) else 0) for n in range(0, len(terms), 2)]
        if len(terms) > 1:
            square = sp.Symbol(f"{x}{2 ** (len(powers) + 1)}", real=True)
            powers.append((square, power * power))
            power = square
    return terms[0], tuple(powers)


@cache
def vector_exp(target: float = 0.25, dtype: str = "float64") -> VectorExp:
    """e^r − 1 to ``target`` ulp of ``dtype`` (Taylor remainder, relative) for |r| ≤ ln 2/2 (+ the rounding of k)."""
    f = FORMATS[dtype]
    with mpmath.workdps(50):
        ln2 = mpmath.log(2)
        ln2_hi = mpmath.floor(ln2 * 2 ** f["hi_bits"]) / 2 ** f["hi_bits"]
        ln2_lo = ln2 - ln2_hi
        r_max = ln2 / 2 * (1 + mpmath.mpf(2) ** -40)
        # |Σ_{n>N} rⁿ/n!| ≤ |r|^{N+1}/(N+1)! · e^{|r|} and |e^r − 1| ≥ |r| e^{−|r|}: relative remainder
        degree, bound = 1, None
        while True:
            bound = r_max**degree / mpmath.factorial(degree + 1) * mpmath.exp(2 * r_max)
            if bound <= target * f["roundoff"]:
                break
            degree += 1
        # e^r − 1 = r·(1 + r/2 + r²/6 + …): the factor r keeps its relative accuracy near r = 0
        quotient, powers = estrin([1 / sp.factorial(n + 1) for n in range(degree)], _r)
        return VectorExp(float(1 / ln2), float(ln2_hi), float(ln2_lo), float(r_max), degree,
                         float(bound), _r * quotient, powers, lo=f["lo"], hi=f["hi"], int=f["int"], bias=f["bias"],
                         shift=f["shift"])
