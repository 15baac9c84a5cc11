"""The symbolic model: one symbol per quantity of the network, its forward definitions and its loss.

It is read off the network's graph (:mod:`symnet.spec.graph`): every node's units are symbols of their own
(h⁽ᵏ⁾ⱼ, a⁽ᵏ⁾ⱼ, ŷⱼ, the sum of a skip connection), each defined by its kind's scalar form — a short
expression in the units of the nodes it reads — exactly as the articles name them.  The derivation then
takes local derivatives of these short definitions and never differentiates a fully substituted loss.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from symnet.derivation.names import Name, symbol
from symnet.errors import InputError
from symnet.functions.layers import Tie, kind, transpose_rows
from symnet.spec import Graph, Network, Spec
from symnet.spec.graph import INPUT, PREDICTION, TARGET

#: parameters above which the symbolic model (a SymPy symbol per parameter, ~1.5 kB each) is refused
MAX_SCALAR_PARAMS = 300_000


def graph_of(spec: Spec) -> Graph:
    return spec.graph if isinstance(spec, Network) else spec


def named_yhat(graph: Graph, node: str) -> bool:
    """Whether a node's units are called ŷ: the prediction's are, whatever its node's name, unless it is a dense
    layer's output (h⁽ᵏ⁾ itself, which ``yhat`` then names too)."""
    return node == graph.prediction and graph.by_name[node].number is None


def unit(graph: Graph, node: str, j: int) -> sp.Symbol:
    """The symbol of unit j (1-based) of a node, the input x or the target y: ``h1[2]``, ``yhat``, ``x1``."""
    if node in (INPUT, TARGET) or named_yhat(graph, node):
        return symbol(Name(PREDICTION if node not in (INPUT, TARGET) else node, None,
                           (j,) if graph.widths[node] > 1 else ()))
    return symbol(Name.of_node(node, (j,)))


def entry(param: str, index: tuple[int, ...]) -> sp.Symbol:
    """The symbol of one parameter entry (1-based): ``W1[1,2]``, ``b2[3]``."""
    return symbol(Name.of_node(param, index))


@dataclass
class Model:
    spec: Spec
    graph: Graph = field(init=False)
    #: each node's units (and the input's, the target's), in order
    units: dict[str, list[sp.Symbol]] = field(init=False)
    #: each parameter array's symbols: a weight as rows (W[i-1][j-1] = Wᵢⱼ, (n_in, n_out)), a bias as a list
    arrays: dict[str, list] = field(init=False)
    definitions: dict[sp.Symbol, sp.Expr] = field(init=False)  # every unit of every node, in forward order
    # what each definition reads: inputs[q][src] is the term of q's definition that src appears in
    inputs: dict[sp.Symbol, dict[sp.Symbol, sp.Expr]] = field(init=False)
    #: the node each unit belongs to
    owner: dict[sp.Symbol, str] = field(init=False)
    loss: sp.Expr = field(init=False)  # the per-sample loss in ŷ and y

    def __post_init__(self) -> None:
        g = self.graph = graph_of(self.spec)
        if g.n_params > MAX_SCALAR_PARAMS:
            raise InputError(f"{g.compact} has {g.n_params:,} parameters; the scalar form (one symbol each) is "
                             f"built for at most {MAX_SCALAR_PARAMS:,}: use a narrower network (784-256-10 has 203,530)")
        self.units = {name: [unit(g, name, j) for j in range(1, g.widths[name] + 1)] for name in (INPUT, TARGET)}
        self.arrays = {}
        for p in g.params:
            if len(p.shape) == 2:
                self.arrays[p.name] = [[entry(p.name, (i, j)) for j in range(1, p.shape[1] + 1)]
                                       for i in range(1, p.shape[0] + 1)]
            else:
                self.arrays[p.name] = [entry(p.name, (j,)) for j in range(1, p.shape[0] + 1)]
        self.definitions, self.inputs, self.owner = {}, {}, {}
        for node in g.nodes:
            layer = kind(node.kind)
            reads = {role: (transpose_rows(self.arrays[r.param]) if r.transposed else self.arrays[r.param])
                     if isinstance(r, Tie) else self.arrays[r] for role, r in g.reads(node).items()}
            values = layer.scalar(node, [self.units[i] for i in node.inputs], reads)
            if layer.is_loss:
                self.loss = values[0]
                continue
            self.units[node.name] = [unit(g, node.name, j) for j in range(1, len(values) + 1)]
            for sym, definition in zip(self.units[node.name], values):
                self.definitions[sym] = definition
                self.inputs[sym] = _terms(definition)
                self.owner[sym] = node.name

    # -- the layer list's views (k = 1 … L) ---------------------------------------------------------
    @property
    def net(self) -> Spec:
        return self.spec

    @property
    def x(self) -> list[sp.Symbol]:
        return self.units[INPUT]

    @property
    def y(self) -> list[sp.Symbol]:
        return self.units[TARGET]

    @property
    def yhat(self) -> list[sp.Symbol]:
        return self.units[self.graph.prediction]

    @cached_property
    def W(self) -> dict[int, list[list[sp.Symbol]]]:
        return {int(n[1:]): rows for n, rows in self.arrays.items() if n.startswith("W")}

    @cached_property
    def b(self) -> dict[int, list[sp.Symbol]]:
        return {int(n[1:]): v for n, v in self.arrays.items() if n.startswith("b")}

    @cached_property
    def h(self) -> dict[int, list[sp.Symbol]]:
        """The dense layers' outputs h⁽ᵏ⁾."""
        return {n.number: self.units[n.name] for n in self.graph.dense_nodes}

    @cached_property
    def a(self) -> dict[int, list[sp.Symbol]]:
        """a⁽⁰⁾ = x and, for a layer list, the activations a⁽ᵏ⁾ (a⁽ᴸ⁾ = ŷ)."""
        out = {0: self.x}
        for node in self.graph.dense_nodes:
            after = self.graph.consumers(node.name)
            if len(after) == 1 and after[0].inputs == (node.name,) and not kind(after[0].kind).is_loss:
                out[node.number] = self.units[after[0].name]
        return out

    @cached_property
    def params(self) -> list[sp.Symbol]:
        """Every parameter, in the kernel's order: W1 row by row, b1, W2, b2, … (built once: 784-256-10
        has 203,530 of them)"""
        return [s for arr in self.param_arrays() for s in flat(arr)]

    @cached_property
    def param_symbols(self) -> set[sp.Symbol]:
        return set(self.params)

    @cached_property
    def role(self) -> dict[sp.Symbol, str]:
        """Each parameter symbol's role (W, b: as its array's kind says)."""
        return {s: p.role for p in self.graph.params for s in flat(self.arrays[p.name])}

    def param_arrays(self) -> list[list]:
        """The parameters grouped as the kernel's arrays: [W1 (rows of symbols), b1, W2, b2, …]."""
        return [self.arrays[p.name] for p in self.graph.params]

    def forward_expression(self, sym: sp.Symbol) -> sp.Expr:
        """A quantity written out down to x and the parameters (for small nets and checks only)."""
        return sym.xreplace(self.definitions) if sym not in self.definitions else _substitute_all(
            self.definitions[sym], self.definitions
        )


