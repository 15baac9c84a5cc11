"""The chain-rule derivation: the one object every emitter reads.

The network is a graph of named quantities (x → h⁽¹⁾ → a⁽¹⁾ → … → ŷ → E).  Each edge carries a
*local* derivative, taken by SymPy from the short definition of the quantity it ends in.  From these:

* a :class:`Chain` per parameter θ: every path from E down to θ, each a product of :class:`Factor` s,
  summed over the paths — the articles' ∂E/∂ŷ · ∂ŷ/∂h · ∂h/∂a₁ · ∂a₁/∂h₁ · ∂h₁/∂W⁽¹⁾₁₁;
* a :class:`Delta` per neuron, δ⁽ᵏ⁾ⱼ = ∂E/∂h⁽ᵏ⁾ⱼ, computed once from the deltas of the layer above
  and shared by every parameter that reaches E through that neuron — which is back-propagation;
* the layer (index) form per layer (:mod:`symnet.derivation.layer_form`), the same rule for any width.

E here is the error of one sample, as in the articles; the error over m samples is the mean, so
∂E/∂θ over a batch is the mean of the per-sample gradients.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from math import prod

import sympy as sp

from symnet.functions.activations import ACTIVATION_CLASSES, SOFTMAX, Lemma, lemma
from symnet.functions.layers import BIAS, DENSE, WEIGHT, kind
from symnet.functions.losses import LOSSES
from symnet.errors import UnknownName
from symnet.derivation.model import Model, flat, graph_of, named_yhat
from symnet.derivation.names import E, Name, parse_name, symbol
from symnet.functions.regularisers import decay, l2_penalty
from symnet.functions.simplest import factored
from symnet.spec import Graph, Network, Spec

#: above this many paths a chain is shown through its deltas only (the sum would not be readable)
MAX_PATHS = 256


@dataclass(frozen=True)
class Factor:
    """One local derivative ∂of/∂wrt: ``value`` as differentiation gives it, ``compact`` in the
    forward quantities (σ(h)(1 − σ(h)) and ŷ(1 − ŷ)); ``rule`` names where it comes from."""

    of: sp.Symbol
    wrt: sp.Symbol
    value: sp.Expr
    compact: sp.Expr
    rule: str  # loss | activation | softmax | input | weight | bias

    @property
    def derivative(self) -> sp.Derivative:
        """The unevaluated ∂of/∂wrt, for printing."""
        return sp.Derivative(self.of, self.wrt, evaluate=False)



@dataclass(frozen=True)
class Path:
    """One route from E down to a quantity: its factors in chain order (E first)."""

    factors: tuple[Factor, ...]

    @property
    def product(self) -> sp.Expr:
        return sp.Mul(*(f.compact for f in self.factors))


@dataclass(frozen=True)
class Delta:
    """δ⁽ᵏ⁾ⱼ = ∂E/∂h⁽ᵏ⁾ⱼ: ``terms`` the chain-rule sum before simplifying (in the deltas of the
    layer above, or the loss factors at the output), ``expr`` the simplified rule."""

    symbol: sp.Symbol
    h: sp.Symbol
    terms: sp.Expr
    expr: sp.Expr
    assumption: sp.Eq | None = None  # Σⱼ yⱼ = 1 for softmax + cce



class Chain:
    """∂E/∂θ by the chain rule: ``paths`` from E down to θ (None when too many to list), the factor
    ∂h/∂θ and the delta it multiplies, and ``result`` written out in the forward quantities.

    A parameter used once (every parameter of a layer list) has one ``local`` factor and ``delta``; a tied
    weight has one of each per use (``uses``), and its ∂E/∂θ is their sum.

    Paths and the written-out result are built on first use: a 64-32-10 net has 2,410 chains and a
    write-up shows a handful of them.
    """

    def __init__(self, derivation: "Derivation", param: sp.Symbol, uses: list[tuple[Factor, sp.Expr]]):
        self._d = derivation
        self.param, self.uses = param, tuple(uses)
        self.local, self.delta = uses[0]

    @cached_property
    def paths(self) -> tuple[Path, ...] | None:
        if self._d.count_paths(E, self.param) > MAX_PATHS:
            return None
        return self._d.paths(E, self.param)

    @cached_property
    def result(self) -> sp.Expr:
        """∂E/∂θ in x, y, the parameters and the forward quantities (via the deltas for big nets)."""
        if not _small(self._d.net):
            return self.via_delta
        return sp.Add(*(f.compact * self._d.expand_deltas(g) for f, g in self.uses)) + self.decay

    @property
    def via_delta(self) -> sp.Expr:
        """∂E/∂θ = ∂h/∂θ · δ (+ λθ for a weight under L2 decay) — the back-propagation form."""
        return self.backprop + self.decay

    @property
    def backprop(self) -> sp.Expr:
        """∂h/∂θ · δ (summed over a tied weight's uses), the part of ∂E/∂θ that comes through the sample's loss."""
        return sp.Add(*(f.compact * g for f, g in self.uses))

    @property
    def decay(self) -> sp.Expr:
        """λθ for a weight when the cost has L2 decay, else 0."""
        return self._d.decay(self.param)

    @property
    def path_sum(self) -> sp.Expr:
        if self.paths is None:
            raise ValueError(f"{self.param} has too many paths to list; use the delta form")
        return sp.Add(*(p.product for p in self.paths))

    def __repr__(self) -> str:
        return f"<Chain dE/d{self.param} = {self.via_delta}>"



class Derivation:
    """Every ∂E/∂θ of a network, in scalar form (chains, shared deltas) and layer form."""

    def __init__(self, net: Spec):
        self.net = net
        self.graph: Graph = graph_of(net)
        self._grads: dict[sp.Symbol, sp.Expr] = {}
        self._factors: dict[tuple[sp.Symbol, sp.Symbol], Factor] = {}
        self._path_counts: dict[sp.Symbol, dict[sp.Symbol, int]] = {}
        # deltas and chains are derived on first use, each delta once: a write-up of 784-256-10
        # needs a handful, a kernel of 2-2-1 all of them
        self._deltas: dict[sp.Symbol, Delta] = {}
        self._chains: dict[sp.Symbol, Chain] = {}

    @cached_property
    def model(self) -> Model:
        """The scalar model, one symbol per quantity; built on first use (the layer form and the
        kernels of wide nets never need it)."""
        return Model(self.net)

    @cached_property
    def _up(self) -> dict[sp.Symbol, list[sp.Symbol]]:
        """The graph: each quantity → the quantities it feeds (the local derivative sits on the edge)."""
        up: dict[sp.Symbol, list[sp.Symbol]] = {}
        for sym, reads in self.model.inputs.items():
            for src in reads:
                up.setdefault(src, []).append(sym)
        for p in self.model.yhat:
            up.setdefault(p, []).append(E)
        return up

    @cached_property
    def _cuts(self) -> dict[sp.Symbol, sp.Symbol]:
        """The units whose ∂E/∂· is a delta of its own (the dense layers' outputs h⁽ᵏ⁾ⱼ, each its δ⁽ᵏ⁾ⱼ), and the
        units that share one: a unit that is the one consumer of such an h with ∂/∂h = 1 (the sum of a skip
        connection h + a) has the same ∂E/∂·, so it is written with that δ — the last such layer's when two
        feed one sum, as in :meth:`symnet.derivation.rules.GraphRules._cuts`: its δ comes first going back."""
        m, cuts = self.model, {}
        for node in self.graph.nodes:
            if node.kind != DENSE.name:
                continue
            for j, h in enumerate(m.units[node.name], start=1):
                cuts[h] = symbol(Name("delta", node.number, (j,)))
        for h, delta in reversed(list(cuts.items())):
            (after, *more) = self._up.get(h, [None])
            if not more and after is not None and after != E and after not in cuts and self.local(after, h).compact == 1:
                cuts[after] = delta
        return cuts

    def all_deltas(self) -> list[Delta]:
        """Every δ, the output layer's first (from the last dense layer down)."""
        dense = [n for n in self.graph.nodes if n.kind == DENSE.name]
        return [self.delta(h) for n in reversed(dense) for h in self.model.units[n.name]]


    # -- public API ---------------------------------------------------------------------
    def symbol(self, name: str | sp.Symbol) -> sp.Symbol:
        """The symbol of a plain-text name (``W1[1,1]``, ``h2[1]``, ``yhat``, ``E``), checked against this net."""
        if isinstance(name, sp.Symbol):
            name = name.name
        parsed = _canonical(self.graph, parse_name(name))
        sym = symbol(parsed) if parsed else None
        known = sym is not None and (sym == E or sym in self._up or sym in self.model.definitions)
        if not known and sym is not None and parse_name(sym.name).kind == "y":
            known = sym in self.model.y
        if not known:
            m = self.model
            examples = [m.params[0], *(m.units[n.name][0] for n in self.graph.nodes[:-1][:2]), m.x[0], m.yhat[0]]
            raise UnknownName(f"{name!r} is not a quantity of the {self.net.compact} network; "
                              f"names look like {', '.join(map(str, dict.fromkeys(examples)))}")
        return sym

    def chain(self, param: str | sp.Symbol) -> Chain:
        """The chain rule for ∂E/∂θ, e.g. ``d.chain("W1[1,1]")``."""
        sym = self.symbol(param)
        if sym not in self._chains:
            if sym not in self.model.param_symbols:
                raise UnknownName(f"{param!r} is not a parameter; parameters are W<k>[i,j] and b<k>[j]")
            self._chains[sym] = Chain(self, sym, [(self.local(u, sym), self.grad(u)) for u in self._up[sym]])
        return self._chains[sym]

    def gradient(self, param: str | sp.Symbol, *, via_deltas: bool = False) -> sp.Expr:
        """∂E/∂θ for one sample: written out in the forward quantities, or as ∂h/∂θ · δ."""
        c = self.chain(param)
        return c.via_delta if via_deltas else c.result

    def delta(self, h: str | sp.Symbol) -> Delta:
        """δ = ∂E/∂h for a pre-activation, ``d.delta("h1[2]")``."""
        sym = self.symbol(h)
        if sym not in self._deltas:
            name = parse_name(sym.name)
            if name.kind != "h" or sym not in self._cuts:
                raise UnknownName(f"{h!r} is not a pre-activation h<k>[j]; deltas are defined for those")
            self._deltas[sym] = self._derive_delta(sym)
        return self._deltas[sym]

    def grad(self, q: sp.Symbol) -> sp.Expr:
        """∂E/∂q for one unit of any node, upstream times local at every node above it, written in the
        deltas of the dense layers it reaches (δ⁽ᵏ⁾ⱼ itself for h⁽ᵏ⁾ⱼ and the units that share it)."""
        if q == E:
            return sp.S.One
        if q in self._cuts:
            return self._cuts[q]
        return self._upstream(q)

    def _upstream(self, q: sp.Symbol) -> sp.Expr:
        """Σ over the units u that q feeds of ∂u/∂q · ∂E/∂u."""
        if q not in self._grads:
            self._grads[q] = sp.Add(*(self.local(u, q).compact * self.grad(u) for u in self._up.get(q, [])))
        return self._grads[q]

    def local(self, of: sp.Symbol, wrt: sp.Symbol) -> Factor:
        """The local derivative on the edge wrt → of (of must be fed directly by wrt)."""
        key = (of, wrt)
        if key not in self._factors:
            self._factors[key] = self._local(of, wrt)
        return self._factors[key]

    def paths(self, of: str | sp.Symbol, wrt: str | sp.Symbol) -> tuple[Path, ...]:
        """Every path from ``of`` down to ``wrt`` (E first), each a product of local factors."""
        of_s, wrt_s = self.symbol(of), self.symbol(wrt)
        n = self.count_paths(of_s, wrt_s)
        if n > MAX_PATHS:
            raise ValueError(f"{n} paths from {of_s} to {wrt_s}: too many to list (at most {MAX_PATHS})")
        return tuple(Path(tuple(reversed(fs))) for fs in self._walk(wrt_s, of_s))

    def count_paths(self, of: sp.Symbol, wrt: sp.Symbol) -> int:
        """How many paths lead from ``of`` down to ``wrt`` (counted once per ``of``, then looked up)."""
        counts = self._path_counts.setdefault(of, {of: 1})

        def count(node: sp.Symbol) -> int:
            if node not in counts:
                counts[node] = sum(count(up) for up in self._up.get(node, []))
            return counts[node]

        return count(wrt)

    def derivative(self, of: str | sp.Symbol, wrt: str | sp.Symbol) -> sp.Expr:
        """d(of)/d(wrt) for any two quantities: the sum over paths of the products of local factors."""
        of_s, wrt_s = self.symbol(of), self.symbol(wrt)
        if of_s == E and wrt_s in self.model.param_symbols:
            return self.chain(wrt_s).result
        if of_s == E and parse_name(wrt_s.name).kind == "h" and wrt_s in self._cuts:
            return self.expand_deltas(self.delta(wrt_s).expr)
        if self.count_paths(of_s, wrt_s) > MAX_PATHS:
            raise ValueError(f"too many paths from {of_s} to {wrt_s}")
        return sp.Add(*(p.product for p in self.paths(of_s, wrt_s)))

    def expand_deltas(self, expr: sp.Expr) -> sp.Expr:
        """Write every δ in ``expr`` out in the forward quantities."""
        while True:
            found = [s for s in expr.free_symbols if s.name.startswith("delta")]
            if not found:
                return expr
            expr = expr.xreplace({s: self.delta(f"h{s.name[5:]}").expr for s in found})

    @cached_property
    def lemmas(self) -> list[Lemma]:
        """The derivative lemmas of the activations this network uses (softmax's is in ``softmax_jacobian``)."""
        names = dict.fromkeys(n.kind for n in self.graph.nodes if n.kind in ACTIVATION_CLASSES)
        return [lemma(n) for n in names]

    @cached_property
    def _decayed(self) -> set[sp.Symbol]:
        return {s for p in self.graph.params if p.decayed for s in flat(self.model.arrays[p.name])}

    def decay(self, param: sp.Symbol) -> sp.Expr:
        """∂/∂θ of the cost's L2 term: λθ for a weight, 0 for a bias or without decay."""
        if not self.graph.l2 or param not in self._decayed:
            return sp.S.Zero
        return decay(param)

    @cached_property
    def penalty(self) -> sp.Expr:
        """The cost's L2 term (λ/2)·Σ W² over every weight (0 without decay); in every sample's E."""
        if not self.graph.l2:
            return sp.S.Zero
        return l2_penalty(s for p in self.graph.params if p.decayed for s in flat(self.model.arrays[p.name]))

    def layer_rule(self, k: int):
        """The layer (index) form for layer k: δ⁽ᵏ⁾ⱼ and ∂E/∂W⁽ᵏ⁾ᵢⱼ, ∂E/∂b⁽ᵏ⁾ⱼ for any width."""
        from symnet.derivation.layer_form import layer_rule

        if not isinstance(self.net, Network):
            raise ValueError("the layer form by layer number is a layer list's; a graph's is in symnet.derivation.rules")
        if not 1 <= k <= self.net.depth:
            raise ValueError(f"layer {k} does not exist; layers with weights are 1..{self.net.depth}")
        return layer_rule(self.net, k)



    def __repr__(self) -> str:
        return f"<Derivation of {self.net.describe()}: {self.graph.n_params} parameters>"

    # -- construction -------------------------------------------------------------------
    def _local(self, of: sp.Symbol, wrt: sp.Symbol) -> Factor:
        m = self.model
        if of == E:
            value = sp.diff(m.loss, wrt)
            return Factor(of, wrt, value, value, "loss")
        # sum rule: only the term of the definition that contains wrt has a nonzero derivative
        value = sp.diff(m.inputs[of][wrt], wrt)
        if wrt in m.param_symbols:
            return Factor(of, wrt, value, value, {WEIGHT: "weight", BIAS: "bias"}.get(m.role[wrt], "parameter"))
        node = self.graph.by_name[m.owner[of]]
        layer = kind(node.kind)
        if node.kind == DENSE.name:
            return Factor(of, wrt, value, value, "input")
        # written in the node's own outputs: σ(h)(1 − σ(h)) as a(1 − a), e^{hⱼ}/Σ e^{hₗ} as ŷⱼ
        outputs = {s: m.definitions[s] for s in m.units[node.name]}
        compact = layer.named_scalar(value, outputs if not layer.elementwise else {of: m.definitions[of]})
        rule = "activation" if layer.elementwise else node.kind
        return Factor(of, wrt, compact if rule != "activation" else value, compact, rule)

    def _derive_delta(self, hk: sp.Symbol) -> Delta:
        """δ = ∂E/∂h: upstream times local over every unit h feeds, each upstream a delta of a dense layer
        above or (at the output) the loss's factors; simplified where it reaches the loss directly."""
        m = self.model
        dsym = self._cuts[hk]
        # a unit that shares h's delta (its one consumer, with ∂/∂h = 1) is where that delta is defined
        terms = sp.Add(*(self.local(u, hk).compact * (self._upstream(u) if self._cuts.get(u) == dsym else self.grad(u))
                         for u in self._up.get(hk, [])))
        if terms.has(*set(self._cuts.values())):
            return Delta(dsym, hk, terms, terms)
        assumption = None
        expr = terms
        if LOSSES[self.graph.loss].one_hot and terms.free_symbols & set(m.y):
            # one-hot targets sum to 1; eliminate a target other than yⱼ so the result keeps yⱼ
            j = parse_name(hk.name).index[0] - 1
            other = m.y[-1] if j != len(m.y) - 1 else m.y[0]
            assumption = sp.Eq(sp.Add(*m.y), 1)
            expr = expr.subs(other, 1 - (sp.Add(*m.y) - other))
        expr = factored(expr)
        return Delta(dsym, hk, terms, expr, assumption)

    def _walk(self, node: sp.Symbol, target: sp.Symbol):
        """Paths from node up to target, each as the list of factors from the bottom up."""
        if node == target:
            yield []
            return
        for up in self._up.get(node, []):
            if self.count_paths(target, up) == 0:
                continue
            head = self.local(up, node)
            for rest in self._walk(up, target):
                yield [head, *rest]


def derive(net: Spec | str, **spec_options: str) -> Derivation:
    """``symnet.derive(net)`` or ``symnet.derive("2-2-1", hidden="sigmoid")``, or a graph spec's file."""
    if isinstance(net, str):
        from symnet.spec import load

        net = load(net, **spec_options)
    return Derivation(net)


def _canonical(graph: Graph, name: Name | None) -> Name | None:
    """A name as the model spells it: a node's alias (``z[1]`` for ``h1[1]``, ``out[2]`` for the prediction's
    ``yhat[2]``) resolved."""
    if name is None or not name.index or name.kind in ("x", "y", "W", "b", "delta"):
        return name
    node = graph.resolve(name.node if name.kind != "yhat" else "yhat")
    if named_yhat(graph, node):
        return Name("yhat", None, name.index if graph.widths[node] > 1 else ())
    return Name.of_node(node, name.index) if node in graph.by_name else name


def _small(net: Spec) -> bool:
    """Whether written-out gradients stay readable (and cheap): the paths per weight are few."""
    if isinstance(net, Network):
        return prod(net.layers[1:]) * (net.layers[-1] if net.output == SOFTMAX else 1) <= MAX_PATHS
    return net.n_params <= 60
