"""Loss functions: each one is defined here once, as the term ℓ(ŷⱼ, yⱼ) of one output of one sample.

The error of a sample is the sum of its terms over the outputs, the cost of a batch their mean over the
samples (DESIGN.md): E = (1/m) Σₛ Σⱼ ℓ(ŷⱼ, yⱼ).  The model (scalar form) and the layer form (Σⱼ over a
symbolic width) are both built from the term, so they cannot disagree.  A term may also read what the
whole sample gives it (:class:`Sample`): the number of outputs (label smoothing spreads ε over them), the
prediction at the target class (the multiclass hinge compares every score with it), and the loss's
options (a graph spec's ``focal(yhat, y, gamma=3)``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import sympy as sp

from symnet.functions.activations import SOFTMAX, ReLU
from symnet.functions.options import Option, one_of


@dataclass(frozen=True)
class Sample:
    """What one output's term may read of its sample: ``n`` outputs, ``picked`` = Σₖ yₖŷₖ (the prediction at a
    one-hot target's class), and the loss's options by name (a number as an exact SymPy number, a flag as
    Python's bool, a word as itself)."""

    n: sp.Expr
    picked: sp.Expr
    options: Mapping[str, object]

    def __getitem__(self, name: str) -> object:
        return self.options[name]


def _exact(value: object) -> object:
    """0.1 as 1/10, so that a write-up prints the number the spec gave; a flag or a word as it is."""
    return value if isinstance(value, (bool, str)) else sp.Rational(repr(float(value)))


@dataclass(frozen=True)
class Loss:
    name: str
    #: ℓ(ŷⱼ, yⱼ), one output's share of one sample's error, given what the sample gives it
    definition: Callable[[sp.Expr, sp.Expr, Sample], sp.Expr]
    #: what it is called in prose
    title: str
    #: the output activation it needs, if one only (cross-entropy over classes needs the softmax)
    output: str | None = None
    #: whether it needs every prediction strictly inside (0, 1) (it takes log ŷ and log(1 − ŷ))
    unit_interval: bool = False
    #: whether its targets are one-hot, Σⱼ yⱼ = 1 (the softmax + cross-entropy delta uses it)
    one_hot: bool = False
    #: whether its value is the negative log-likelihood of the true class (cross-entropy over classes)
    likelihood: bool = False
    #: its keywords in a graph spec (``gamma=2``), each with its default
    options: tuple[Option, ...] = ()
    #: what it teaches and which course or library writes it so (the write-up's prose)
    note: str = ""

    @property
    def real_targets(self) -> bool:
        """Whether any real number is a valid target (a regression loss)."""
        return not (self.one_hot or self.unit_interval)

    def term(self, p: sp.Expr, t: sp.Expr, at: Sample | None = None) -> sp.Expr:
        """ℓ(p, t) of one output; without ``at``, in a sample of n outputs whose target class's prediction is
        s_y, with the default options."""
        return self.definition(p, t, at or self.sample(sp.Symbol("n", integer=True, positive=True),
                                                       sp.Symbol("s_y", real=True), {}))

    def defaults(self) -> dict[str, object]:
        """The term's options at their defaults (not the batch's ``reduction``)."""
        return {o.name: o.default for o in self.options}

    def sample(self, n: sp.Expr, picked: sp.Expr, options: Mapping[str, object]) -> Sample:
        """What each term reads of a sample of ``n`` outputs, the options filled in with their defaults."""
        values = {**self.defaults(), **{k: v for k, v in options.items() if k in self.defaults()}}
        return Sample(n, picked, {k: _exact(v) for k, v in values.items()})

    def per_sample(self, yhat: list[sp.Expr], y: list[sp.Expr], **options: object) -> sp.Expr:
        """The error of one sample: Σⱼ ℓ(ŷⱼ, yⱼ) over the outputs."""
        at = self.sample(sp.Integer(len(yhat)), sp.Add(*(t * p for p, t in zip(yhat, y))), options)
        return sp.Add(*(self.term(p, t, at) for p, t in zip(yhat, y)))

    def indexed(self, yhat: sp.IndexedBase, y: sp.IndexedBase, idx: sp.Symbol, n: sp.Expr,
                inner: sp.Symbol = sp.Symbol("l", integer=True, positive=True), **options: object) -> sp.Expr:
        """The same sum over a symbolic number of outputs n (the layer form); ``inner`` indexes the sum in
        the prediction at the target (l, the index form's own for a sum beside q's)."""
        at = self.sample(n, sp.Sum(y[inner] * yhat[inner], (inner, 1, n)), options)
        term = self.term(yhat[idx], y[idx], at)
        # −Σ y log ŷ, as the articles write a negative sum, not Σ (−y log ŷ)
        return -sp.Sum(-term, (idx, 1, n)) if term.could_extract_minus_sign() else sp.Sum(term, (idx, 1, n))


#: how a batch's cost gathers its samples' errors: their mean (E = (1/m) Σₛ Eₛ, the default, as PyTorch's
#: reduction="mean", Nielsen's C = (1/n) Σₓ Cₓ) or their sum (E = Σₛ Eₛ, Welch's; PyTorch's reduction="sum")
REDUCTIONS = ("mean", "sum")
REDUCTION = Option("reduction", "mean", str, one_of(*REDUCTIONS),
                   "how the batch's cost gathers the samples' errors: their mean or their sum")

#: how the targets of a one-hot loss are written where people's code reads them (``check-code``): one-hot
#: rows, or each sample's class as an integer 0 … n − 1 (CS231n's ``y``, scikit-learn's; the derivation is the same)
LABEL_FORMS = ("onehot", "int")
LABELS = Option("labels", "onehot", str, one_of(*LABEL_FORMS),
                "the targets as one-hot rows, or as each sample's class index 0 … n − 1")

#: every loss by name
LOSSES: dict[str, Loss] = {}


def register(loss: Loss) -> Loss:
    if not loss.name.isidentifier() or loss.name in LOSSES:
        raise ValueError(f"loss name {loss.name!r} is not a new identifier")
    LOSSES[loss.name] = loss
    return loss


def _unit(value: object) -> str | None:
    return None if 0 <= value < 1 else "must be at least 0 and below 1 (the share ε spread over the classes)"


def _focusing(value: object) -> str | None:
    # Lin et al. try γ from 0 to 5; a whole γ is multiplied out in the derivative, whose terms then cancel in
    # floating point as γ grows (γ = 30 fails gradcheck in float32)
    return None if 0 <= value <= 5 else "must be a number from 0 to 5 (Lin et al. use 2)"


def _positive(value: object) -> str | None:
    return None if 0 < value <= 1e3 else "must be a number above 0 (at most 1000)"


register(Loss("mse", lambda p, t, at: (sp.Rational(1, 2) if at["half"] else 1) * (p - t) ** 2
              / (at.n if at["outputs"] == "mean" else 1), "half the squared error",
              options=(Option("half", True, bool, help="the ½ in front: ½(ŷ − y)² (the articles'), or (ŷ − y)²"),
                       Option("outputs", "sum", str, one_of("sum", "mean"),
                              "over a sample's outputs: their sum, or their mean (Keras's and PyTorch's MSE)")),
              note="Without the half and averaged over the outputs, with the batch's mean, it is PyTorch's "
                   "MSELoss and Keras's mean_squared_error; the articles keep the half and sum the outputs."))
register(Loss("bce", lambda p, t, at: -(t * sp.log(p) + (1 - t) * sp.log(1 - p)), "binary cross-entropy",
              unit_interval=True))
register(Loss("cce", lambda p, t, at: -((1 - at["smoothing"]) * t + at["smoothing"] / at.n) * sp.log(p),
              "cross-entropy", output=SOFTMAX, one_hot=True, likelihood=True,
              options=(Option("smoothing", 0.0, float, _unit, "label smoothing ε: the target (1 − ε)y + ε/n"),),
              note="With smoothing the target moves a share of its weight evenly onto every class (Szegedy et al.'s "
                   "label smoothing, PyTorch's label_smoothing); the smoothed target still sums to one, so the "
                   "softmax's delta is still the prediction minus the target."))
register(Loss("focal", lambda p, t, at: -t * (1 - p) ** at["gamma"] * sp.log(p), "focal loss",
              output=SOFTMAX, one_hot=True,
              options=(Option("gamma", 2.0, float, _focusing, "the focusing power γ: −y(1 − ŷ)^γ log ŷ"),),
              note="The focal loss (Lin et al., RetinaNet) weighs each class's cross-entropy by a power of one "
                   "minus its prediction, so the examples the net already gets right count less; a power of zero "
                   "is the cross-entropy."))
# Σ over every class, less the true class's own term (its score against itself pays exactly Δ): the sum over
# the wrong classes of CS231n for a one-hot target, whose delta SymPy then leaves in two terms, not four
register(Loss("hinge", lambda p, t, at: ReLU(p - at.picked + at["margin"]) - at["margin"] * t, "multiclass hinge loss",
              one_hot=True,
              options=(Option("margin", 1.0, float, _positive, "the margin Δ: Σ_{j≠y} max(0, ŷⱼ − ŷ_y + Δ)"),),
              note="The multiclass SVM loss of CS231n: every wrong class whose score comes within the margin of the "
                   "true class's pays the gap, so its derivative is a step: one for each such class, and minus their "
                   "count for the true class. It is written here as the sum over every class less the true class's own "
                   "term, which is exactly the margin. The scores are the last dense layer's outputs, with no softmax."))
