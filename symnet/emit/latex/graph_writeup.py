"""The write-up of a graph spec's derivation: the document model both renderers print (LaTeX here, the web
page in :mod:`symnet.emit.html.graph_page`).

What it teaches, in the second reference article's terms: a network is the operations its input goes
through, and back-propagation is *upstream times local* at every node.  Its parts, each built from the one
derivation (:mod:`symnet.derivation.rules`, :mod:`symnet.derivation.graph_matrix`, the scalar chains):

* the graph: its figure (every edge labelled with its local derivative) and each node's definition;
* the backward pass node by node: ∂E/∂(node) as the sum, over the nodes that read it, of their pullbacks
  — the kinds' lessons say why a sum passes the gradient on unchanged (a skip adds a 1), why an activation's
  Jacobian is diagonal and a softmax's full — and the activations' lemmas;
* the deltas δ⁽ᵏ⁾ those compose to, and every parameter's gradient (a tied weight's: the sum of its uses);
* a few chains in the scalar form (the paths through a skip listed), the matrix form of a batch with shapes,
  the update rule, and with values a worked example.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from symnet.derivation import update
from symnet.derivation.chains import Derivation
from symnet.derivation.graph_matrix import GraphMatrixForm, graph_matrix_form
from symnet.derivation.names import E
from symnet.derivation.rules import GraphRules, rules
from symnet.emit.graph_figure import GraphFigure, graph_figure
from symnet.emit.latex.forms import Eqn, Ordered, Shape, Terms, eqn
from symnet.errors import InputError
from symnet.functions.activations import Lemma
from symnet.functions.layers import DENSE, kind
from symnet.functions.layers.indices import i, j, p
from symnet.functions.regularisers import l2_penalty
from symnet.numeric.worked import Values, WorkedExample, load_values
from symnet.spec import Graph
from symnet.spec.graph import INPUT

#: parameters up to which the scalar form's chains are written out, path by path
SCALAR_UP_TO = 60
#: chains shown in the scalar form
CHAINS_SHOWN = 4


@dataclass(frozen=True)
class NodeView:
    """One row of the graph's table: the node, its kind (and what it is), its width and definition."""

    name: str
    kind: str
    title: str
    width: int
    definitions: tuple[Eqn, ...]


@dataclass(frozen=True)
class Lesson:
    """What one kind's backward pass teaches, and the nodes of that kind."""

    kind: str
    title: str
    text: str
    nodes: tuple[str, ...]


@dataclass
class GraphWriteUp:
    graph: Graph
    d: Derivation
    rules: GraphRules
    form: GraphMatrixForm
    figure: GraphFigure
    command: str | None
    nodes: list[NodeView]
    loss: Eqn
    lessons: list[Lesson]
    lemmas: list[tuple[Lemma, list[Eqn]]]
    backward: list[Eqn]
    deltas: list[Eqn]
    assumption: sp.Eq | None
    gradients: list[Eqn]
    shared: list[tuple[str, tuple[str, ...]]]
    skips: list[tuple[str, str]]
    chains: list[Eqn]
    matrix_forward: list[Eqn]
    matrix_backward: list[Eqn]
    update: update.Optimizer
    update_rules: list[Eqn]
    hyper: dict[str, float]
    worked: WorkedExample | None = None
    values: Values | None = None
    bias_rows: None = None
    notes: list[str] = field(default_factory=list)


def of_graph(d: Derivation, params: str | list[str] | None = None) -> bool:
    """Whether ``d`` is a graph spec's derivation, written by :func:`graph_writeup`, which shows the chain of
    each dense layer's first weight: ``params`` (a layer list's choice of chains) must be left out."""
    if not isinstance(d.net, Graph):
        return False
    if params not in (None, "all"):
        raise InputError("params (--params) chooses a layer list's chains; a graph's write-up shows the chain of "
                         "the first weight of each dense layer (leave params out)")
    return True


