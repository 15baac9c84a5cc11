"""The losses people write besides ½Σ(ŷ − y)²: each defined once, by its term, with its options in a graph spec."""
import numpy as np
import pytest
import sympy as sp

from symnet.functions.losses import LOSSES
from symnet.spec import Graph, GraphError, Network

rng = np.random.default_rng(7)


def _point(n: int = 4):
    """One sample: n predictions in (0, 1) that sum to 1 and a one-hot target (class 2)."""
    P = rng.dirichlet(np.ones(n))
    Y = np.eye(n)[2]
    return P, Y


def _value(loss: str, P, Y, **options) -> float:
    p, y = sp.symbols(f"p1:{len(P) + 1}"), sp.symbols(f"y1:{len(P) + 1}")
    E = LOSSES[loss].per_sample(list(p), list(y), **options)
    return float(E.subs({**dict(zip(p, P)), **dict(zip(y, Y))}))


def test_label_smoothing_is_the_cross_entropy_with_the_target_moved_towards_uniform():
    P, Y = _point()
    eps = 0.1
    want = -np.sum(((1 - eps) * Y + eps / len(P)) * np.log(P))  # PyTorch's CrossEntropyLoss(label_smoothing=0.1)
    assert _value("cce", P, Y, smoothing=eps) == pytest.approx(want, rel=1e-14)


def test_without_options_each_loss_is_todays():
    P, Y = _point()
    assert _value("cce", P, Y) == pytest.approx(-np.sum(Y * np.log(P)), rel=1e-14)
    p, y = sp.symbols("p y")
    assert LOSSES["cce"].term(p, y) == -y * sp.log(p)


@pytest.mark.parametrize("gamma", [0.0, 2.0, 0.5])
def test_the_focal_loss_weighs_the_cross_entropy_by_a_power_of_one_minus_the_prediction(gamma):
    P, Y = _point()
    want = -np.sum(Y * (1 - P) ** gamma * np.log(P))  # Lin et al., FL(p_t) = −(1 − p_t)^γ log p_t
    assert _value("focal", P, Y, gamma=gamma) == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("margin", [1.0, 0.25])
def test_the_hinge_is_cs231ns_svm_loss_over_the_wrong_classes(margin):
    S = np.array([3.2, 5.1, -1.7, 2.9])  # CS231n's cat example, and one more class
    Y = np.eye(4)[0]
    correct = S[0]
    want = sum(max(0.0, s - correct + margin) for k, s in enumerate(S) if k != 0)  # svm_loss_naive
    assert _value("hinge", S, Y, margin=margin) == pytest.approx(want, rel=1e-14)


def test_pytorchs_mse_is_the_squared_error_without_the_half_averaged_over_the_outputs():
    P, Y = rng.normal(size=5), rng.normal(size=5)
    assert _value("mse", P, Y, half=False, outputs="mean") == pytest.approx(np.mean((P - Y) ** 2), rel=1e-14)
    assert _value("mse", P, Y, half=False) == pytest.approx(np.sum((P - Y) ** 2), rel=1e-14)
    assert _value("mse", P, Y) == pytest.approx(0.5 * np.sum((P - Y) ** 2), rel=1e-14)


@pytest.mark.parametrize("loss, message", [
    ("cce(yhat, y, smoothing=1)", "smoothing=1.0 must be at least 0 and below 1"),
    ("cce(yhat, y, smoothing=-0.1)", "smoothing=-0.1 must be at least 0 and below 1"),
    ("focal(yhat, y, gamma=-1)", "gamma=-1.0 must be a number from 0 to 5"),
    ("focal(yhat, y, gamma=60)", "gamma=60.0 must be a number from 0 to 5"),
    ("focal(yhat, y, gamma=W1)", "focal's gamma is a number, not W1"),
    ("cce(yhat, y, gamma=2)", "cce has no option 'gamma'; it takes smoothing"),
    ("mse(yhat, y, smoothing=0.1)", "mse has no option 'smoothing'; it takes half, outputs, reduction"),
    ("cce(yhat, y, reduction='total')", "reduction='total' is not one of 'mean', 'sum'"),
    ("cce(yhat, y, reduction=1)", "cce's reduction is a word in quotes, not 1"),
    ("mse(yhat, y, outputs='max')", "outputs='max' is not one of 'sum', 'mean'"),
    ("cce(yhat, y, labels='ints')", "labels='ints' is not one of 'onehot', 'int'"),
    ("mse(yhat, y, labels='int')", "mse has no option 'labels'"),
    ("mse(yhat, y, half=0.5)", "mse's half is true or false, not 0.5"),
    ("cce(yhat, y, reduction='two words')", "a word option's value is a short word"),
    ("focal(yhat, y, gamma=true)", "focal's gamma is a number, not True"),
])
def test_a_bad_loss_option_is_named_with_what_it_may_be(loss, message):
    with pytest.raises(GraphError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Graph.build(3, {"yhat": "softmax(dense(x, 3))", "loss": loss})


def test_a_hinge_margin_must_be_positive():
    with pytest.raises(GraphError, match="margin=0.0 must be a number above 0"):
        Graph.build(3, {"yhat": "dense(x, 3)", "loss": "hinge(yhat, y, margin=0)"})


def test_a_loss_with_options_is_a_graph_and_one_at_its_defaults_the_layer_list():
    plain = {"a1": "tanh(dense(x, 4))", "yhat": "softmax(dense(a1, 3))", "loss": "focal(yhat, y)"}
    assert Network.from_graph(Graph.build(2, plain)).loss == "focal"
    smoothed = Graph.build(2, {**plain, "loss": "focal(yhat, y, gamma=3)"})
    assert Network.from_graph(smoothed) is None
    assert 'loss = "focal(yhat, y, gamma=3.0)"' in smoothed.to_toml()
    assert smoothed.describe() == "graph (2 inputs → 3 outputs, 2 dense layers, focal gamma=3.0)"
    assert Network.build([2, 4, 3], ["tanh"], "softmax", "cce").graph.loss_node.options == (
        ("smoothing", 0.0), ("reduction", "mean"), ("labels", "onehot"))


def test_a_summed_loss_is_a_graph_whose_spec_round_trips():
    nodes = {"yhat": "softmax(dense(x, 3))", "loss": "cce(yhat, y, reduction='sum')"}
    g = Graph.build(2, nodes)
    assert g.reduction == "sum" and Network.from_graph(g) is None
    assert '"cce(yhat, y, reduction=\'sum\')"' in g.to_toml()
    assert Graph.build(2, {**nodes, "loss": "cce(yhat, y)"}).reduction == "mean"
