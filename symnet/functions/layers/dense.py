"""The dense layer: h = a·W + b, h⁽ᵏ⁾ⱼ = Σᵢ W⁽ᵏ⁾ᵢⱼ aᵢ + b⁽ᵏ⁾ⱼ (the articles' weighted sum)."""
from __future__ import annotations

from typing import Sequence

import sympy as sp

from symnet.functions.layers.base import Layer, LayerError, Node, Option, Param, Tie, Transposed, register
from symnet.functions.layers.indices import i, width

#: the roles of a dense layer's parameters: the weight matrix and the bias vector
WEIGHT, BIAS = "W", "b"
#: the widest layer a spec may have: a weight matrix between two such layers is already 8 TB
MAX_UNITS = 1_000_000


def _units(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_UNITS:
        return f"must be a whole number of units from 1 to {MAX_UNITS:,}"
    return None


class Dense(Layer):
    name = "dense"
    numbered = "layer"
    stem = "h"
    title = "dense layer"
    positional = ("units",)
    lesson = ("A dense layer's unit j sums every input through its weight, so each input's derivative sums over "
              "the layer's units, each unit's delta times the weight that joins them; a weight's own local "
              "derivative is the input it multiplies, and a bias's is 1.")
    options = (
        Option("units", None, int, _units, "the number of units"),
        Option("bias", True, bool, help="whether it adds a bias b (bias=false: h = a·W)"),
        Option("W", None, Tie, help="W=W1.T: the weight of another dense layer (transposed), tied to it"),
    )

    def width(self, node: Node, widths: Sequence[int]) -> int:
        return int(node.option("units"))

    def parameters(self, node: Node, widths: Sequence[int]) -> list[Param]:
        k, units = node.number, int(node.option("units"))
        own = [] if node.option("W") is not None else [Param(f"{WEIGHT}{k}", WEIGHT, (widths[0], units), True, (widths[0], units))]
        return own + ([Param(f"{BIAS}{k}", BIAS, (units,), False)] if node.option("bias") else [])

    def reads(self, node: Node) -> dict[str, str | Tie]:
        tie = node.option("W")
        out: dict[str, str | Tie] = {"W": tie if tie is not None else f"W{node.number}"}
        if node.option("bias"):
            out["b"] = f"b{node.number}"
        return out

    def check_tie(self, node: Node, n_in: int, shape: tuple[int, ...]) -> None:
        """A tie's matrix, read as the tie says, must be this layer's (n_in, units)."""
        tie: Tie = node.option("W")
        read = tuple(reversed(shape)) if tie.transposed else tuple(shape)
        want = (n_in, int(node.option("units")))
        if read != want:
            hint = f" (write W={tie.param}.T)" if tuple(reversed(read)) == want and not tie.transposed else (
                f" (write W={tie.param})" if tuple(reversed(read)) == want else "")
            raise LayerError(f"node {node.name}: W={tie} is {read[0]}×{read[1]} but the layer needs a {want[0]}×{want[1]} "
                             f"weight ({n_in} inputs, {want[1]} units){hint}")

    def scalar(self, node: Node, inputs: Sequence[Sequence[sp.Expr]], params: dict[str, list]) -> list[sp.Expr]:
        (a,), W = inputs, params["W"]
        out = []
        for j in range(int(node.option("units"))):
            # unevaluated: SymPy's canonical sorting of a 784-term sum costs seconds per layer and would
            # print h = x₁W₁₁ + … instead of the articles' W₁₁x₁ + W₂₁x₂ + b
            terms = [sp.Mul(W[n][j], a[n], evaluate=False) for n in range(len(a))]
            if "b" in params:
                terms.append(params["b"][j])
            out.append(sp.Add(*terms, evaluate=False))
        return out

    def indexed(self, node: Node, inputs: Sequence[sp.IndexedBase], params: dict[str, object],
                widths: Sequence[sp.Expr], j: sp.Symbol) -> sp.Expr:
        (a,), W = inputs, params["W"]
        h = sp.Sum(W[i, j] * a[i], (i, 1, widths[0]))
        return h + params["b"][j] if "b" in params else h

    def width_expr(self, node: Node, widths: Sequence[sp.Expr]) -> sp.Expr:
        return width(node.number)


DENSE = register(Dense())

__all__ = ["DENSE", "Dense", "MAX_UNITS", "Transposed"]