def graph_writeup(d: Derivation, values: Values | str | Path | None = None, *, command: str | None = None,
                  optimizer: str | None = None, momentum: float | None = None,
                  **hyperparameters: float | None) -> GraphWriteUp:
    """The write-up of a graph's derivation ``d`` (a :class:`Derivation` of a :class:`Graph`)."""
    g: Graph = d.graph
    r, form = rules(g), graph_matrix_form(g)
    rule, hyper = update.resolve(optimizer, momentum=momentum, **hyperparameters)
    if values is not None and not isinstance(values, Values):  # a VALUES.toml path
        values = load_values(str(values), g)
    worked = WorkedExample(d, values) if values is not None else None
    return GraphWriteUp(
        g, d, r, form, graph_figure(g, r), command, _nodes(g, r), _loss(g, r), _lessons(g), _lemmas(d),
        _backward(g, r), _deltas(r), _assumption(r), _gradients(g, r), _shared(g, r), _skips(g, r),
        _chains(d) if g.n_params <= SCALAR_UP_TO else [], _matrix_forward(form), _matrix_backward(form),
        rule, _update_rules(rule), hyper, worked, values)


def graph_symbols(w) -> dict:
    """The symbols a graph's write-up names in its words: each node's vector, the layer form's generic entries
    (x_i, W⁽ᵏ⁾ᵢⱼ, b⁽ᵏ⁾ⱼ, δ⁽ᵏ⁾ⱼ), the L2 term of one weight, the weights read more than once."""
    vectors = {"x": sp.MatrixSymbol("x", 1, 1)}
    vectors.update({n: sp.MatrixSymbol(str(rule.out.label), 1, 1) for n, rule in w.rules.nodes.items()})
    W = sp.IndexedBase("Wk", real=True)
    numbers = (w.worked.inputs + w.worked.forward + w.worked.targets) if w.worked is not None else []
    return dict(vectors=vectors, x=sp.IndexedBase("x", real=True)[i], W=W[i, j],
                worked_forward=[numbers[k:k + 2] for k in range(0, len(numbers), 2)],
                b=sp.IndexedBase("bk", real=True)[j], delta=sp.IndexedBase("deltak", real=True)[j],
                penalty=l2_penalty([W[i, j]]), shared_tex={name: sp.MatrixSymbol(name, 1, 1) for name, _ in w.shared})


def _nodes(g: Graph, r: GraphRules) -> list[NodeView]:
    out = []
    for n in g.nodes[:-1]:
        rule = r.nodes[n.name]
        defs = tuple(eqn(rule.out[seg.offset + seg.index], seg.value) for seg in rule.forward)
        layer = kind(n.kind)
        out.append(NodeView(n.name, n.kind, layer.title, g.widths[n.name], defs))
    return out


def _loss(g: Graph, r: GraphRules) -> Eqn:
    (seg,) = r.nodes[g.loss_node.name].forward
    return eqn(E, seg.value)


def _lessons(g: Graph) -> list[Lesson]:
    """One lesson per kind the graph uses, in the order they first compute (the loss's last)."""
    by_kind: dict[str, list[str]] = {}
    for n in g.nodes:
        layer = kind(n.kind)
        key = "activation" if layer.elementwise else n.kind
        by_kind.setdefault(key, []).append(n.name)
    out = []
    for key, names in by_kind.items():
        layer = kind(g.by_name[names[0]].kind)
        if layer.lesson:
            out.append(Lesson(key, layer.title, layer.lesson, tuple(names)))
    return out


def _lemmas(d: Derivation) -> list[tuple[Lemma, list[Eqn]]]:
    """Each activation's f′ as SymPy derives it from the definition, the compact form last."""
    from symnet.functions.activations import ACTIVATION_CLASSES, x

    out = []
    for lem in d.lemmas:
        f = ACTIVATION_CLASSES[lem.name](x)
        steps = [eqn(f, lem.definition, one_line=True),
                 eqn(sp.Derivative(f, x, evaluate=False), lem.derivative, lem.compact)]
        out.append((lem, steps))
    return out


