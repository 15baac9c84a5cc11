"""The derivation: the articles' chains, shared deltas, the collapsing output rules and the layer form."""
import numpy as np
import pytest
import sympy as sp

from symnet import Network, derive
from symnet.functions.activations import Sigmoid
from symnet.derivation.chains import E
from symnet.derivation.names import symbol
from symnet.numeric.evaluate import Evaluator
from symnet.numeric.finite_differences import random_point

S = symbol


def test_first_articles_chain_for_W1_11_has_its_four_factors(article_net):
    chain = article_net.chain("W1[1,1]")
    (path,) = chain.paths  # one path in a 2-2-1 net
    pairs = [(str(f.of), str(f.wrt)) for f in path.factors]
    # ∂E/∂ŷ · ∂ŷ/∂h · ∂h/∂h₁ · ∂h₁/∂W⁽¹⁾₁₁, with ∂h/∂h₁ held as ∂h/∂a₁ · ∂a₁/∂h₁
    assert pairs == [("E", "yhat"), ("yhat", "h2[1]"), ("h2[1]", "a1[1]"), ("a1[1]", "h1[1]"), ("h1[1]", "W1[1,1]")]
    yhat, y, h, h1 = S("yhat"), S("y"), S("h2[1]"), S("h1[1]")
    values = [f.value for f in path.factors]
    assert values[0] == yhat - y
    assert sp.expand(values[1] - Sigmoid(h) * (1 - Sigmoid(h))) == 0
    assert sp.expand(values[2] * values[3] - S("W2[1,1]") * Sigmoid(h1) * (1 - Sigmoid(h1))) == 0
    assert values[4] == S("x1")


def test_simplified_gradient_is_the_product_of_the_factors(article_net):
    expected = (S("yhat") - S("y")) * S("yhat") * (1 - S("yhat")) * S("W2[1,1]") * S("a1[1]") * (1 - S("a1[1]")) * S("x1")
    assert sp.expand(article_net.gradient("W1[1,1]") - expected) == 0
    assert article_net.gradient("W1[1,1]", via_deltas=True) == S("x1") * S("delta1[1]")


def test_deltas_are_shared_by_every_parameter_of_a_neuron():
    d = derive(Network.parse("3-4-2", hidden="tanh", output="softmax", loss="cce"))
    for i in range(1, 4):
        assert d.chain(f"W1[{i},2]").delta == S("delta1[2]")
    assert d.chain("b1[2]").via_delta == S("delta1[2]")
    # δ⁽¹⁾ is written in the deltas of layer 2, not re-derived from the loss
    assert d.delta("h1[2]").expr.free_symbols >= {S("delta2[1]"), S("delta2[2]")}


def test_softmax_with_cross_entropy_collapses_to_yhat_minus_y():
    d = derive(Network.parse("2-3", output="softmax", loss="cce"))
    for j in (1, 2, 3):
        delta = d.delta(f"h1[{j}]")
        assert delta.expr == S(f"yhat[{j}]") - S(f"y{j}")
        assert delta.assumption == sp.Eq(S("y1") + S("y2") + S("y3"), 1)
        assert sp.expand(delta.terms - delta.expr) != 0  # it takes Σ y = 1 to get there


def test_sigmoid_with_binary_cross_entropy_collapses_to_yhat_minus_y():
    d = derive(Network.parse("2-2-1", output="sigmoid", loss="bce"))
    assert d.delta("h2[1]").expr == S("yhat") - S("y")
    assert d.delta("h2[1]").assumption is None


def test_softmax_jacobian_is_derived():
    d = derive(Network.parse("2-3", output="softmax", loss="mse"))
    assert d.local(S("yhat[1]"), S("h1[1]")).compact == sp.factor(S("yhat[1]") * (1 - S("yhat[1]")))
    assert d.local(S("yhat[2]"), S("h1[1]")).compact == -S("yhat[1]") * S("yhat[2]")


def test_deeper_nets_sum_over_paths():
    d = derive(Network.parse("2-3-2-1", hidden="tanh,sigmoid"))
    chain = d.chain("W1[1,1]")
    assert len(chain.paths) == 2  # through a2[1] and a2[2]
    assert sp.expand(chain.path_sum - chain.result) == 0
    params, X, Y = random_point(d, m=1, seed=3)
    ev = Evaluator(d)
    env = ev.evaluate(params, X, Y).env
    assert float(ev.value(chain.path_sum, env)[0]) == pytest.approx(ev.gradients(params, X, Y)[0][0, 0], rel=1e-12)


