"""Loss functions: each one is defined here once, as the term ℓ(ŷⱼ, yⱼ) of one output of one sample.

The error of a sample is the sum of its terms over the outputs, the cost of a batch their mean over the
samples (DESIGN.md): E = (1/m) Σₛ Σⱼ ℓ(ŷⱼ, yⱼ).  The model (scalar form) and the layer form (Σⱼ over a
symbolic width) are both built from the term, so they cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

from symnet.functions.activations import SOFTMAX


@dataclass(frozen=True)
class Loss:
    name: str
    #: ℓ(ŷⱼ, yⱼ), one output's share of one sample's error
    term: Callable[[sp.Expr, sp.Expr], sp.Expr]
    #: what it is called in prose
    title: str
    #: the output activation it needs, if one only (cross-entropy over classes needs the softmax)
    output: str | None = None
    #: whether it needs every prediction strictly inside (0, 1) (it takes log ŷ and log(1 − ŷ))
    unit_interval: bool = False
    #: whether its targets are one-hot, Σⱼ yⱼ = 1 (the softmax + cross-entropy delta uses it)
    one_hot: bool = False

    @property
    def real_targets(self) -> bool:
        """Whether any real number is a valid target (a regression loss)."""
        return not (self.one_hot or self.unit_interval)

    def per_sample(self, yhat: list[sp.Expr], y: list[sp.Expr]) -> sp.Expr:
        """The error of one sample: Σⱼ ℓ(ŷⱼ, yⱼ) over the outputs."""
        return sp.Add(*(self.term(p, t) for p, t in zip(yhat, y)))

    def indexed(self, yhat: sp.IndexedBase, y: sp.IndexedBase, idx: sp.Symbol, n: sp.Expr) -> sp.Expr:
        """The same sum over a symbolic number of outputs n (the layer form)."""
        term = self.term(yhat[idx], y[idx])
        # −Σ y log ŷ, as the articles write a negative sum, not Σ (−y log ŷ)
        return -sp.Sum(-term, (idx, 1, n)) if term.could_extract_minus_sign() else sp.Sum(term, (idx, 1, n))


#: every loss by name
LOSSES: dict[str, Loss] = {}


def register(loss: Loss) -> Loss:
    if not loss.name.isidentifier() or loss.name in LOSSES:
        raise ValueError(f"loss name {loss.name!r} is not a new identifier")
    LOSSES[loss.name] = loss
    return loss


register(Loss("mse", lambda p, t: sp.Rational(1, 2) * (p - t) ** 2, "half the squared error"))
register(Loss("bce", lambda p, t: -(t * sp.log(p) + (1 - t) * sp.log(1 - p)), "binary cross-entropy",
              unit_interval=True))
register(Loss("cce", lambda p, t: -t * sp.log(p), "cross-entropy", output=SOFTMAX, one_hot=True))
