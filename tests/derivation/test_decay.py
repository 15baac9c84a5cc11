"""L2 weight decay: the cost gains (λ/2)·Σ W², every ∂E/∂W gains λ·W, the biases nothing."""
import numpy as np
import pytest
import sympy as sp

import symnet
from symnet.functions.regularisers import lam
from symnet.numeric.evaluate import Evaluator
from symnet.numeric.finite_differences import compare, random_point
from symnet.spec import Network, SpecError


def nets(l2: float) -> symnet.Derivation:
    return symnet.derive(Network.parse("2-3-2", hidden="tanh", output="softmax", loss="cce", l2=l2))


def test_each_weight_gains_lambda_w_and_each_bias_nothing():
    plain, decayed = nets(0.0), nets(0.05)
    for name in ("W1[2,3]", "W2[3,1]"):
        w = decayed.symbol(name)
        assert sp.simplify(decayed.gradient(name) - plain.gradient(name) - lam * w) == 0
        assert decayed.chain(name).via_delta == decayed.chain(name).backprop + lam * w
    for name in ("b1[2]", "b2[1]"):
        assert decayed.gradient(name) == plain.gradient(name)


def test_the_layer_rule_carries_the_decay_of_its_weights():
    rule = nets(0.05).layer_rule(1)
    assert rule.decay == lam * sp.IndexedBase("W1", real=True)[sp.Symbol("i", integer=True, positive=True),
                                                              sp.Symbol("j", integer=True, positive=True)]
    assert nets(0.0).layer_rule(1).decay == 0


def test_the_cost_and_its_gradient_agree_with_finite_differences():
    d = nets(0.05)
    params, X, Y = random_point(d, m=3, seed=1)
    assert compare(d, params, X, Y).max_relative_error < 1e-6
    penalty = 0.05 / 2 * sum(float(np.sum(W ** 2)) for W in params[0::2])
    assert Evaluator(d).loss(params, X, Y) == pytest.approx(Evaluator(nets(0.0)).loss(params, X, Y) + penalty,
                                                            rel=1e-12)


def test_l2_is_part_of_the_spec_text_and_toml(tmp_path):
    net = Network.parse("2-2-1", l2=0.01)
    assert net.describe().endswith("--l2 0.01")
    path = tmp_path / "net.toml"
    path.write_text(net.to_toml())
    assert Network.from_toml(path) == net
    assert "l2" not in Network.parse("2-2-1").to_toml()


@pytest.mark.parametrize("l2", [-0.1, float("nan"), float("inf"), 1e6, "0.1", True])
def test_bad_decay_is_refused_with_its_range(l2):
    with pytest.raises(SpecError, match="l2"):
        Network.parse("2-2-1", l2=l2)