def _backward(g: Graph, r: GraphRules) -> list[Eqn]:
    """∂E/∂(node)ₚ for every node from the loss down, as the sum over the nodes that read it of their
    pullbacks — each in the reader's own ∂E/∂ (or δ), upstream times local."""
    out = []
    for n in reversed([INPUT, *(n.name for n in g.nodes[:-1])]):
        shares = [r.nodes[c.name].pullbacks[n] for c in g.consumers(n)]
        lhs = r.nodes[n].grad[p] if n in r.nodes else sp.IndexedBase("g_x", real=True)[p]
        if n in g.by_name and g.by_name[n].kind == DENSE.name:
            lhs = r.delta_array(n)[p]
        shares = [s.subs(_ge(), 1) for s in shares]
        out.append(eqn(lhs, Terms(tuple(shares)) if len(shares) > 1 else shares[0]))
    return out


def _ge() -> sp.Symbol:
    from symnet.derivation.rules import GE

    return GE


def _deltas(r: GraphRules) -> list[Eqn]:
    out = []
    for name, d in r.deltas.items():
        forms = [d.terms, d.rule.rhs] if d.terms != d.rule.rhs else [d.rule.rhs]
        out.append(eqn(d.rule.lhs, *forms))
    return out


def _assumption(r: GraphRules) -> sp.Eq | None:
    return next((d.assumption for d in r.deltas.values() if d.assumption is not None), None)


def _gradients(g: Graph, r: GraphRules) -> list[Eqn]:
    out = []
    for name, pr in r.params.items():
        entry = r.param_array(name)[pr.index]
        lhs = sp.Derivative(E, entry, evaluate=False)
        shares = [u for _, u in pr.uses]
        rhs = Terms(tuple(shares)) if len(shares) > 1 else shares[0]
        if pr.decay != 0:
            rhs = Terms((*(shares if len(shares) > 1 else [shares[0]]), pr.decay))
        out.append(eqn(lhs, rhs))
    return out


def _shared(g: Graph, r: GraphRules) -> list[tuple[str, tuple[str, ...]]]:
    """The parameters more than one node reads (a tied weight), and those nodes."""
    return [(name, tuple(n for n, _ in pr.uses)) for name, pr in r.params.items() if len(pr.uses) > 1]


def _skips(g: Graph, r: GraphRules) -> list[tuple[str, str]]:
    """(node, sum) for every node that a sum reads besides another path: a skip connection's source."""
    out = []
    for n in g.nodes:
        if kind(n.kind).sign is None:
            continue
        for i in n.inputs:
            if len(g.consumers(i)) > 1:
                out.append((i, n.name))
    return out


def _chains(d: Derivation) -> list[Eqn]:
    """The first weight of each dense layer, from the input's up to CHAINS_SHOWN: ∂E/∂θ as the sum over its
    paths of the local derivatives' product (a skip's path among them), then through the deltas."""
    out = []
    firsts = [d.model.arrays[p.name][0][0] for p in d.graph.params if len(p.shape) == 2][:CHAINS_SHOWN]
    for theta in firsts:
        c = d.chain(theta)
        lhs = sp.Derivative(E, theta, evaluate=False)
        if c.paths is not None:
            products = tuple(Ordered(tuple(f.compact for f in path.factors)) for path in c.paths)
            out.append(eqn(lhs, Terms(products) if len(products) > 1 else products[0], c.via_delta))
        else:
            out.append(eqn(lhs, c.via_delta))
    return out


def _matrix_forward(form: GraphMatrixForm) -> list[Eqn]:
    return [eqn(n.out, n.forward, shape=Shape(*n.out.shape)) for n in form.nodes]


def _matrix_backward(form: GraphMatrixForm) -> list[Eqn]:
    out = [eqn(dl.D, dl.expr, shape=Shape(*dl.D.shape)) for dl in form.deltas]
    for gr in form.gradients:
        shape = gr.expr.shape
        out.append(eqn(sp.Derivative(E, gr.param, evaluate=False), gr.expr, shape=Shape(*shape)))
    return out


def _update_rules(rule: update.Optimizer) -> list[Eqn]:
    return [eqn(target, rhs, rel=r"\leftarrow") for target, rhs in rule.steps]


__all__ = ["GraphWriteUp", "Lesson", "NodeView", "graph_symbols", "graph_writeup"]
