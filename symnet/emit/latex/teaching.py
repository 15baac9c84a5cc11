"""The sections a teacher would otherwise write by hand, each formula from SymPy.

* :func:`chain_rule_primer`: the chain rule for one variable and the sum over intermediate variables,
  SymPy differentiating f(g(x)) and f(g(x), h(x)) of undefined functions;
* :func:`composite`: the network as the composite ℓ ∘ f⁽ᴸ⁾ ∘ … ∘ f⁽¹⁾ (the fourth article's A(B(C(x))))
  and its derivative, the product of the layers' derivatives, again SymPy's own;
* :func:`graph`: the computational graph, one row of operations (×W, +b, f) per layer and the error at
  the end, every edge carrying the local derivative that the backward pass multiplies by;
* :func:`activation_steps` and :func:`softmax_steps`: σ′, tanh′ and the softmax's quotient rule step by
  step, as the articles do them — each step a SymPy expression that equals the one before (the tests
  check every equality with SymPy).

Activations are told apart by their classes, never by their names (those live in
:mod:`symnet.functions.activations` only).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symnet.derivation.layer_form import base, collapse
from symnet.derivation.names import E
from symnet.emit.latex.forms import Eqn, Math, Ordered, eqn
from symnet.emit.latex.printer import AUGMENTED_MARK
from symnet.functions.activations import ACTIVATION_CLASSES, SOFTMAX, Lemma
from symnet.spec import Network

x = sp.Symbol("x", real=True)
#: the letters of the primer: z = f(y), y = g(x); z = f(y₁, y₂) with y₁ = g(x), y₂ = h(x)
_z, _y = sp.Symbol("z", real=True), sp.Symbol("y", real=True)
_f, _g, _h = sp.Function("f"), sp.Function("g"), sp.Function("h")
#: the output layers whose softmax is written with its sum spelled out (wider ones use Σ)
SPELLED_OUT_UP_TO = 3
#: the learning rate α, the cost C of a batch (E is one sample's error)
C = sp.Symbol("C", real=True)


# -- the chain rule ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Primer:
    one: Eqn  # ∂z/∂x = ∂/∂x f(g(x)) = f′(g(x)) g′(x) = ∂z/∂y ∂y/∂x
    two: Eqn  # ∂z/∂x = ∂/∂x f(g(x), h(x)) = ∂z/∂y₁ ∂y₁/∂x + ∂z/∂y₂ ∂y₂/∂x
    many: Eqn  # ∂z/∂x = Σᵢ ∂z/∂yᵢ ∂yᵢ/∂x
    quotient: Eqn  # ∂/∂x (u/v) = (u′v − uv′)/v², used by the tanh and softmax steps


def named(expr: sp.Expr, names: dict[sp.Basic, sp.Basic]) -> sp.Expr:
    """SymPy's derivative of a composite with every inner function written as the quantity it is:
    ∂f(g(x))/∂g(x) → ∂z/∂y."""
    def rename(d: sp.Derivative) -> sp.Derivative:
        (var, n), = d.variable_count
        return sp.Derivative(names.get(d.expr, d.expr), (names.get(var, var), n), evaluate=False)

    return expr.replace(lambda e: isinstance(e, sp.Derivative), rename)


def chain_rule_primer() -> Primer:
    composite = _f(_g(x))
    one = eqn(sp.Derivative(_z, x, evaluate=False), sp.Derivative(composite, x, evaluate=False),
              sp.diff(composite, x), named(sp.diff(composite, x), {composite: _z, _g(x): _y}), label="eq:chain")
    y1, y2 = sp.Symbol("y1", real=True), sp.Symbol("y2", real=True)
    two_args = _f(_g(x), _h(x))
    two = eqn(sp.Derivative(_z, x, evaluate=False), sp.Derivative(two_args, x, evaluate=False),
              named(sp.diff(two_args, x), {two_args: _z, _g(x): y1, _h(x): y2}), label="eq:chain-sum")
    i, n = sp.Symbol("i", integer=True, positive=True), sp.Symbol("n", integer=True, positive=True)
    yi = sp.IndexedBase("y", real=True)[i]
    many = eqn(sp.Derivative(_z, x, evaluate=False),
               sp.Sum(sp.Derivative(_z, yi, evaluate=False) * sp.Derivative(yi, x, evaluate=False), (i, 1, n)))
    u, v = sp.Function("u"), sp.Function("v")
    quotient = eqn(sp.Derivative(u(x) / v(x), x, evaluate=False), sp.together(sp.diff(u(x) / v(x), x)),
                   label="eq:quotient")
    return Primer(one, two, many, quotient)


# -- the network as a composite function ---------------------------------------------------------
@dataclass(frozen=True)
class Composite:
    functions: list[Eqn]  # a⁽ᵏ⁾ = f⁽ᵏ⁾(a⁽ᵏ⁻¹⁾) per layer, and E = ℓ(ŷ)
    error: Eqn  # E = ℓ(f⁽ᴸ⁾(… f⁽¹⁾(x)))
    derivative: Eqn  # ∂E/∂x = ℓ′(…) f⁽ᴸ⁾′(…) ⋯ f⁽¹⁾′(x) = ∂E/∂ŷ ∂ŷ/∂a⁽ᴸ⁻¹⁾ ⋯ ∂a⁽¹⁾/∂x
    parameter: Eqn  # ∂E/∂W⁽¹⁾ = ∂E/∂ŷ ⋯ ∂a⁽¹⁾/∂W⁽¹⁾: the last factor the only one of the second kind
    letters: list[tuple[str, sp.Basic]]  # A = ℓ, B = f⁽ᴸ⁾, …: the fourth article's letters
    lettered: sp.Basic | None  # A(B(C(x))) in those letters (None past four functions)
    layer_function: sp.Basic = sp.Function("fk")  # f⁽ᵏ⁾, any layer's function
    error_function: sp.Basic = sp.Function("ell")  # ℓ


def _vector(kind: str, k: int, net: Network) -> sp.MatrixSymbol:
    n = net.layers[k]
    if k == 0:
        return sp.MatrixSymbol("x", n, 1)
    return sp.MatrixSymbol("yhat" if k == net.depth else f"a{k}", n, 1)


def composite(net: Network) -> Composite:
    """The network as ℓ(f⁽ᴸ⁾(… f⁽¹⁾(x))) and SymPy's derivative of it, with respect to the input and to
    the first layer's weights.  SymPy differentiates in a scalar stand-in for each vector; the result is
    then written in the network's vectors."""
    L = net.depth
    layer = [sp.Function(f"f{k}") for k in range(1, L + 1)]
    ell = sp.Function("ell")
    xs = sp.Symbol("x", real=True)
    xv = _vector("a", 0, net)
    functions = [eqn(_vector("a", k, net), layer[k - 1](_vector("a", k - 1, net))) for k in range(1, L + 1)]
    functions.append(eqn(E, ell(_vector("a", L, net))))
    # with respect to the input: one argument per function, as the article has it
    inner: sp.Basic = xs
    names: dict[sp.Basic, sp.Basic] = {xs: xv}
    for k in range(1, L + 1):
        inner = layer[k - 1](inner)
        names[inner] = _vector("a", k, net)
    whole = ell(inner)
    names[whole] = E
    sympys = sp.diff(whole, xs)
    derivative = eqn(sp.Derivative(E, xv, evaluate=False), sp.Derivative(whole, xs, evaluate=False).xreplace({xs: xv}),
                     sympys.xreplace({xs: xv}), named(sympys, names), label="eq:composite")
    # with respect to the first layer's weights: each f⁽ᵏ⁾ also reads its W⁽ᵏ⁾
    Ws = [sp.Symbol(f"Wstandin{k}", real=True) for k in range(1, L + 1)]
    inner, names = xs, {xs: xv}
    names.update({W: sp.MatrixSymbol(f"W{k}", net.layers[k - 1], net.layers[k]) for k, W in enumerate(Ws, 1)})
    for k in range(1, L + 1):
        inner = layer[k - 1](inner, Ws[k - 1])
        names[inner] = _vector("a", k, net)
    names[ell(inner)] = E
    parameter = eqn(sp.Derivative(E, names[Ws[0]], evaluate=False), named(sp.diff(ell(inner), Ws[0]), names))
    # the fourth article's letters, A(B(C(x))), while they do not run into E
    letters = [chr(ord("A") + n) for n in range(L + 1)] if L + 1 <= 4 else []
    lettered = None
    if letters:
        lettered = xs
        for letter in reversed(letters):
            lettered = sp.Function(letter)(lettered)
    funcs = [ell, *reversed(layer)]
    return Composite(functions, eqn(E, whole.xreplace({xs: xv})), derivative, parameter,
                     [(letter, f) for letter, f in zip(letters, funcs)], lettered)


