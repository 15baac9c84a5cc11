"""The deltas of the losses people write — label smoothing, the focal loss, the multiclass hinge — derived from
their terms: each agrees with finite differences, and with the closed forms the papers and courses print."""
import numpy as np
import pytest
import sympy as sp

from symnet.derivation.graph_matrix import graph_matrix_form
from symnet.derivation.layer_form import layer_rule
from symnet.derivation.rules import rules
from symnet.functions.layers.indices import j
from symnet.spec import Graph, Network

from tests.derivation.test_graph_rules import _agree, _point

yhat, y, h = (sp.IndexedBase(n, real=True) for n in ("yhat", "y", "h2"))
n2 = sp.Symbol("n2", integer=True, positive=True)

#: a hidden layer, then the prediction the loss reads
LOSS_GRAPHS = {
    "smoothed": (3, {"a1": "tanh(dense(x, 4))", "yhat": "softmax(dense(a1, 3))", "loss": "cce(yhat, y, smoothing=0.1)"}),
    "focal": (3, {"a1": "tanh(dense(x, 4))", "yhat": "softmax(dense(a1, 3))", "loss": "focal(yhat, y, gamma=3)"}),
    "hinge": (3, {"a1": "tanh(dense(x, 4))", "scores": "dense(a1, 3)", "loss": "hinge(scores, y)"}),
    # PyTorch's MSELoss: no half, the mean over the outputs
    "mse_mean": (3, {"a1": "tanh(dense(x, 4))", "yhat": "dense(a1, 3)", "loss": "mse(yhat, y, half=false, outputs='mean')"}),
    # the batch's sum, with weight decay: the L2 term is the cost's once
    "summed": (3, {"a1": "tanh(dense(x, 4))", "yhat": "softmax(dense(a1, 3))", "loss": "cce(yhat, y, reduction='sum')"},
               0.1),
}


@pytest.mark.parametrize("name", LOSS_GRAPHS)
def test_each_losss_scalar_matrix_and_finite_differences_agree(name):
    _agree(Graph.build(*LOSS_GRAPHS[name], title=name), seed=1)


@pytest.mark.parametrize("loss", ["focal", "hinge"])
def test_a_layer_lists_new_loss_agrees_too(loss):
    _agree(Network.build([3, 4, 3], ["tanh"], "identity" if loss == "hinge" else "softmax", loss))


def test_pytorchs_mse_delta_is_twice_the_difference_over_the_outputs():
    r = rules(Graph.build(*LOSS_GRAPHS["mse_mean"]))
    assert sp.simplify(r.deltas["h2"].rule.rhs - 2 * (h[j] - y[j]) / n2) == 0


def test_label_smoothings_delta_is_the_prediction_minus_the_smoothed_target():
    r = rules(Graph.build(*LOSS_GRAPHS["smoothed"]))
    assert sp.simplify(r.deltas["h2"].rule.rhs - (yhat[j] - (sp.Rational(9, 10) * y[j] + sp.Rational(1, 10) / n2))) == 0
    assert r.deltas["h2"].assumption is not None  # Σ y = 1, as for the plain cross-entropy


def test_a_focal_loss_with_no_focusing_is_the_cross_entropy():
    delta = rules(Graph.build(3, {"yhat": "softmax(dense(x, 3))", "loss": "focal(yhat, y, gamma=0)"})).deltas["h1"]
    assert delta.rule.rhs == yhat[j] - y[j]


def test_a_focal_deltas_are_written_in_the_softmaxs_outputs_alone():
    # log ŷ splits into h − log Σ e^h; the derivation writes h back as log(ŷ·Σ e^h), and the total cancels
    rule = layer_rule(Network.build([3, 4, 3], ["tanh"], "softmax", "focal"), 2).delta.rhs
    labels = {str(a.label) for a in rule.atoms(sp.IndexedBase)}
    assert labels == {"yhat", "y"} and not rule.has(sp.exp)
    assert rule.has(sp.log(yhat[j]))


def _svm_loss_vectorized_gradient(S: np.ndarray, Y: np.ndarray, margin: float) -> np.ndarray:
    """CS231n's svm_loss_vectorized, its dscores before dW = X.T @ dscores: 1 for each margin > 0, minus their
    count at the true class, over N."""
    N = len(S)
    correct = np.sum(S * Y, axis=1, keepdims=True)
    margins = np.maximum(0, S - correct + margin) * (1 - Y)
    dscores = (margins > 0).astype(float)
    dscores -= Y * dscores.sum(axis=1, keepdims=True)
    return dscores / N


@pytest.mark.parametrize("margin", [1.0, 0.5])
def test_the_hinges_delta_is_cs231ns_dscores(margin):
    g = Graph.build(3, {"a1": "tanh(dense(x, 4))", "scores": "dense(a1, 5)", "loss": f"hinge(scores, y, margin={margin})"})
    params, X, Y = _point(g, 4, m=9)
    values = graph_matrix_form(g).evaluate(params, X, Y)
    assert np.allclose(values["D2"], _svm_loss_vectorized_gradient(values["H2"], Y, margin), atol=1e-15)
    assert np.count_nonzero(values["D2"]) > 9  # some wrong classes are within the margin: the test can fail


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_a_summed_cost_is_m_times_the_mean_but_for_the_l2_term_it_holds_once(l2):
    inputs, nodes, _ = LOSS_GRAPHS["summed"]
    summed = Graph.build(inputs, nodes, l2)
    mean = Graph.build(inputs, {**nodes, "loss": "cce(yhat, y)"}, l2)
    params, X, Y = _point(summed, 5, m=6)
    by_sum, by_mean = (graph_matrix_form(g).evaluate(params, X, Y) for g in (summed, mean))
    for n, p in enumerate(summed.params):
        decay = l2 * params[n] if p.decayed else 0.0  # λW, in the mean's gradient once too
        assert np.allclose(by_sum[f"d{p.name}"], 6 * (by_mean[f"d{p.name}"] - decay) + decay, atol=1e-13)
    assert np.allclose(by_sum["D2"], by_sum["Yhat"] - Y, atol=1e-15)  # no 1/m: each sample's own delta
    penalty = 0.5 * l2 * sum(float(np.sum(params[n] ** 2)) for n, p in enumerate(summed.params) if p.decayed)
    assert by_sum["E"] == pytest.approx(6 * (by_mean["E"] - penalty) + penalty, rel=1e-13)
