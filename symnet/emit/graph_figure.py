"""The computational graph as a figure, in no output language: where each node sits and what each edge
carries, for the LaTeX write-up (TikZ) and the web page (SVG) alike.

A node's column is its depth (the longest path from x), so every edge points right; nodes of one column
stack in rows.  An edge that skips columns (a skip connection's) is drawn as an arc above the others.  Each
edge is labelled with its local derivative as the derivation has it: the factor the node's pullback
multiplies ∂E/∂(node) by (1 for a sum, f′ for an activation), or the weight matrix a dense layer's sum runs
through.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symnet.derivation.rules import GraphRules
from symnet.functions.layers import DENSE, Tie, kind
from symnet.functions.layers.indices import p
from symnet.spec import Graph
from symnet.spec.graph import INPUT


@dataclass(frozen=True)
class FigureNode:
    key: str
    column: int
    row: int
    #: the node's vector (𝐡⁽¹⁾, 𝐚⁽¹⁾, 𝐲̂, 𝐱) or E; None for an operation drawn as its sign (+)
    symbol: sp.Basic | None
    #: its kind as a word under it (dense, relu, softmax), or the sign of an operation (+)
    caption: str
    op: str | None = None
    loss: bool = False


@dataclass(frozen=True)
class FigureEdge:
    src: str
    dst: str
    #: the local derivative the edge carries back, or None where it is no single factor (a full Jacobian)
    local: sp.Basic | None
    #: whether it skips columns (drawn as an arc)
    skip: bool


@dataclass(frozen=True)
class GraphFigure:
    nodes: tuple[FigureNode, ...]
    edges: tuple[FigureEdge, ...]

    @property
    def columns(self) -> int:
        return 1 + max(n.column for n in self.nodes)

    @property
    def rows(self) -> int:
        return 1 + max(n.row for n in self.nodes)


def graph_figure(graph: Graph, rules: GraphRules) -> GraphFigure:
    """The figure of ``graph``: x, then every node in order (the loss as E), and an edge per input."""
    column = {INPUT: 0}
    for n in graph.nodes:
        column[n.name] = 1 + max(column[i] for i in n.inputs if i in column)
    taken: dict[int, int] = {}
    nodes = [FigureNode(INPUT, 0, 0, sp.MatrixSymbol("x", 1, 1), "input")]
    taken[0] = 1
    for n in graph.nodes:
        layer = kind(n.kind)
        row = taken.get(column[n.name], 0)
        taken[column[n.name]] = row + 1
        if layer.is_loss:
            nodes.append(FigureNode(n.name, column[n.name], row, sp.Symbol("E", real=True), n.kind, loss=True))
        elif layer.sign is not None:
            nodes.append(FigureNode(n.name, column[n.name], row, None, layer.title, op=layer.sign))
        else:
            label = str(rules.nodes[n.name].out.label)
            nodes.append(FigureNode(n.name, column[n.name], row, sp.MatrixSymbol(label, 1, 1), n.kind))
    edges = []
    for n in graph.nodes:
        for i in dict.fromkeys(n.inputs):
            if i not in column:
                continue  # the target y
            edges.append(FigureEdge(i, n.name, _local(graph, rules, n.name, i), column[n.name] - column[i] > 1))
    return GraphFigure(tuple(nodes), tuple(edges))


def _local(graph: Graph, rules: GraphRules, node: str, source: str) -> sp.Basic | None:
    """What an edge carries back: the pullback's factor of ∂E/∂(node)ₚ, or the weight a dense layer reads."""
    n = graph.by_name[node]
    if n.kind == DENSE.name:
        tie = n.option("W")
        if isinstance(tie, Tie):
            W = sp.MatrixSymbol(tie.param, 1, 1)
            return sp.Transpose(W) if tie.transposed else W
        return sp.MatrixSymbol(f"W{n.number}", 1, 1)  # the dense layer's own weight
    rule = rules.nodes[node]
    share = rule.pullbacks.get(source)
    if share is None or kind(n.kind).is_loss:
        return None
    entry = rule.grad[p]
    factor = sp.cancel(share / entry)
    if factor.has(rule.grad) or factor.has(sp.Sum):
        return None
    return factor
