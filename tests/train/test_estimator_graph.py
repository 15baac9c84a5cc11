"""The estimators' ``graph=``: the hidden part of the network as graph nodes (a residual net, a concatenation,
tied weights, a layer without bias), the output layer and the loss added by the estimator for its task."""
import os
import pickle

import numpy as np
import pytest

if not os.environ.get("CI"):  # CI installs the [datasets] extra: there a missing scikit-learn is a failure
    pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import symnet  # noqa: E402
from symnet.train.estimator import MLPClassifier, MLPRegressor  # noqa: E402

RESIDUAL = {"a1": "relu(dense(x, 32))", "a2": "relu(dense(a1, 32) + a1)"}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, random_state=0)


@pytest.mark.slow
def test_a_residual_classifier_learns_digits_in_a_pipeline(digits, tmp_path):
    Xtr, Xte, ytr, yte = digits
    clf = make_pipeline(StandardScaler(), MLPClassifier(graph=RESIDUAL, max_iter=15, random_state=0)).fit(Xtr, ytr)
    assert clf.score(Xte, yte) > 0.93
    est = clf[-1]
    assert isinstance(est.network_, symnet.Graph)
    assert [n.name for n in est.network_.nodes] == ["h1", "a1", "h2", "add1", "a2", "h3", "yhat", "loss"]
    assert [W.shape for W in est.coefs_] == [(64, 32), (32, 32), (32, 10)]
    assert [b.shape for b in est.intercepts_] == [(32,), (32,), (10,)]
    assert est.out_activation_ == "softmax" and est.n_iter_ == 15 and len(est.loss_curve_) == 15
    np.testing.assert_allclose(est.predict_proba(Xte[:5]).sum(axis=1), 1.0)
    # what it trained with is what it writes: the graph's write-up and the kernel with its PARAMS
    assert "add" in est.writeup(tmp_path / "model.tex").read_text()
    source = est.kernel(tmp_path / "model_kernel.py").read_text()
    assert "PARAMS = ('W1', 'b1', 'W2', 'b2', 'W3', 'b3')" in source and 'a2 = "relu(add1)"' in source


@pytest.mark.slow
def test_partial_fit_continues_a_graph_as_fit_does(digits):
    Xtr, _, ytr, _ = digits
    X = StandardScaler().fit_transform(Xtr)
    graph = {"a1": "tanh(dense(x, 8))", "c": "concat(a1, x)"}  # the output layer reads a1 and the inputs
    fitted = MLPClassifier(graph=graph, max_iter=3, random_state=1, momentum=0.9).fit(X, ytr)
    stepped = MLPClassifier(graph=graph, max_iter=3, random_state=1, momentum=0.9)
    for _ in range(3):
        stepped.partial_fit(X, ytr, classes=np.arange(10))
    assert [W.shape for W in fitted.coefs_] == [(64, 8), (72, 10)]
    for a, b in zip(fitted.coefs_ + fitted.intercepts_, stepped.coefs_ + stepped.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert fitted.loss_curve_ == pytest.approx(stepped.loss_curve_, abs=1e-12)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))


@pytest.mark.slow
def test_tied_weights_and_a_layer_without_bias_have_no_arrays_of_their_own():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    y = np.tanh(X @ rng.normal(size=6))
    graph = {"code": "tanh(dense(x, 3, bias=false))", "back": "tanh(dense(code, 6, W=W1.T))"}
    reg = MLPRegressor(graph=graph, max_iter=60, random_state=0, learning_rate_init=0.05).fit(X, y)
    assert [p for p, _ in reg.network_.param_shapes] == ["W1", "b2", "W3", "b3"]
    assert [W.shape for W in reg.coefs_] == [(6, 3), (6, 1)]  # the decoder reads W1 transposed
    assert [b.shape for b in reg.intercepts_] == [(6,), (1,)]  # the encoder has none
    assert reg.score(X, y) > 0.5
    assert reg.predict(X).shape == (200,)


def test_a_graph_is_a_parameter_like_the_others():
    est = MLPClassifier(graph=RESIDUAL)
    assert est.get_params()["graph"] == RESIDUAL
    assert clone(est).get_params()["graph"] == RESIDUAL
    assert MLPRegressor(graph=RESIDUAL).set_params(graph=None).graph is None


@pytest.mark.parametrize("graph, words", [
    ({"yhat": "relu(dense(x, 8))"}, "node yhat: the output layer (yhat) and the loss are added after the hidden"),
    ({"a1": "relu(dense(z, 8))"}, "node a1: dense(...) reads 'z', which is no node"),
    ("a1 = relu(dense(x, 8))", "the hidden nodes must be a dict of node names and expressions over x"),
    ({"a1": "relu(dense(x, 8))", "a2": "a1 + x"}, "node a2: a1 + x adds 8 units to 4; a sum needs two nodes of the same width"),
])
def test_a_bad_graph_is_one_value_error_naming_the_node(graph, words):
    X, y = np.eye(4), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError) as caught:
        MLPClassifier(graph=graph, max_iter=1).fit(X, y)
    assert words in str(caught.value) and "\n" not in str(caught.value)
