"""Nodes that combine others: a sum ``N + M`` (a residual, or skip, connection) and ``concat(N, M, …)``."""
from __future__ import annotations

from typing import Sequence

import sympy as sp

from symnet.functions.layers.base import Layer, LayerError, Node, Segment, register


class Add(Layer):
    """``N + M``: sⱼ = nⱼ + mⱼ, two nodes of the same width (the skip of a residual network)."""

    name = "add"
    arity = 2
    stem = "add"
    title = "sum"
    sign = "+"
    lesson = ("A sum's derivative by each of its inputs is 1, so it hands the derivative from above to both inputs "
              "unchanged.  That is what a skip (residual) connection does to back-propagation: the input it "
              "skips gets the derivative from above once through the layer it skips and once more directly, "
              "a 1 added to its local derivative, so the gradient reaches the lower layers even where the "
              "layer in between would shrink it.")

    def width(self, node: Node, widths: Sequence[int]) -> int:
        a, b = widths
        if a != b:
            raise LayerError(f"node {node.name}: {node.inputs[0]} + {node.inputs[1]} adds {a} units to {b}; a sum needs "
                             f"two nodes of the same width (give the dense layer before it {b} units, or project "
                             f"{node.inputs[0]} with dense({node.inputs[0]}, {b}))")
        return a

    def equal_widths(self, node: Node, widths: Sequence[sp.Expr]) -> list[tuple[sp.Expr, sp.Expr]]:
        return [(widths[0], widths[1])]  # h⁽²⁾ + a⁽¹⁾: n2 is n1

    def scalar(self, node: Node, inputs: Sequence[Sequence[sp.Expr]], params: dict[str, list]) -> list[sp.Expr]:
        return [u + v for u, v in zip(*inputs)]

    def indexed(self, node: Node, inputs: Sequence[sp.IndexedBase], params: dict[str, object],
                widths: Sequence[sp.Expr], j: sp.Symbol) -> sp.Expr:
        return inputs[0][j] + inputs[1][j]

    def describe(self, node: Node) -> str:
        return f"{node.inputs[0]} + {node.inputs[1]}"


class Concat(Layer):
    """``concat(N, M, …)``: the units of N, then those of M, … (one vector, in that order)."""

    name = "concat"
    arity = None
    stem = "concat"
    title = "concatenation"
    lesson = ("A concatenation places its inputs' units one after another, so each input receives the block of "
              "the derivative that belongs to its own units, and nothing of the others'.")

    def width(self, node: Node, widths: Sequence[int]) -> int:
        return sum(widths)

    def width_expr(self, node: Node, widths: Sequence[sp.Expr]) -> sp.Expr:
        return sp.Add(*widths)

    def scalar(self, node: Node, inputs: Sequence[Sequence[sp.Expr]], params: dict[str, list]) -> list[sp.Expr]:
        return [u for part in inputs for u in part]

    def segments(self, node: Node, inputs: Sequence[sp.IndexedBase], params: dict[str, object],
                 widths: Sequence[sp.Expr], j: sp.Symbol) -> list[Segment]:
        out, offset = [], sp.S.Zero
        for part, n in zip(inputs, widths):
            out.append(Segment(offset, n, part[j], j))
            offset += n
        return out


ADD = register(Add())
CONCAT = register(Concat())