# -- the computational graph ---------------------------------------------------------------------
@dataclass(frozen=True)
class GraphNode:
    """One node of the computational graph: an operation (``times`` ×W, ``plus`` +b, ``activation``,
    ``loss``), a value entering or leaving a row (``value``), or a parameter or target feeding an
    operation from above (``param``); at (column, row) on a grid whose rows are the layers."""

    key: str
    kind: str
    column: int
    row: int
    symbol: sp.Basic | None = None  # the value, parameter or the operation's operand (W⁽ᵏ⁾, b⁽ᵏ⁾)
    activation: str | None = None  # an activation node's function


@dataclass(frozen=True)
class GraphEdge:
    """A value flowing forward from ``src`` into ``dst``; ``local`` is the derivative of what ``dst``
    computes with respect to that value — what the backward pass multiplies the upstream gradient by;
    ``value`` names the value where no node does."""

    src: str
    dst: str
    local: sp.Basic | None
    value: sp.Basic | None = None


@dataclass(frozen=True)
class Graph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    rows: int
    columns: int
    backward: Eqn  # one backward step: ∂E/∂h⁽ᵏ⁾ⱼ = ∂E/∂a⁽ᵏ⁾ⱼ · f′(h⁽ᵏ⁾ⱼ), upstream times local
    augmented: bool


