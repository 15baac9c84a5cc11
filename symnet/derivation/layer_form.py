"""The layer (index) form: the chain rule derived once per layer, for any width.

Quantities are SymPy ``IndexedBase`` objects (h⁽ᵏ⁾ⱼ is ``h1[j]``), layer sums are ``Sum`` over a
symbolic width, and every derivative is taken by SymPy: the Kronecker deltas that differentiating a sum
produces are collapsed with ``deltasummation``.  Nothing here depends on the layer widths, so deriving
784-256-10 costs what 2-2-1 does.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp
from sympy.concrete.delta import deltasummation

from symnet.functions.layers import Layer, Node, kind
from symnet.functions.losses import LOSSES
from symnet.functions.regularisers import decay
from symnet.functions.simplest import factored
from symnet.derivation.names import E
from symnet.spec import Network

i, j, l, q = sp.symbols("i j l q", integer=True, positive=True)
_p = sp.Symbol("p", integer=True, positive=True)  # a free index distinct from the bound i of Σᵢ


def width(k: int) -> sp.Symbol:
    """n_k, the symbolic width of layer k."""
    return sp.Symbol(f"n{k}", integer=True, positive=True)


def base(kind: str, k: int | None, L: int) -> sp.IndexedBase:
    """The array of a quantity: W1, b1, h1, a1 (x for a0, yhat for aL), delta1, y."""
    if kind == "a" and k == 0:
        return sp.IndexedBase("x", real=True)
    if kind == "a" and k == L:
        return sp.IndexedBase("yhat", real=True)
    return sp.IndexedBase(kind if k is None else f"{kind}{k}", real=True)


@dataclass(frozen=True)
class LayerRule:
    """Back-propagation through layer k, for any widths.

    ``h`` and ``a`` are the layer's definitions (hⱼ = Σᵢ Wᵢⱼ aᵢ + bⱼ, aⱼ = f(hⱼ));
    ``delta_terms`` the chain-rule sum as differentiation gives it and ``delta`` the rule after
    collapsing the sums; ``dW`` and ``db`` the parameter gradients of one sample in terms of δ.
    """

    k: int
    is_output: bool
    h: sp.Eq
    a: sp.Eq
    local: dict[str, sp.Expr]  # ∂E/∂ŷ, ∂ŷ/∂h or f′(h), ∂h_next/∂a, ∂h/∂W, ∂h/∂b — each derived
    delta_terms: sp.Expr
    delta: sp.Eq
    dW: sp.Eq
    db: sp.Eq
    assumption: sp.Eq | None
    #: λ·Wᵢⱼ, ∂/∂Wᵢⱼ of the cost's L2 term, added once per batch to the mean of dW (0 without decay)
    decay: sp.Expr = sp.S.Zero



def collapse(expr: sp.Expr) -> sp.Expr:
    """Evaluate every Sum over a Kronecker delta (Σᵢ Wᵢₗ aᵢ δᵢⱼ → Wⱼₗ)."""
    def one(s: sp.Sum) -> sp.Expr:
        (var, lo, hi) = s.limits[0]
        body = sp.expand(s.function)
        if not body.has(sp.KroneckerDelta):
            return s
        return deltasummation(body, (var, lo, hi), no_piecewise=True)

    out = expr.replace(lambda e: isinstance(e, sp.Sum), one)
    return out.replace(lambda e: isinstance(e, sp.Sum) and e.function == 0, lambda e: sp.S.Zero)


@cache
def layer_rule(net: Network, k: int) -> LayerRule:
    L = net.depth
    W, b, h = base("W", k, L), base("b", k, L), base("h", k, L)
    a_prev, a = base("a", k - 1, L), base("a", k, L)
    n_prev, n_k = width(k - 1), width(k)
    f = _activation(net, k)
    h_def = sp.Sum(W[i, j] * a_prev[i], (i, 1, n_prev)) + b[j]
    a_def = _defined(f, h, j, n_k)
    dh_dW = collapse(sp.diff(h_def, W[_p, j])).xreplace({_p: i})
    dh_db = collapse(sp.diff(h_def, b[j]))
    delta_sym = base("delta", k, L)
    assumption = None
    if k == L:
        y = base("y", None, L)
        loss = LOSSES[net.loss].indexed(a, y, q, n_k)
        # ∂E/∂hⱼ with ŷ written in h: differentiate, collapse, then name ŷ again
        dE_dyhat = collapse(sp.diff(loss, a[j]))
        # ∂ŷ_q/∂h_j: the softmax couples every output; an elementwise f only its own (q = j)
        out_idx = j if f[0].elementwise else q
        dyhat_dh = _name_outputs(collapse(sp.diff(_defined(f, h, out_idx, n_k).rhs, h[j])), f, h, a, n_k)
        if not f[0].elementwise:
            # every output depends on hⱼ: Σ_q ∂E/∂ŷ_q ∂ŷ_q/∂hⱼ, differentiated with ŷ written in h
            terms = sp.diff(loss.xreplace({a[q]: _defined(f, h, q, n_k).rhs}), h[j])
            rule = _name_outputs(collapse(terms), f, h, a, n_k)
        else:
            terms = sp.Derivative(E, a[j]) * sp.Derivative(a[j], h[j])
            rule = dE_dyhat * dyhat_dh
        if LOSSES[net.loss].one_hot:
            assumption = sp.Eq(sp.Sum(y[q], (q, 1, n_k)), 1)
            rule = rule.subs(assumption.lhs, 1)
        rule = factored(rule)
        local = {"dE/dyhat": dE_dyhat, "dyhat/dh": dyhat_dh}
    else:
        W_next, h_next = base("W", k + 1, L), base("h", k + 1, L)
        n_next = width(k + 1)
        h_next_def = sp.Sum(W_next[i, l] * a[i], (i, 1, n_k)) + base("b", k + 1, L)[l]
        dhnext_da = collapse(sp.diff(h_next_def, a[j]))
        f_prime = _name_outputs(sp.diff(a_def.rhs, h[j]), f, h, a, n_k)
        delta_next = base("delta", k + 1, L)
        terms = sp.Sum(delta_next[l] * sp.Derivative(h_next[l], a[j]) * sp.Derivative(a[j], h[j]), (l, 1, n_next))
        rule = sp.Sum(dhnext_da * delta_next[l], (l, 1, n_next)) * f_prime
        local = {"dh_next/da": dhnext_da, "f'(h)": f_prime}
    local.update({"dh/dW": dh_dW, "dh/db": dh_db})
    return LayerRule(
        k, k == L, sp.Eq(h[j], h_def), a_def, local, terms, sp.Eq(delta_sym[j], rule),
        sp.Eq(sp.Derivative(E, W[i, j]), dh_dW * delta_sym[j]), sp.Eq(sp.Derivative(E, b[j]), dh_db * delta_sym[j]),
        assumption, decay(W[i, j]) if net.l2 else sp.S.Zero,
    )


def _activation(net: Network, k: int) -> tuple[Layer, Node]:
    """Layer k's activation node and its kind, whose definition and naming every rule below is read from."""
    graph = net.graph
    node = graph.consumers(graph.dense(k).name)[0]
    return kind(node.kind), node


def _defined(f: tuple[Layer, Node], h: sp.IndexedBase, idx: sp.Symbol, n: sp.Symbol) -> sp.Eq:
    """a = f(h) at unit ``idx`` (softmax: e^{h_idx}/Σₗ e^{hₗ}), as the kind defines it."""
    layer, node = f
    return sp.Eq(sp.Symbol("a"), layer.indexed(node, [h], {}, [n], idx))


def _name_outputs(expr: sp.Expr, f: tuple[Layer, Node], h: sp.IndexedBase, a: sp.IndexedBase, n: sp.Symbol) -> sp.Expr:
    """Write f(hⱼ) as aⱼ (and e^{hⱼ}/Σ e^{hₗ} as ŷⱼ) so the rule reads in the forward quantities."""
    layer, node = f
    return layer.named(expr, node, [h], a, [n])