def test_derivative_between_any_two_quantities(article_net):
    dh_dh1 = article_net.derivative("h2[1]", "h1[1]")
    assert sp.expand(dh_dh1 - S("W2[1,1]") * S("a1[1]") * (1 - S("a1[1]"))) == 0
    assert article_net.derivative("E", "yhat") == S("yhat") - S("y")


def test_unknown_names_are_rejected_with_examples(article_net):
    with pytest.raises(KeyError, match="'W3\\[1,1\\]' is not a quantity of the 2-2-1 network; names look like W1\\[1,1\\]"):
        article_net.chain("W3[1,1]")
    with pytest.raises(KeyError, match="not a parameter"):
        article_net.chain("h1[1]")


@pytest.mark.parametrize("spec, options", [
    ("2-2-1", {}),
    ("784-256-10", {"hidden": "relu", "output": "softmax", "loss": "cce"}),
    ("3-5-4-2", {"hidden": "tanh,leaky_relu", "output": "sigmoid", "loss": "bce"}),
])
@pytest.mark.slow
def test_layer_form_matches_the_scalar_form(spec, options):
    net = Network.parse(spec, **options)
    d = derive(net)
    from symnet.derivation.layer_form import i, j, l, width

    for k in range(1, net.depth + 1):
        rule = d.layer_rule(k)
        assert rule.dW.rhs == sp.IndexedBase(f"delta{k}", real=True)[j] * (
            sp.IndexedBase("x", real=True)[i] if k == 1 else sp.IndexedBase(f"a{k - 1}", real=True)[i])
        assert rule.db.rhs == sp.IndexedBase(f"delta{k}", real=True)[j]
    if net.n_params < 100:
        # instantiate the general rule at j = 1 with the real widths: it is the scalar delta
        for k in range(1, net.depth + 1):
            rule = d.layer_rule(k).delta.rhs
            concrete = rule.subs({j: 1, **{width(n): net.layers[n] for n in range(len(net.layers))}}).doit()
            concrete = concrete.replace(lambda e: isinstance(e, sp.Indexed), lambda e: _scalar(e, net))
            scalar = d.delta(f"h{k}[1]").expr
            assert sp.simplify(concrete - scalar) == 0


def _scalar(e, net):
    label = str(e.base.label)
    idx = [int(v) for v in e.indices]
    if label in ("x", "y"):
        return S(f"{label}{idx[0]}" if net.layers[0 if label == "x" else -1] > 1 else label)
    if label == "yhat":
        return S(f"yhat[{idx[0]}]" if net.layers[-1] > 1 else "yhat")
    return S(f"{label}[{','.join(map(str, idx))}]")


def test_softmax_cce_layer_rule_states_its_assumption():
    rule = derive(Network.parse("4-8-3", output="softmax", loss="cce")).layer_rule(2)
    from symnet.derivation.layer_form import j
    assert rule.delta.rhs == sp.IndexedBase("yhat", real=True)[j] - sp.IndexedBase("y", real=True)[j]
    assert rule.assumption is not None


@pytest.mark.slow
def test_big_nets_derive_only_what_is_asked():
    d = derive(Network.parse("784-256-10", hidden="relu", output="softmax", loss="cce"))
    assert d.chain("W1[1,1]").via_delta == S("x1") * S("delta1[1]")
    assert len(d._deltas) == 0 and len(d._chains) == 1  # the chain names its delta, derived on demand
    d.delta("h1[1]")
    assert len(d._deltas) == 1  # it reads the ten output deltas by name
    d.expand_deltas(d.delta("h1[1]").expr)
    # one hidden delta and the ten output deltas it reads: not the 266 of the whole net
    assert len(d._deltas) == 11
    assert d.layer_rule(1).dW.rhs == sp.IndexedBase("delta1", real=True)[sp.Symbol("j", integer=True, positive=True)] \
        * sp.IndexedBase("x", real=True)[sp.Symbol("i", integer=True, positive=True)]
