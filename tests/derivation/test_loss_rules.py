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
}


@pytest.mark.parametrize("name", LOSS_GRAPHS)
def test_each_losss_scalar_matrix_and_finite_differences_agree(name):
    _agree(Graph.build(*LOSS_GRAPHS[name], title=name), seed=1)


@pytest.mark.parametrize("loss", ["focal", "hinge"])
def test_a_layer_lists_new_loss_agrees_too(loss):
    _agree(Network.build([3, 4, 3], ["tanh"], "identity" if loss == "hinge" else "softmax", loss))


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
