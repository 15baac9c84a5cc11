"""The matrix (batch) form of a graph: every node's forward pass, every delta and gradient over a batch of m rows.

Each expression is *translated* from the graph's index form (:mod:`symnet.derivation.rules`) by the same
:class:`~symnet.derivation.matrix_form.Translator` as a layer list's: entry j of a sample's vector is column j
of the batch's matrix (one row per sample), Σᵢ aᵢWᵢⱼ a product A·W (Wᵀ for a tied decoder's W1[j, i]), a
product of entries a Hadamard product ⊙, the entries offset + j of a concatenation a block of its columns,
and a parameter's per-sample gradient aᵢδⱼ the batch's sum AᵀΔ.  E is the mean over the batch, so the loss's
factor is 1/m and every Δ inherits it (1 where the loss sums the batch, ``reduction='sum'``)::

    H⁽²⁾ = A⁽¹⁾W⁽²⁾ + 1b⁽²⁾ᵀ,   S = H⁽²⁾ + A⁽¹⁾,   A⁽²⁾ = f(S)
    Δ⁽¹⁾ = (Δ⁽²⁾W⁽²⁾ᵀ + Δ⁽²⁾) ⊙ f′(H⁽¹⁾)        (the skip's 1 adds Δ⁽²⁾ itself)
    ∂E/∂W⁽¹⁾ = XᵀΔ⁽¹⁾ (+ Δ_decᵀA for a weight a decoder reads transposed)

:meth:`GraphMatrixForm.evaluate` computes every matrix for a batch of NumPy arrays.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp

from symnet.derivation.matrix_form import M, Env, MatrixExpr, Translator, scaled
from symnet.derivation.rules import GE, GraphRules, rules
from symnet.functions.layers import DENSE, WEIGHT, kind
from symnet.functions.layers.indices import i, j
from symnet.functions.regularisers import lam
from symnet.spec import Graph, Network, Spec
from symnet.spec.graph import TARGET

Array = np.ndarray


def matrix_name(label: str) -> str:
    """A node's matrix over the batch: its name capitalised (H1, A2, Add1, Yhat, X, Y)."""
    return label[0].upper() + label[1:]


@dataclass(frozen=True)
class MatrixNode:
    """One node over the batch: ``out`` (m × width) = ``forward``."""

    name: str
    out: sp.MatrixSymbol
    forward: MatrixExpr


@dataclass(frozen=True)
class MatrixDelta:
    """Δ of one dense layer over the batch: ``D`` (m × n_k) = ``expr``."""

    node: str
    D: sp.MatrixSymbol
    expr: MatrixExpr


@dataclass(frozen=True)
class MatrixGradient:
    """∂E/∂P over the batch: ``param`` (its matrix; a bias is a column) and ``expr`` (a bias's: the row 1ᵀΔ)."""

    name: str
    param: sp.MatrixSymbol
    uses: tuple[MatrixExpr, ...]
    expr: MatrixExpr


