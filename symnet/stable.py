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

import sympy as sp
from sympy.codegen.rewriting import expm1_opt, log1p_opt, optimize

from .activations import Sigmoid, Softplus

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