def graph(net: Network, layer_rule) -> Graph:
    """The layer-level computational graph of ``net`` (``layer_rule(k)``: the derivation's layer form)."""
    L = net.depth
    augmented = net.bias == "augmented"
    i, j = sp.symbols("i j", integer=True, positive=True)
    p = sp.Symbol("p", integer=True, positive=True)
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    for k in range(1, L + 1):
        r = layer_rule(k)
        row = k - 1
        a_prev, W, b, h = base("a", k - 1, L), base("W", k, L), base("b", k, L), base("h", k, L)
        vin = f"v{k - 1}in"
        value_in = _vector("a", k - 1, net)
        if augmented:  # the input extended by the constant 1 that the bias row multiplies
            value_in = sp.MatrixSymbol(value_in.name + AUGMENTED_MARK, value_in.shape[0] + 1, 1)
        nodes.append(GraphNode(vin, "value", 0, row, value_in))
        nodes.append(GraphNode(f"times{k}", "times", 1, row, sp.MatrixSymbol(f"W{k}", 1, 1)))
        nodes.append(GraphNode(f"W{k}", "param", 1, row, sp.MatrixSymbol(f"W{k}", 1, 1)))
        # ∂(Σᵢ Wᵢⱼ aᵢ)/∂aₚ = Wₚⱼ and ∂/∂Wᵢⱼ = aᵢ, each taken by SymPy from the layer's definition
        weighted = r.h.rhs - b[j]
        d_input = collapse(sp.diff(weighted, a_prev[p])).xreplace({p: i})
        edges.append(GraphEdge(vin, f"times{k}", d_input))
        edges.append(GraphEdge(f"W{k}", f"times{k}", r.local["dh/dW"]))
        last = f"times{k}"
        if not augmented:
            nodes.append(GraphNode(f"plus{k}", "plus", 2, row, sp.MatrixSymbol(f"b{k}", 1, 1)))
            nodes.append(GraphNode(f"b{k}", "param", 2, row, sp.MatrixSymbol(f"b{k}", 1, 1)))
            # ∂(z + bⱼ)/∂z = 1 for the weighted sum z
            z = sp.Symbol("z", real=True)
            edges.append(GraphEdge(last, f"plus{k}", sp.diff(z + b[j], z)))
            edges.append(GraphEdge(f"b{k}", f"plus{k}", r.local["dh/db"]))
            last = f"plus{k}"
        act = net.activations[k - 1]
        fcol = 3 if not augmented else 2
        nodes.append(GraphNode(f"f{k}", "activation", fcol, row, activation=act))
        local = sp.factor(r.local["dyhat/dh"]) if k == L else r.local["f'(h)"]
        edges.append(GraphEdge(last, f"f{k}", local, h[j]))
        if k < L:
            nodes.append(GraphNode(f"v{k}out", "value", fcol + 1, row, _vector("a", k, net)))
            edges.append(GraphEdge(f"f{k}", f"v{k}out", None))
        else:
            nodes.append(GraphNode("loss", "loss", fcol + 1, row, E))
            nodes.append(GraphNode("y", "param", fcol + 1, row, sp.MatrixSymbol("y", net.layers[L], 1)))
            dE, yhat = r.local["dE/dyhat"], base("a", L, L)[j]
            # a loss that reads every output (a hinge's Σ yₗŷₗ) is too wide for an arrow: the arrow names it
            local = sp.Derivative(E, yhat, evaluate=False) if dE.has(sp.Sum) else dE
            edges.append(GraphEdge(f"f{k}", "loss", local, yhat))
            edges.append(GraphEdge("y", "loss", None))
    # one backward step through an activation: upstream gradient times the local derivative
    k = L - 1 if L > 1 else L
    a_k, h_k = base("a", k, L)[j], base("h", k, L)[j]
    r = layer_rule(k)
    local = r.local["f'(h)"] if k < L else r.local["dyhat/dh"]
    if k == L and net.output == SOFTMAX:
        backward = eqn(sp.Derivative(E, h_k, evaluate=False),
                       Ordered((sp.Derivative(E, a_k, evaluate=False), sp.Derivative(a_k, h_k, evaluate=False))))
    else:
        backward = eqn(sp.Derivative(E, h_k, evaluate=False),
                       Ordered((sp.Derivative(E, a_k, evaluate=False), sp.Derivative(a_k, h_k, evaluate=False))),
                       Ordered((sp.Derivative(E, a_k, evaluate=False), local)))
    columns = (4 if augmented else 5)
    return Graph(nodes, edges, L, columns, backward, augmented)


