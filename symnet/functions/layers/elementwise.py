"""An element-wise activation as a node: aⱼ = f(hⱼ), for every activation registered in
:mod:`symnet.functions.activations` (built in or ``--define``d), and the identity."""
from __future__ import annotations

from functools import cache
from typing import Sequence

import sympy as sp

from symnet.functions.activations import ACTIVATION_CLASSES, IDENTITY, apply
from symnet.functions.layers.base import Layer, Node


class Elementwise(Layer):
    """f applied to every unit of one input: the node named by the activation (``relu(h1)``)."""

    elementwise = True
    title = "activation"
    lesson = ("An activation applies its function to each unit alone, so a unit's derivative by another unit is 0: "
              "each input's derivative is its own unit's derivative from above times the function's derivative "
              "there, written in the activation's own output where its lemma allows.")

    def __init__(self, activation: str):
        self.name = activation
        self.stem = activation

    def scalar(self, node: Node, inputs: Sequence[Sequence[sp.Expr]], params: dict[str, list]) -> list[sp.Expr]:
        return [apply(self.name, h) for h in inputs[0]]

    def indexed(self, node: Node, inputs: Sequence[sp.IndexedBase], params: dict[str, object],
                widths: Sequence[sp.Expr], j: sp.Symbol) -> sp.Expr:
        return apply(self.name, inputs[0][j])

    def named(self, expr: sp.Expr, node: Node, inputs: Sequence[sp.IndexedBase], out: sp.IndexedBase,
              widths: Sequence[sp.Expr]) -> sp.Expr:
        if self.name == IDENTITY:
            return expr
        cls, h = ACTIVATION_CLASSES[self.name], inputs[0]
        return expr.replace(lambda e: isinstance(e, cls) and isinstance(e.args[0], sp.Indexed) and e.args[0].base == h,
                            lambda e: out[e.args[0].indices])


@cache
def elementwise(name: str) -> Elementwise:
    """The node kind of an activation (one per name, made on first use: a defined one is a kind at once)."""
    return Elementwise(name)
