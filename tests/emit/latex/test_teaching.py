"""The teaching steps are mathematics, not typing: every step of σ′, tanh′ and the softmax's quotient rule,
the chain-rule primer and the composite view is a SymPy expression equal to the one before it, checked
here by SymPy; and each prints the way the articles write it."""
import pytest
import sympy as sp

import symnet
from symnet.derivation.layer_form import base
from symnet.derivation.names import E
from symnet.emit.latex.forms import Eqn, Ordered, value_of
from symnet.emit.latex.printer import latex
from symnet.emit.latex.render import Renderer
from symnet.emit.latex import teaching
from symnet.emit.latex.document import writeup_of
from symnet.functions.activations import ACTIVATION_CLASSES, inline, lemma

x = sp.Symbol("x", real=True)


def raw(m) -> sp.Expr:
    """A form as one SymPy expression, nothing evaluated yet (an ordered product multiplied)."""
    return sp.Mul(*(raw(f) for f in m.factors), evaluate=False) if isinstance(m, Ordered) else m


def steps_of(e: Eqn) -> list[sp.Expr]:
    """The equation's left side and every form, each as the expression it stands for."""
    return [raw(e.lhs)] + [raw(f) for _, f in e.forms]


def assert_each_step_equal(values: list[sp.Expr], substitute=lambda v: v):
    """Each value equals the next, σ and tanh written out by their definitions."""
    for k, (a, b) in enumerate(zip(values, values[1:])):
        difference = sp.simplify(inline(substitute(a).doit()) - inline(substitute(b).doit()))
        assert difference == 0, f"step {k} → {k + 1}: {a} ≠ {b}"


def tex_rows(e: Eqn) -> str:
    return Renderer(writeup_of(symnet.derive("2-2-1"))).rows(e)


# -- σ′ and tanh′ --------------------------------------------------------------------------------
def test_sigmoid_prime_factored_step_by_step_each_step_equal():
    lem = lemma("sigmoid")
    steps = teaching.activation_steps(lem)
    values = steps_of(steps)
    assert_each_step_equal([v.doit() for v in values])
    # the article's route: e⁻ˣ/(1 + e⁻ˣ)², split into 1/(1 + e⁻ˣ) · e⁻ˣ/(1 + e⁻ˣ), then σ(1 − σ)
    forms = [f for _, f in steps.forms]
    assert forms[1] == sp.exp(-x) / (1 + sp.exp(-x)) ** 2
    assert isinstance(forms[2], Ordered) and sp.simplify(forms[2].factors[1] - sp.exp(-x) / (1 + sp.exp(-x))) == 0
    assert value_of(forms[-1]) == value_of(lem.compact) or sp.simplify(value_of(forms[-1]) - lem.compact) == 0
    tex = tex_rows(steps)
    assert r"\frac{1}{1 + e^{- x}} \, \frac{e^{- x}}{1 + e^{- x}}" in tex
    assert r"\frac{1 + e^{- x} - 1}{1 + e^{- x}}" in tex
    assert r"\sigma(x) \, (1 - \sigma(x))" in tex
    assert "e^{x} = " not in tex  # not through eˣ = σ/(1 − σ)


def test_tanh_prime_by_the_quotient_rule_each_step_equal():
    lem = lemma("tanh")
    steps = teaching.activation_steps(lem)
    assert_each_step_equal([v.doit() for v in steps_of(steps)])
    assert steps.forms[-1][1] == lem.compact  # 1 − tanh²(x), the compact form the chains use
    assert steps.cite == "eq:quotient"
    tex = tex_rows(steps)
    assert r"1 - \tanh^{2}(x)" in tex
    # not SymPy's raw (e⁻ˣ − eˣ)(eˣ − e⁻ˣ)/(eˣ + e⁻ˣ)² + 1
    assert r"\left(e^{- x} - e^{x}\right)" not in tex and "+ 1" not in tex


@pytest.mark.parametrize("name", [n for n in ACTIVATION_CLASSES if n not in ("sigmoid", "tanh")])
def test_other_activations_keep_their_lemma(name):
    assert teaching.activation_steps(lemma(name)) is None


# -- the softmax -----------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 10])
def test_softmax_quotient_rule_each_step_equal(n):
    L = 2
    s = teaching.softmax_steps(n, L)
    h, yhat = base("h", L, L), base("a", L, L)
    total = sp.Add(*(sp.exp(h[q]) for q in range(1, n + 1)))
    # ŷ is the softmax of h: naming it is the last step, undone here to compare
    as_h = {yhat[q]: sp.exp(h[q]) / total for q in range(1, n + 1)}

    def substitute(v: sp.Expr) -> sp.Expr:
        return v.xreplace(as_h).doit()

    for e in (s.same, s.other):
        assert_each_step_equal(steps_of(e), substitute)
    assert s.same.forms[-1][1] == Ordered((yhat[1], 1 - yhat[1]))  # ŷ₁(1 − ŷ₁)
    assert s.other.forms[-1][1] == -yhat[1] * yhat[2]  # −ŷ₁ŷ₂
    tex = latex(s.definition.forms[0][1])
    assert (r"\sum_{q=1}^{10}" in tex) == (n == 10)  # a wide output's sum as a Σ, a narrow one term by term
    assert ("e^{h^{(2)}_{2}}" in tex) == (n <= 3)