# -- σ′, tanh′ and the softmax, step by step -----------------------------------------------------
def _frac(num: sp.Expr, den: sp.Expr) -> sp.Expr:
    """num/den as written, not simplified."""
    return sp.Mul(num, sp.Pow(den, -1, evaluate=False), evaluate=False)


def activation_steps(lem: Lemma) -> Eqn | None:
    """f′(x) derived as the articles derive it, for the activations whose algebra they show (σ by
    factoring e⁻ˣ/(1 + e⁻ˣ)², tanh by the quotient rule); None for the others (their lemma stands)."""
    cls = ACTIVATION_CLASSES[lem.name]
    fx = cls(x)
    definition = cls.definition(x)
    fprime = sp.Derivative(fx, x, evaluate=False)
    start = sp.Derivative(definition, x, evaluate=False)
    if _is_logistic(definition):
        den = 1 / definition  # 1 + e⁻ˣ
        num = den - 1  # e⁻ˣ
        forms: list[Math] = [
            start,
            sp.diff(definition, x),  # e⁻ˣ/(1 + e⁻ˣ)²
            Ordered((_frac(1, den), _frac(num, den))),
            Ordered((_frac(1, den), _frac(sp.Add(*den.args, -1, evaluate=False), den))),
            Ordered((_frac(1, den), sp.Add(1, -_frac(1, den), evaluate=False))),
            Ordered((fx, 1 - fx)),
        ]
        return eqn(fprime, *forms, label=f"eq:lemma-{lem.name}")
    num, den = sp.fraction(definition)
    if _is_tanh(num, den):
        square = sp.Pow(den, 2, evaluate=False)
        forms = [
            start,
            _frac(sp.Add(sp.Mul(sp.diff(num, x), den, evaluate=False),
                         sp.Mul(-1, num, sp.diff(den, x), evaluate=False), evaluate=False), square),
            sp.Add(_frac(square, square), -_frac(sp.Pow(num, 2, evaluate=False), square), evaluate=False),
            sp.Add(1, -sp.Pow(_frac(num, den), 2, evaluate=False), evaluate=False),
            lem.compact,
        ]
        return eqn(fprime, *forms, label=f"eq:lemma-{lem.name}", cite="eq:quotient")
    return None


def _is_logistic(definition: sp.Expr) -> bool:
    """1/(1 + e⁻ˣ)."""
    return definition == 1 / (1 + sp.exp(-x))


