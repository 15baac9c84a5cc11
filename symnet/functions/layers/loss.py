"""A loss as the graph's last node: E = Σⱼ ℓ(ŷⱼ, yⱼ) of one sample, for every loss of
:mod:`symnet.functions.losses` (built in or ``--define``d)."""
from __future__ import annotations

from functools import cache
from typing import Sequence

import sympy as sp

from symnet.functions.layers.base import Layer, Node
from symnet.functions.layers.indices import q
from symnet.functions.losses import LABELS, LOSSES, REDUCTION


class LossLayer(Layer):
    """``cce(yhat, y)``: the prediction node, then the target ``y``; its value is the sample's error E."""

    arity = 2
    is_loss = True
    title = "loss"
    lesson = ("The loss is where the backward pass starts: its derivative by each prediction is the first upstream "
              "factor, which every node below multiplies by its own local derivative.")

    def __init__(self, loss: str):
        self.name = loss
        self.stem = "E"
        self.options = (*LOSSES[loss].options, REDUCTION, *([LABELS] if LOSSES[loss].one_hot else []))
        if LOSSES[loss].note:
            self.lesson = f"{self.lesson} {LOSSES[loss].note}"

    @property
    def loss(self):
        return LOSSES[self.name]

    def width(self, node: Node, widths: Sequence[int]) -> int:
        return 1

    def scalar(self, node: Node, inputs: Sequence[Sequence[sp.Expr]], params: dict[str, list]) -> list[sp.Expr]:
        yhat, y = inputs
        return [self.loss.per_sample(list(yhat), list(y), **dict(node.options))]

    def indexed(self, node: Node, inputs: Sequence[sp.IndexedBase], params: dict[str, object],
                widths: Sequence[sp.Expr], j: sp.Symbol) -> sp.Expr:
        yhat, y = inputs
        return self.loss.indexed(yhat, y, q, widths[0], **dict(node.options))

    def width_expr(self, node: Node, widths: Sequence[sp.Expr]) -> sp.Expr:
        return sp.S.One


@cache
def loss_layer(name: str) -> LossLayer:
    return LossLayer(name)