class GraphMatrixForm:
    """The batch form of a graph: ``nodes`` in order (not the loss), ``deltas`` from the output down,
    ``gradients`` in the parameters' order; ``cost`` E as a 1×1 matrix."""

    def __init__(self, spec: Spec, rules_: GraphRules | None = None):
        self.graph: Graph = spec.graph if isinstance(spec, Network) else spec
        self.rules: GraphRules = rules_ or rules(self.graph)
        g, r = self.graph, self.rules
        symbols: dict[str, sp.MatrixSymbol] = {}
        self.widths = r.widths
        for name, array in r.arrays.items():
            if name in g.by_name and kind(g.by_name[name].kind).is_loss:
                continue
            label = str(array.label)
            symbols[label] = sp.MatrixSymbol(matrix_name(label), M, r.widths[name])
        for node in g.nodes:
            if node.kind == DENSE.name:
                symbols[str(r.delta_array(node.name).label)] = sp.MatrixSymbol(f"D{node.number}", M, r.widths[node.name])
        shapes = self._param_shapes()
        for name, shape in shapes.items():
            symbols[name] = sp.MatrixSymbol(name, *shape)
        self.symbols = symbols
        self.t = Translator(symbols=symbols, params=set(shapes))
        self.X, self.Y = symbols["x"], symbols["y"]

    def _param_shapes(self) -> dict[str, tuple[sp.Expr, sp.Expr]]:
        """Each parameter's shape in the widths' symbols: W (n_in, n_k), b (n_k, 1); another kind's parameter by
        its sizes (a vector as a column)."""
        out = {}
        by_size = {}
        for name, w in self.widths.items():
            if name in self.graph.widths:
                by_size.setdefault(self.graph.widths[name], w)
        for node in self.graph.nodes:
            owned = kind(node.kind).parameters(node, [self.graph.widths[i] for i in node.inputs])
            if node.kind == DENSE.name:
                n_in, n_out = self.widths[node.inputs[0]], self.widths[node.name]
                for p in owned:
                    out[p.name] = (n_in, n_out) if p.role == WEIGHT else (n_out, 1)
                continue
            for p in owned:
                dims = tuple(by_size.get(d, sp.Integer(d)) for d in p.shape)
                out[p.name] = dims if len(dims) == 2 else (dims[0], sp.S.One)
        return out

    # -- the form ---------------------------------------------------------------------------------------
    @cached_property
    def nodes(self) -> tuple[MatrixNode, ...]:
        out = []
        for node in self.graph.nodes[:-1]:
            rule = self.rules.nodes[node.name]
            parts = [self.t.rows(seg.value.xreplace({seg.index: j}), j, seg.extent) for seg in rule.forward]
            forward = parts[0] if len(parts) == 1 else sp.BlockMatrix([parts])
            out.append(MatrixNode(node.name, self.symbols[str(rule.out.label)], forward))
        return tuple(out)

    @cached_property
    def deltas(self) -> tuple[MatrixDelta, ...]:
        out = []
        for name, d in self.rules.deltas.items():
            out.append(MatrixDelta(name, self.symbols[str(d.delta.label)],
                                   self.t.rows(d.scaled.subs(GE, self.scale), j, self.widths[name])))
        return tuple(out)

    @cached_property
    def gradients(self) -> tuple[MatrixGradient, ...]:
        out = []
        for name, pr in self.rules.params.items():
            P = self.symbols[name]
            if len(pr.index) == 2:
                uses = tuple(self.t.batch_sum(u.subs(GE, self.scale), (i, P.shape[0]), (j, P.shape[1])) for _, u in pr.uses)
            else:
                uses = tuple(self.t.batch_sum(u.subs(GE, self.scale), None, (j, P.shape[0])) for _, u in pr.uses)
            total = uses[0] if len(uses) == 1 else sp.MatAdd(*uses)
            if pr.decay != 0:
                total = sp.MatAdd(total, self.t.parameter(pr.decay, i, j))
            out.append(MatrixGradient(name, P, uses, total))
        return tuple(out)

    def gradient(self, node: str) -> MatrixExpr:
        """∂E/∂N over the batch for any node (or X): m × width."""
        name = self.graph.resolve(node)
        return self.t.rows(self.rules.gradient(name, self.scale, j), j, self.widths[name])

    @cached_property
    def cost(self) -> MatrixExpr:
        """E, the mean (or the sum) over the batch's rows of the per-sample loss (without the L2 term), 1×1."""
        rule = self.rules.nodes[self.graph.loss_node.name]
        per_row = self.t.rows(rule.forward[0].value, j, sp.S.One)
        share = [] if self.scale == 1 else [self.scale]  # a sum has no 1/m in front
        return sp.MatMul(*share, sp.OneMatrix(1, M), per_row)

    @property
    def scale(self) -> sp.Expr:
        """The share of each sample's error in the cost: 1/m of a mean, 1 of a sum (``reduction='sum'``)."""
        return batch_scale(self.graph)

    # -- numbers -----------------------------------------------------------------------------------------
    def evaluate(self, params: list[Array] | dict[str, Array], X: Array, Y: Array, *, l2: float | None = None,
                 nodes: bool = True) -> dict[str, Array]:
        """Every matrix of one batch: "X", "Y", each node's (``H1``, ``A1``, ``Add1``, ``Yhat``), "Dk", "dW1",
        "db1" (a (1, n) row), … for ``params`` in the graph's order (or by name; biases (n,) or (n, 1)), "E", the
        cost with its L2 term, and (``nodes``) ∂E/∂(each node's matrix): "dA1", "dAdd1", "dX", …"""
        g = self.graph
        values = params if isinstance(params, dict) else {p.name: v for p, v in zip(g.params, params)}
        env = self._forward(values, X, l2)
        env.values["Y"] = np.asarray(Y, dtype=float)
        for d in self.deltas:
            env.values[str(d.D.name)] = env.eval(d.expr)
        out = dict(env.values)
        for grad in self.gradients:
            out[f"d{grad.name}"] = env.eval(grad.expr)
        if nodes:
            for name, array in self.rules.arrays.items():
                if name == TARGET or name == g.loss_node.name:
                    continue
                out[f"d{self.symbols[str(array.label)].name}"] = env.eval(self.gradient(name))
        penalty = 0.5 * out.get("lam", g.l2 if l2 is None else l2) * sum(
            float(np.sum(np.asarray(values[q.name], dtype=float) ** 2)) for q in g.params if q.decayed)
        out["E"] = float(env.eval(self.cost)[0, 0]) + penalty
        for param in g.params:
            if len(param.shape) == 1:
                out[param.name] = np.reshape(values[param.name], -1)
        return out

    def forward(self, params: list[Array] | dict[str, Array], X: Array) -> dict[str, Array]:
        """The forward pass of one batch: "X" and each node's matrix (``H1``, ``A1``, ``Yhat``)."""
        values = params if isinstance(params, dict) else {p.name: v for p, v in zip(self.graph.params, params)}
        return self._forward(values, X, None).values

    def _forward(self, values: dict[str, Array], X: Array, l2: float | None) -> Env:
        g = self.graph
        sizes: dict[sp.Symbol, int] = {M: int(np.shape(X)[0])}
        for name, w in self.widths.items():
            if isinstance(w, sp.Symbol) and name in g.widths:
                sizes[w] = g.widths[name]
        env = Env(sizes, {lam: g.l2 if l2 is None else l2, M: sizes[M]}, False)
        env.values = {"X": np.asarray(X, dtype=float)}
        for param in g.params:
            v = np.asarray(values[param.name], dtype=float)
            env.values[param.name] = v.reshape(-1, 1) if len(param.shape) == 1 else v
        for node in self.nodes:
            env.values[str(node.out.name)] = env.eval(node.forward)
        return env

    def param_gradients(self, params: list[Array], X: Array, Y: Array) -> list[Array]:
        """∂E/∂θ in the graph's parameter order and shapes (a bias's a vector)."""
        out = self.evaluate(params, X, Y, nodes=False)
        return [np.reshape(out[f"d{q.name}"], q.shape) for q in self.graph.params]


def batch_scale(graph: Graph) -> sp.Expr:
    """1/m when the cost is the mean of the samples' errors, 1 when it is their sum."""
    return 1 / M if graph.reduction == "mean" else sp.S.One


_FORMS: dict[Graph, GraphMatrixForm] = {}


def graph_matrix_form(spec: Spec) -> GraphMatrixForm:
    """The batch form of ``spec``'s graph (derived once per graph)."""
    graph = spec.graph if isinstance(spec, Network) else spec
    if graph not in _FORMS:
        if len(_FORMS) > 64:
            _FORMS.clear()
        _FORMS[graph] = GraphMatrixForm(graph)
    return _FORMS[graph]


__all__ = ["GraphMatrixForm", "batch_scale", "MatrixDelta", "MatrixGradient", "MatrixNode", "graph_matrix_form", "matrix_name",
           "scaled"]