def test_softmax_and_error_with_a_sum_for_a_wide_output():
    L, n = 2, 10
    e = teaching.softmax_error(n, L, True)
    y, yhat = base("y", None, L), base("a", L, L)
    values = steps_of(e)[2:]  # from the values of the factors on: the derivatives are the lemma's
    q = sp.Symbol("q", integer=True, positive=True)
    one_hot = {sp.Sum(y[q], (q, 1, n)): 1}

    def substitute(v: sp.Expr) -> sp.Expr:
        return sp.expand(v.doit()).subs(one_hot).doit().subs(y[n], 1 - sum(y[k] for k in range(1, n)))

    assert_each_step_equal(values, substitute)
    assert e.forms[-1][1] == yhat[1] - y[1]
    assert teaching.softmax_error(3, L, True) is None  # narrow: the terms are written out


# -- the chain rule and the composite view ---------------------------------------------------------
def test_the_primer_is_sympys_chain_rule():
    p = teaching.chain_rule_primer()
    f, g, h = sp.Function("f"), sp.Function("g"), sp.Function("h")
    # ∂/∂x f(g(x)) = f′(g(x)) g′(x): SymPy's own derivative of the composite
    assert p.one.forms[0][1] == sp.Derivative(f(g(x)), x)
    assert p.one.forms[1][1] == sp.diff(f(g(x)), x)
    assert p.one.label == "eq:chain" and p.two.label == "eq:chain-sum"
    tex = tex_rows(p.one)
    assert r"f'(g(x)) g'(x)" in tex
    assert r"\frac{\partial z}{\partial y} \frac{\partial y}{\partial x}" in tex  # in chain order
    two = tex_rows(p.two)
    assert (r"\frac{\partial z}{\partial y_{1}} \frac{\partial y_{1}}{\partial x} + "
            r"\frac{\partial z}{\partial y_{2}} \frac{\partial y_{2}}{\partial x}") in two
    # the quotient rule the tanh and softmax steps cite, from SymPy
    u, v = sp.Function("u"), sp.Function("v")
    assert sp.simplify(p.quotient.forms[0][1] - sp.diff(u(x) / v(x), x)) == 0


@pytest.mark.parametrize("spec, letters", [("2-2-2", "ABC"), ("2-8-8-3", "ABCD"), ("64-128-128-128-10", "")])
def test_the_network_is_a_composite_and_sympy_differentiates_it(spec, letters):
    net = symnet.derive(spec, hidden="relu", output="softmax", loss="cce").net
    c = teaching.composite(net)
    L = net.depth
    assert "".join(letter for letter, _ in c.letters) == letters
    # SymPy's derivative: one factor per function, ℓ′ first and f⁽¹⁾′(x) last
    sympys = c.derivative.forms[1][1]
    assert isinstance(sympys, sp.Mul) and len(sympys.args) == L + 1
    tex = latex(sympys)
    heads = [r"\ell'"] + [f"f^{{({k})\\prime}}" for k in range(L, 0, -1)]
    positions = [tex.find(hd) for hd in heads]
    assert -1 not in positions and positions == sorted(positions)
    named = latex(c.derivative.forms[2][1])
    assert named.startswith(r"\frac{\partial E}{\partial \hat{\mathbf{y}}}")
    assert named.endswith(r"\frac{\partial \mathbf{a}^{(1)}}{\partial \mathbf{x}}")
    # with respect to W⁽¹⁾ the last factor is the stored one, ∂a⁽¹⁾/∂W⁽¹⁾
    assert latex(c.parameter.forms[0][1]).endswith(r"\frac{\partial \mathbf{a}^{(1)}}{\partial W^{(1)}}")


# -- the computational graph -------------------------------------------------------------------------
@pytest.mark.parametrize("spec, options", [
    ("2-2-1", dict(bias="augmented")),
    ("4-8-3", dict(hidden="relu", output="softmax", loss="cce")),
    ("64-128-128-128-10", dict(hidden="relu", output="softmax", loss="cce")),
    ("3-4-2", dict(hidden="tanh", output="softmax", loss="cce")),
])
def test_the_graph_has_a_row_of_operations_per_layer_with_local_derivatives(spec, options):
    d = symnet.derive(spec, **options)
    g = teaching.graph(d.net, d.layer_rule)
    kinds = [n.kind for n in g.nodes]
    L = d.net.depth
    assert g.rows == L and kinds.count("times") == L and kinds.count("activation") == L
    assert kinds.count("plus") == (0 if d.net.bias == "augmented" else L) and kinds.count("loss") == 1
    by_key = {n.key: n for n in g.nodes}
    j = sp.Symbol("j", integer=True, positive=True)
    for k in range(1, L + 1):
        into_f = next(e for e in g.edges if e.dst == f"f{k}")
        r = d.layer_rule(k)
        expected = r.local["dyhat/dh"] if k == L else r.local["f'(h)"]
        assert sp.simplify(into_f.local - expected) == 0  # the activation's local derivative
        assert into_f.value == base("h", k, L)[j]
        weight = next(e for e in g.edges if e.src == f"W{k}")
        assert weight.local == r.local["dh/dW"]  # ∂h/∂W = the input, the stored kind
    into_loss = next(e for e in g.edges if e.dst == "loss" and by_key[e.src].kind == "activation")
    assert into_loss.local == d.layer_rule(L).local["dE/dyhat"]
    # the backward step through an activation: upstream gradient times the local derivative
    assert isinstance(g.backward.forms[0][1], Ordered)
    assert isinstance(g.backward.lhs, sp.Derivative) and g.backward.lhs.expr == E
