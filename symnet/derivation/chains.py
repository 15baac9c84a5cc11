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

from symnet.functions.activations import IDENTITY, SOFTMAX, Activation, Lemma, lemma
from symnet.functions.losses import LOSSES
from symnet.errors import UnknownName
from symnet.derivation.model import Model
from symnet.derivation.names import E, Name, parse_name, symbol
from symnet.functions.regularisers import decay, l2_penalty
from symnet.functions.simplest import factored
from symnet.spec import Network

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

    Paths and the written-out result are built on first use: a 64-32-10 net has 2,410 chains and a
    write-up shows a handful of them.
    """

    def __init__(self, derivation: "Derivation", param: sp.Symbol, local: Factor, delta: sp.Symbol):
        self._d = derivation
        self.param, self.local, self.delta = param, local, delta

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
        return self.local.compact * self._d.expand_deltas(self._d.delta(self.local.of).expr) + self.decay

    @property
    def via_delta(self) -> sp.Expr:
        """∂E/∂θ = ∂h/∂θ · δ (+ λθ for a weight under L2 decay) — the back-propagation form."""
        return self.backprop + self.decay

    @property
    def backprop(self) -> sp.Expr:
        """∂h/∂θ · δ, the part of ∂E/∂θ that comes through the sample's loss."""
        return self.local.compact * self.delta

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

    def __init__(self, net: Network):
        self.net = net
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

    def all_deltas(self) -> list[Delta]:
        return [self.delta(hk) for k in range(self.net.depth, 0, -1) for hk in self.model.h[k]]


    # -- public API ---------------------------------------------------------------------
    def symbol(self, name: str | sp.Symbol) -> sp.Symbol:
        """The symbol of a plain-text name (``W1[1,1]``, ``h2[1]``, ``yhat``, ``E``), checked against this net."""
        if isinstance(name, sp.Symbol):
            name = name.name
        parsed = parse_name(name)
        sym = symbol(parsed) if parsed else None
        known = sym is not None and (sym == E or sym in self._up or sym in self.model.definitions)
        if not known and sym is not None and parse_name(sym.name).kind == "y":
            known = sym in self.model.y
        if not known:
            raise UnknownName(f"{name!r} is not a quantity of the {self.net.compact} network; "
                           f"names look like {self.model.params[0]}, {self.model.b[1][0]}, "
                           f"{self.model.h[1][0]}, {self.model.x[0]}, {self.model.yhat[0]}")
        return sym

    def chain(self, param: str | sp.Symbol) -> Chain:
        """The chain rule for ∂E/∂θ, e.g. ``d.chain("W1[1,1]")``."""
        sym = self.symbol(param)
        if sym not in self._chains:
            if parse_name(sym.name).kind not in ("W", "b"):
                raise UnknownName(f"{param!r} is not a parameter; parameters are W<k>[i,j] and b<k>[j]")
            (hk,) = self._up[sym]
            self._chains[sym] = Chain(self, sym, self.local(hk, sym), self.delta(hk).symbol)
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
            if name.kind != "h":
                raise UnknownName(f"{h!r} is not a pre-activation h<k>[j]; deltas are defined for those")
            self._deltas[sym] = self._derive_delta(name.layer, name.index[0] - 1, sym)
        return self._deltas[sym]

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
        kind = parse_name(wrt_s.name).kind
        if of_s == E and kind in ("W", "b"):
            return self.chain(wrt_s).result
        if of_s == E and kind == "h":
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
        names = dict.fromkeys(a for a in self.net.activations if a not in (IDENTITY, SOFTMAX))
        return [lemma(n) for n in names]

    def decay(self, param: sp.Symbol) -> sp.Expr:
        """∂/∂θ of the cost's L2 term: λθ for a weight, 0 for a bias or without decay."""
        if not self.net.l2 or parse_name(param.name).kind != "W":
            return sp.S.Zero
        return decay(param)

    @cached_property
    def penalty(self) -> sp.Expr:
        """The cost's L2 term (λ/2)·Σ W² over every weight (0 without decay); in every sample's E."""
        if not self.net.l2:
            return sp.S.Zero
        return l2_penalty(s for k in range(1, self.net.depth + 1) for row in self.model.W[k] for s in row)

    def layer_rule(self, k: int):
        """The layer (index) form for layer k: δ⁽ᵏ⁾ⱼ and ∂E/∂W⁽ᵏ⁾ᵢⱼ, ∂E/∂b⁽ᵏ⁾ⱼ for any width."""
        from symnet.derivation.layer_form import layer_rule

        if not 1 <= k <= self.net.depth:
            raise ValueError(f"layer {k} does not exist; layers with weights are 1..{self.net.depth}")
        return layer_rule(self.net, k)



    def __repr__(self) -> str:
        return f"<Derivation of {self.net.describe()}: {self.net.n_params} parameters>"

    # -- construction -------------------------------------------------------------------
    def _local(self, of: sp.Symbol, wrt: sp.Symbol) -> Factor:
        m = self.model
        if of == E:
            value = sp.diff(m.loss, wrt)
            return Factor(of, wrt, value, value, "loss")
        definition = m.definitions[of]
        kind = parse_name(wrt.name).kind
        if kind in ("W", "b", "a", "x") or (kind == "yhat" and of.name.startswith("h")):
            # sum rule: only the term of h = Σ W a + b that contains wrt has a nonzero derivative
            value = sp.diff(m.inputs[of][wrt], wrt)
            rule = {"W": "weight", "b": "bias"}.get(kind, "input")
            return Factor(of, wrt, value, value, rule)
        # of is an activation output, wrt its pre-activation
        if isinstance(definition, Activation) or definition == wrt:
            value = sp.diff(definition, wrt)
            compact = value.xreplace({definition: of}) if definition != wrt else value
            return Factor(of, wrt, value, compact, "activation")
        return Factor(of, wrt, *self._softmax_entry(of, wrt), SOFTMAX)

    def _softmax_entry(self, of: sp.Symbol, wrt: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
        """∂ŷₘ/∂hⱼ of the softmax, derived: differentiate, then write e^{hᵢ} = ŷᵢ·S."""
        m = self.model
        L = self.net.depth
        definition = m.definitions[of]
        total = sp.Add(*(sp.exp(hk) for hk in m.h[L]))
        S = sp.Symbol("S", positive=True)
        raw = sp.diff(definition, wrt).subs(total, S)
        raw = raw.subs({sp.exp(hk): p * S for hk, p in zip(m.h[L], m.yhat)})
        compact = sp.factor(sp.simplify(raw))
        return compact, compact

    def _derive_delta(self, k: int, j: int, hk: sp.Symbol) -> Delta:
        m = self.model
        L = self.net.depth
        dsym = symbol(Name("delta", k, (j + 1,)))
        if k == L:
            if self.net.output == SOFTMAX:
                terms = sp.Add(*(self.local(E, p).compact * self.local(p, hk).compact for p in m.yhat))
            else:
                p = m.yhat[j]
                terms = self.local(E, p).compact * self.local(p, hk).compact
            assumption = None
            expr = terms
            if LOSSES[self.net.loss].one_hot:
                # one-hot targets sum to 1; eliminate a target other than yⱼ so the result keeps yⱼ
                other = m.y[-1] if j != len(m.y) - 1 else m.y[0]
                assumption = sp.Eq(sp.Add(*m.y), 1)
                expr = expr.subs(other, 1 - (sp.Add(*m.y) - other))
            expr = factored(expr)
            return Delta(dsym, hk, terms, expr, assumption)
        a = m.a[k][j]
        f_prime = self.local(a, hk).compact
        upstream = sp.Add(*(self.local(up, a).compact * self.delta(up).symbol for up in self._up[a]))
        terms = upstream * f_prime
        return Delta(dsym, hk, terms, terms)

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


def derive(net: Network | str, **spec_options: str) -> Derivation:
    """``symnet.derive(net)`` or ``symnet.derive("2-2-1", hidden="sigmoid")``."""
    if isinstance(net, str):
        net = Network.load(net, **spec_options)
    return Derivation(net)



def _small(net: Network) -> bool:
    """Whether written-out gradients stay readable (and cheap): the paths per weight are few."""
    return prod(net.layers[1:]) * (net.layers[-1] if net.output == SOFTMAX else 1) <= MAX_PATHS