def _terms(definition: sp.Expr) -> dict[sp.Symbol, sp.Expr]:
    """For each symbol a definition reads, the part of it that holds the symbol: the term of a sum that
    holds it (only that term has a nonzero derivative), or the whole definition."""
    parts = definition.args if isinstance(definition, sp.Add) else (definition,)
    reads: dict[sp.Symbol, list[sp.Expr]] = {}
    for part in parts:
        for s in sorted(part.free_symbols, key=_position(part)):
            reads.setdefault(s, []).append(part)
    return {s: ps[0] if len(ps) == 1 else sp.Add(*ps, evaluate=False) for s, ps in reads.items()}


def _position(expr: sp.Expr):
    """A symbol's place in an unevaluated product (the source of W·a first), so reads keep the definition's order."""
    order = [a for a in (expr.args if isinstance(expr, sp.Mul) else ())]

    def key(s: sp.Symbol):
        return (order.index(s) if s in order else len(order), s.name)

    return key


def quantity(net: Spec, kind_: str, k: int | None, *index: int) -> sp.Symbol:
    """The symbol the model gives one quantity, without building the model: ``quantity(net, "W", 1, 1, 1)``
    is W1[1,1]; a[0] is x and a[L] is ŷ; x, y and ŷ of a single unit have no index (x, not x1)."""
    g = graph_of(net)
    L = g.depth
    if kind_ == "a" and k == 0:
        kind_, k = "x", None
    elif kind_ == "a" and k == L:
        kind_, k = "yhat", None
    if kind_ in ("x", "y", "yhat"):
        count = g.widths[INPUT] if kind_ == "x" else g.widths[g.prediction]
        return symbol(Name(kind_, None, index if count > 1 else ()))
    return symbol(Name(kind_, k, index))


def flat(arr: list) -> list[sp.Symbol]:
    return [s for row in arr for s in row] if arr and isinstance(arr[0], list) else list(arr)


def _substitute_all(expr: sp.Expr, definitions: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
    # definitions are in forward order; substitute from the top layer down so one pass suffices
    for sym in reversed(list(definitions)):
        if expr.has(sym):
            expr = expr.xreplace({sym: definitions[sym]})
    return expr