def _is_tanh(num: sp.Expr, den: sp.Expr) -> bool:
    """(eˣ − e⁻ˣ)/(eˣ + e⁻ˣ): the numerator's derivative is the denominator and the other way round."""
    return (num.has(sp.exp) and sp.expand(sp.diff(num, x) - den) == 0 and sp.expand(sp.diff(den, x) - num) == 0
            and not num.is_constant())


@dataclass(frozen=True)
class SoftmaxSteps:
    definition: Eqn  # ŷ₁ = e^{h₁}/Σ e^{h_q}
    same: Eqn  # ∂ŷ₁/∂h₁ by the quotient rule, to ŷ₁(1 − ŷ₁)
    other: Eqn | None  # ∂ŷ₂/∂h₁, to −ŷ₁ŷ₂ (None with one output)
    spelled_out: bool  # the sum is written term by term (narrow output layers)


def softmax_denominator(n: int, L: int) -> sp.Expr:
    """Σ_q e^{h⁽ᴸ⁾_q}: term by term for a narrow output layer, as a Σ for a wide one."""
    h = base("h", L, L)
    q = sp.Symbol("q", integer=True, positive=True)
    if n <= SPELLED_OUT_UP_TO:
        return sp.Add(*(sp.exp(h[m]) for m in range(1, n + 1)))
    return sp.Sum(sp.exp(h[q]), (q, 1, n))


def softmax_steps(n: int, L: int) -> SoftmaxSteps:
    """The softmax's derivatives by the quotient rule, each step a SymPy expression."""
    h, yhat = base("h", L, L), base("a", L, L)
    S = softmax_denominator(n, L)
    e1 = sp.exp(h[1])
    definition = eqn(yhat[1], _frac(e1, S), label="eq:softmax-def")
    dS = sp.diff(S, h[1])
    if dS.has(sp.Sum):  # ∂/∂h₁ of Σ_q e^{h_q}: the one term that holds h₁
        dS = collapse(dS.doit())
    square = sp.Pow(S, 2, evaluate=False)
    same = eqn(sp.Derivative(yhat[1], h[1], evaluate=False), sp.Derivative(_frac(e1, S), h[1], evaluate=False),
               _frac(sp.Add(sp.Mul(e1, S, evaluate=False), sp.Mul(-1, e1, dS, evaluate=False), evaluate=False), square),
               Ordered((_frac(e1, S), _frac(sp.Add(S, -e1, evaluate=False), S))),
               Ordered((_frac(e1, S), sp.Add(1, -_frac(e1, S), evaluate=False))),
               Ordered((yhat[1], 1 - yhat[1])), cite="eq:quotient")
    other = None
    if n >= 2:
        e2 = sp.exp(h[2])
        other = eqn(sp.Derivative(yhat[2], h[1], evaluate=False), sp.Derivative(_frac(e2, S), h[1], evaluate=False),
                    _frac(sp.Mul(-1, e2, dS, evaluate=False), square),
                    sp.Mul(-1, _frac(e2, S), _frac(e1, S), evaluate=False),
                    -yhat[1] * yhat[2], cite="eq:quotient")
    return SoftmaxSteps(definition, same, other, n <= SPELLED_OUT_UP_TO)


def softmax_error(n: int, L: int, one_hot: bool) -> Eqn | None:
    """∂E/∂h⁽ᴸ⁾₁ summed over a wide softmax's outputs with Σ (a narrow one writes the terms out)."""
    if n <= SPELLED_OUT_UP_TO:
        return None
    h, yhat, y = base("h", L, L), base("a", L, L), base("y", None, L)
    q = sp.Symbol("q", integer=True, positive=True)
    terms = sp.Sum(sp.Derivative(E, yhat[q], evaluate=False) * sp.Derivative(yhat[q], h[1], evaluate=False), (q, 1, n))
    values = sp.Sum(sp.Mul(-_frac(y[q], yhat[q]), yhat[q] * (sp.KroneckerDelta(q, 1) - yhat[1]), evaluate=False),
                    (q, 1, n))
    simpler = sp.Sum(-y[q] * (sp.KroneckerDelta(q, 1) - yhat[1]), (q, 1, n))
    split = sp.Add(-y[1], yhat[1] * sp.Sum(y[q], (q, 1, n)), evaluate=False)
    return eqn(sp.Derivative(E, h[1], evaluate=False), terms, values, simpler, split, yhat[1] - y[1],
               cite="eq:chain-sum")
