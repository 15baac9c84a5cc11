"""The layer (index) form of a graph: the chain rule at every node, for any widths.

Every node's kind gives its forward definition for an entry j of its output (``Sum(W[i, j]*a[i], (i, 1,
n0)) + b[j]`` for a dense layer).  From it, for any widths:

* each node's **pullback** into each of its inputs, ∂E/∂inₚ ← Σⱼ ∂outⱼ/∂inₚ · gⱼ with g = ∂E/∂out — SymPy
  differentiates the definition and collapses the Kronecker deltas (Σᵢ Wᵢⱼ aᵢ differentiated by aₚ is Wₚⱼ),
  then writes the result in the node's own outputs (σ(h) as a, e^{hⱼ}/Σ e^{hₗ} as ŷⱼ);
* into each **parameter** it reads, ∂E/∂Wᵢⱼ ← aᵢ gⱼ;
* the **deltas**: δ⁽ᵏ⁾ = ∂E/∂h⁽ᵏ⁾ of each dense layer, upstream times local over every node between it and
  the dense layers above it (or the loss): the composition of those nodes' pullbacks, simplified where it
  reaches the loss (softmax and cross-entropy to ŷ − y, with one-hot targets);
* every parameter's **gradient**, summed over the nodes that read it (a tied weight's two uses).

E here is one sample's error; the matrix form (:mod:`symnet.derivation.graph_matrix`) takes the mean over a
batch.  Nothing depends on the widths, so deriving a 784-256-10 graph costs what a 2-2-1 one does.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from symnet.derivation.layer_form import collapse
from symnet.derivation.names import E
from symnet.functions.layers import DENSE, Node, Param, Segment, Tie, Transposed, kind
from symnet.functions.layers.indices import i, j, p, q, width
from symnet.functions.losses import LOSSES
from symnet.functions.regularisers import decay
from symnet.functions.simplest import factored
from symnet.spec import Graph, Network, Spec
from symnet.spec.graph import INPUT, PREDICTION, TARGET

_r, _s = sp.symbols("r s", integer=True, positive=True)  # a parameter's entry while it is differentiated
#: ∂E/∂(the loss's value): 1 for one sample's E; 1/m for the batch's mean, where every delta inherits it
GE = sp.Symbol("g_E", positive=True)
#: names the tidied rules give the indices a sum runs over, in order of preference
_BOUND = sp.symbols("l q s t u v w", integer=True, positive=True)


@dataclass(frozen=True)
class NodeRule:
    """One node, for any widths: its ``forward`` definition (segments of its output ``out``), its ``pullbacks``
    (each input's share of ∂E/∂input[p], in ``grad``, the array of ∂E/∂out) and each parameter's share of
    ∂E/∂P[i, j] (``params``)."""

    node: Node
    out: sp.IndexedBase
    width: sp.Expr
    forward: tuple[Segment, ...]
    grad: sp.IndexedBase
    pullbacks: dict[str, sp.Expr]
    params: dict[str, sp.Expr]

    def definition(self, index: sp.Expr = j) -> sp.Expr:
        """out[index] for a single-segment node (every kind but a concatenation)."""
        (seg,) = self.forward
        return seg.value.xreplace({seg.index: index})


@dataclass(frozen=True)
class DeltaRule:
    """δ⁽ᵏ⁾ⱼ = ∂E/∂h⁽ᵏ⁾ⱼ of one dense layer: ``terms`` the composed pullbacks as derived, ``rule`` simplified;
    ``assumption`` Σ yⱼ = 1 where one-hot targets were used; ``reaches_loss``: no delta above it (the loss's
    own factors)."""

    node: str
    delta: sp.IndexedBase
    terms: sp.Expr
    rule: sp.Eq
    assumption: sp.Eq | None
    reaches_loss: bool
    #: the rule with the loss's factor g_E left in (1 for one sample, 1/m for a batch's mean)
    scaled: sp.Expr = sp.S.Zero


@dataclass(frozen=True)
class ParamRule:
    """∂E/∂P of one sample for a parameter array: ``gradient`` the sum of ``uses`` (node, share; a share through
    the loss directly carries its factor g_E), ``decay`` λP under L2 decay (added once per batch)."""

    param: Param
    index: tuple[sp.Symbol, ...]
    uses: tuple[tuple[str, sp.Expr], ...]
    gradient: sp.Expr
    decay: sp.Expr


class GraphRules:
    """The index form of a graph: ``nodes[name]``, ``deltas[name]`` (the output's first), ``params[name]``."""

    def __init__(self, spec: Spec, without: tuple[str, str] | None = None):
        """``without`` = (node, consumer): the same rules with that one share of ∂E/∂node left out — the
        mistake of a hand derivation that misses a path (a skip connection's), which check-code names."""
        self.graph: Graph = spec.graph if isinstance(spec, Network) else spec
        self.without = without
        g = self.graph
        self.widths, self._same = _widths(g)
        self.arrays: dict[str, sp.IndexedBase] = {INPUT: sp.IndexedBase("x", real=True),
                                                  TARGET: sp.IndexedBase("y", real=True)}
        self.nodes: dict[str, NodeRule] = {}
        for node in g.nodes:
            self.nodes[node.name] = self._rule(node)
        self._grads: dict[str, sp.Expr] = {}

    # -- the arrays -------------------------------------------------------------------------------------
    def label(self, node: str) -> str:
        """The array a node's entries are in: its name (``h2``, ``a1``), ``yhat`` for the prediction."""
        n = self.graph.by_name.get(node)
        if n is not None and node == self.graph.prediction and n.number is None:
            return PREDICTION
        return node

    def delta_array(self, node: str) -> sp.IndexedBase:
        return sp.IndexedBase(f"delta{self.graph.by_name[node].number}", real=True)

    def _grad_array(self, node: Node) -> sp.IndexedBase:
        if node.kind == DENSE.name:
            return self.delta_array(node.name)
        return sp.IndexedBase(f"g_{self.label(node.name)}", real=True)

    def param_array(self, name: str) -> sp.IndexedBase:
        return sp.IndexedBase(name, real=True)

    # -- each node ----------------------------------------------------------------------------------------
    def _rule(self, node: Node) -> NodeRule:
        layer = kind(node.kind)
        ins = [self.arrays[n] for n in node.inputs]
        in_widths = [self.widths[n] for n in node.inputs]
        reads = {role: Transposed(self.param_array(r.param)) if isinstance(r, Tie) and r.transposed
                 else self.param_array(r.param if isinstance(r, Tie) else r) for role, r in self.graph.reads(node).items()}
        segments = tuple(Segment(s.offset.xreplace(self._same), s.extent.xreplace(self._same),
                                 s.value.xreplace(self._same), s.index)
                         for s in layer.segments(node, ins, reads, in_widths, j))
        out = sp.IndexedBase(self.label(node.name), real=True)
        n_out = self.widths[node.name]
        self.arrays[node.name] = out
        grad = self._grad_array(node)
        pullbacks = {}
        for name in dict.fromkeys(node.inputs):
            if name == TARGET:
                continue
            share = self._pullback(segments, self.arrays[name][p], grad, layer.is_loss)
            pullbacks[name] = layer.named(share, node, ins, out, in_widths)
        params = {}
        for role, r in self.graph.reads(node).items():
            name = r.param if isinstance(r, Tie) else r
            shape = self.graph.param[name].shape
            entry = self.param_array(name)[(_r, _s) if len(shape) == 2 else (_r,)]
            share = self._pullback(segments, entry, grad, layer.is_loss)
            params[name] = _rename_free(layer.named(share, node, ins, out, in_widths),
                                        {_r: i, _s: j} if len(shape) == 2 else {_r: j})
        return NodeRule(node, out, n_out, segments, grad, pullbacks, params)

    @staticmethod
    def _pullback(segments: tuple[Segment, ...], wrt: sp.Indexed, grad: sp.IndexedBase, is_loss: bool) -> sp.Expr:
        """Σ over the output's entries of ∂outⱼ/∂wrt · gⱼ (a loss's output is E itself: g = 1)."""
        total = sp.S.Zero
        for seg in segments:
            local = sp.diff(seg.value, wrt)
            if local == 0:
                continue
            if is_loss:
                total += local * GE
                continue
            for term in sp.Add.make_args(sp.expand(local, deep=False, mul=False, power_exp=False, power_base=False,
                                                  log=False, multinomial=False, basic=True)):
                # a Kronecker delta factor picks the one entry that reads wrt; a Sum would fold it into a
                # Piecewise (an ELU's f′) where nothing can find it again
                term = term * grad[seg.offset + seg.index]
                hit = next((f for f in sp.Mul.make_args(term) if isinstance(f, sp.KroneckerDelta)
                            and seg.index in f.args), None)
                if hit is not None:
                    other = hit.args[1] if hit.args[0] == seg.index else hit.args[0]
                    total += sp.Mul(*(f for f in sp.Mul.make_args(term) if f is not hit)).xreplace({seg.index: other})
                else:
                    total += sp.Sum(term, (seg.index, 1, seg.extent))
        return contract(total)

    # -- composed: ∂E/∂ any node, the deltas, the parameters' gradients --------------------------------
    @cached_property
    def _cuts(self) -> dict[str, str]:
        """The nodes whose ∂E/∂· is a delta: each dense layer its own, and the node that is a dense layer's
        one consumer with ∂/∂h = 1 (the sum of a skip connection) the dense layer's — the last such layer's,
        when two feed one sum: its delta comes first going back, so the other's can read it."""
        cuts = {n.name: n.name for n in self.graph.nodes if n.kind == DENSE.name}
        for name in reversed(list(cuts)):
            after = self.graph.consumers(name)
            if len(after) == 1 and not kind(after[0].kind).is_loss and after[0].name not in cuts:
                share = self.nodes[after[0].name].pullbacks[name]
                if share == self.nodes[after[0].name].grad[p]:
                    cuts[after[0].name] = name
        return cuts

    def _consumers(self, node: str) -> list[Node]:
        return [c for c in self.graph.consumers(node) if (node, c.name) != self.without]

    def paths(self) -> list[tuple[str, str]]:
        """(node, consumer) for every node read by two or more: each share of its ∂E/∂· a derivation can miss."""
        return [(n.name, c.name) for n in self.graph.nodes for c in self.graph.consumers(n.name)
                if len(self.graph.consumers(n.name)) > 1]

    def gradient(self, node: str, scale: sp.Expr = sp.S.One, index: sp.Symbol = p) -> sp.Expr:
        """∂E/∂node[index] for any node (or x), in the deltas of the dense layers it reaches: of one sample, or
        with ``scale`` = 1/m of a batch's mean (the share through the loss scaled, the deltas being the batch's)."""
        node = self.graph.resolve(node)
        if node in self._cuts:
            return self.delta_array(self._cuts[node])[index]
        return _tidy(self._upstream(node).subs(GE, scale), {p: index})

    def _composed(self, node: str) -> sp.Expr:
        """∂E/∂node[p] with the loss's factor g_E left in."""
        if node in self._cuts:
            return self.delta_array(self._cuts[node])[p]
        return self._upstream(node)

    def _upstream(self, node: str) -> sp.Expr:
        """Σ over the nodes that read ``node`` of their pullback, with their own ∂E/∂· put in."""
        if node not in self._grads:
            total = sp.S.Zero
            for after in self._consumers(node):
                rule = self.nodes[after.name]
                share = rule.pullbacks[node]
                if not kind(after.kind).is_loss:
                    above = self._composed(after.name)
                    share = share.replace(lambda e: isinstance(e, sp.Indexed) and e.base == rule.grad,
                                          lambda e: _at(above, e.indices[0]))
                total += share
            self._grads[node] = total
        return self._grads[node]

    @cached_property
    def deltas(self) -> dict[str, DeltaRule]:
        """δ of every dense layer, from the last one down."""
        out = {}
        for node in reversed(self.graph.nodes):
            if node.kind == DENSE.name:
                out[node.name] = self._delta(node.name)
        return out

    def _delta(self, name: str) -> DeltaRule:
        delta = self.delta_array(name)
        terms = sp.S.Zero
        for after in self._consumers(name):
            rule = self.nodes[after.name]
            share = rule.pullbacks[name]
            above = self._upstream(after.name) if self._cuts.get(after.name) == name else self._composed(after.name)
            terms += share.replace(lambda e: isinstance(e, sp.Indexed) and e.base == rule.grad,
                                   lambda e: _at(above, e.indices[0]))
        reaches_loss = not any(terms.has(self.delta_array(d)) for d in set(self._cuts.values()))
        assumption = None
        rule = terms
        if reaches_loss:
            # through the loss alone: every term carries its factor g_E once, which the batch's 1/m multiplies
            rule, assumption = self._simplified(terms.subs(GE, 1))
            scaled = GE * _tidy(rule, {p: j})
        rule = _tidy(rule, {p: j})
        if not reaches_loss:
            scaled = rule
        return DeltaRule(name, delta, _tidy(terms, {p: j}).subs(GE, 1), sp.Eq(delta[j], rule.subs(GE, 1)), assumption,
                         reaches_loss, scaled)

    def _simplified(self, expr: sp.Expr) -> tuple[sp.Expr, sp.Eq | None]:
        """A rule that reaches the loss, simplified: products expanded and Kronecker deltas collapsed, factors
        that do not depend on a sum's index taken out of it, one-hot targets summing to 1, then the shortest of
        the result and its factored form."""
        out = contract(expr)
        assumption = None
        y, n = self.arrays[TARGET], self.widths[self.graph.prediction]
        if LOSSES[self.graph.loss].one_hot and out.has(sp.Sum) and out.has(y):
            # Σ_q y_q, once the sums are taken apart, is 1 (a softmax's cross-entropy: ŷ − y)
            pulled = _pulled(contract(sp.expand(expr)))
            totals = [s for s in pulled.atoms(sp.Sum) if _is_total_of(s, y)]
            if totals:
                assumption = sp.Eq(sp.Sum(y[q], (q, 1, n)), 1)
                out = sp.expand(pulled.xreplace({s: sp.S.One for s in totals}))
        return factored(out) if not out.has(sp.Sum) else out, assumption

    @cached_property
    def params(self) -> dict[str, ParamRule]:
        """Every parameter's gradient of one sample, summed over the nodes that read it."""
        out = {}
        for param in self.graph.params:
            index = (i, j) if len(param.shape) == 2 else (j,)
            uses = []
            for node in self.graph.nodes:
                rule = self.nodes[node.name]
                if param.name not in rule.params:
                    continue
                share = rule.params[param.name]
                above = self._composed(node.name)
                share = share.replace(lambda e: isinstance(e, sp.Indexed) and e.base == rule.grad,
                                      lambda e: _at(above, e.indices[0]))
                uses.append((node.name, _tidy(share, {})))
            decayed = decay(self.param_array(param.name)[index]) if param.decayed and self.graph.l2 else sp.S.Zero
            out[param.name] = ParamRule(param, index, tuple(uses), sp.Add(*(u for _, u in uses)).subs(GE, 1), decayed)
        return out


def _widths(graph: Graph) -> tuple[dict[str, sp.Expr], dict[sp.Symbol, sp.Expr]]:
    """Every node's width in symbols, and the widths a graph makes equal: those its kinds make one (both sides of
    a sum of two nodes: h⁽²⁾ + a⁽¹⁾, n2 is n1), a tied layer and its weight's other side (W1ᵀ: as wide as W1 is tall), each later
    width named by the earlier one."""
    raw: dict[str, sp.Expr] = {INPUT: width(0)}
    equal: list[tuple[sp.Expr, sp.Expr]] = []
    for node in graph.nodes:
        layer = kind(node.kind)
        ins = [raw[n] for n in node.inputs if n != TARGET]
        if layer.is_loss:
            raw[TARGET] = raw[node.inputs[0]]
            raw[node.name] = sp.S.One
            continue
        raw[node.name] = layer.width_expr(node, ins)
        equal += layer.equal_widths(node, ins)
        tie = dict(node.options).get("W") if layer is DENSE else None
        if isinstance(tie, Tie):
            owner = graph.owner(tie.param)
            equal.append((raw[node.name], raw[owner.inputs[0]] if tie.transposed else raw[owner.name]))
    same: dict[sp.Symbol, sp.Expr] = {}

    def resolve(e: sp.Expr) -> sp.Expr:
        for _ in range(len(same) + 1):
            new = e.xreplace(same)
            if new == e:
                return e
            e = new
        return e

    def order(s: sp.Symbol) -> int:
        return int(s.name[1:]) if s.name[1:].isdigit() else 0

    for a, b in equal:
        a, b = resolve(a), resolve(b)
        if a == b:
            continue
        if isinstance(a, sp.Symbol) and (not isinstance(b, sp.Symbol) or order(a) > order(b)):
            same[a] = b
        elif isinstance(b, sp.Symbol):
            same[b] = a
    same = {k: resolve(v) for k, v in same.items()}
    return {name: w.xreplace(same) for name, w in raw.items()}, same


def rules(spec: Spec) -> GraphRules:
    """The index form of ``spec``'s graph (cached per graph)."""
    graph = spec.graph if isinstance(spec, Network) else spec
    return _rules(graph)


_CACHE: dict[Graph, GraphRules] = {}


def _rules(graph: Graph) -> GraphRules:
    if graph not in _CACHE:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[graph] = GraphRules(graph)
    return _CACHE[graph]


# -- index bookkeeping --------------------------------------------------------------------------------------
def contract(expr: sp.Expr) -> sp.Expr:
    """Every Σ over a Kronecker delta evaluated: Σⱼ f(hⱼ)·δⱼₚ·gⱼ → f(hₚ)·gₚ, the factors left as they are
    (a term whose delta is not one of its factors is expanded and handed to SymPy's ``deltasummation``)."""
    def one(s: sp.Sum) -> sp.Expr:
        (var, lo, hi), = s.limits
        out = sp.S.Zero
        for term in sp.Add.make_args(s.function):
            factors = sp.Mul.make_args(term)
            hit = next((f for f in factors if isinstance(f, sp.KroneckerDelta) and var in f.args), None)
            if hit is not None:
                other = hit.args[1] if hit.args[0] == var else hit.args[0]
                out += sp.Mul(*(f for f in factors if f is not hit)).xreplace({var: other})
            elif term.has(sp.KroneckerDelta) and any(var in k.args for k in term.atoms(sp.KroneckerDelta)):
                out += collapse(sp.Sum(term, (var, lo, hi)))
            else:
                out += sp.Sum(term, (var, lo, hi))
        return out

    out = expr.replace(lambda e: isinstance(e, sp.Sum), one)
    return out.replace(lambda e: isinstance(e, sp.Sum) and e.function == 0, lambda e: sp.S.Zero)


def _at(expr: sp.Expr, index: sp.Expr) -> sp.Expr:
    """``expr``, a function of the free index p, at ``index``; its sums' own indices renamed first so that
    ``index`` cannot be captured by one of them."""
    return _fresh(expr).xreplace({p: index})


def _fresh(expr: sp.Expr) -> sp.Expr:
    """Every sum's index a new dummy (integer, positive)."""
    def renamed(s: sp.Sum) -> sp.Sum:
        (var, lo, hi), = s.limits
        new = sp.Dummy(var.name, integer=True, positive=True)
        return sp.Sum(s.function.xreplace({var: new}), (new, lo, hi))

    return expr.replace(lambda e: isinstance(e, sp.Sum), renamed)


def _rename_free(expr: sp.Expr, mapping: dict[sp.Symbol, sp.Symbol]) -> sp.Expr:
    """Free indices renamed (r, s → i, j), a sum over one of the new names renamed out of the way first."""
    return _fresh(expr).xreplace(mapping) if expr.has(sp.Sum) else expr.xreplace(mapping)


def _tidy(expr: sp.Expr, free: dict[sp.Symbol, sp.Symbol]) -> sp.Expr:
    """Free indices renamed (p → j) and every sum's index named l, q, r, … (the first not in use there)."""
    expr = _fresh(expr).xreplace(free) if expr.has(sp.Sum) else expr.xreplace(free)

    def name_sums(e: sp.Expr, taken: frozenset) -> sp.Expr:
        if isinstance(e, sp.Sum):
            (var, lo, hi), = e.limits
            used = taken | {s for s in e.function.free_symbols if s != var}
            new = next(b for b in _BOUND if b not in used)
            return sp.Sum(name_sums(e.function.xreplace({var: new}), taken | {new}), (new, lo, hi))
        if not e.args or e.is_Atom or isinstance(e, sp.Indexed):
            return e
        return e.func(*(name_sums(a, taken) for a in e.args))

    return name_sums(expr, frozenset(expr.free_symbols))


def _pulled(expr: sp.Expr) -> sp.Expr:
    """Sums of sums split, and the factors of a sum's terms that do not read its index taken out of it."""
    def pull(s: sp.Sum) -> sp.Expr:
        (var, lo, hi), = s.limits
        body = sp.expand(s.function)
        out = sp.S.Zero
        for term in sp.Add.make_args(body):
            inside = sp.Mul(*(f for f in sp.Mul.make_args(term) if f.has(var)))
            outside = sp.Mul(*(f for f in sp.Mul.make_args(term) if not f.has(var)))
            out += outside * (sp.Sum(inside, (var, lo, hi)) if inside != 1 else hi - lo + 1)
        return out

    return expr.replace(lambda e: isinstance(e, sp.Sum), pull)


def _is_total_of(s: sp.Sum, y: sp.IndexedBase) -> bool:
    """Whether a Sum is Σ_q y_q over its index."""
    (var, _, _), = s.limits
    return isinstance(s.function, sp.Indexed) and s.function.base == y and s.function.indices == (var,)


__all__ = ["DeltaRule", "GraphRules", "NodeRule", "ParamRule", "rules", "E"]
