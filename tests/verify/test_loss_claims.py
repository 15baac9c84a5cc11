"""Published gradients of the losses people write, checked as they wrote them: CS231n's SVM (a claim and its
NumPy code), label smoothing's target, the focal loss's weight."""
import pytest

from symnet.errors import InputError
from symnet.spec import Graph
from symnet.verify.code import check_code
from symnet.verify.matrix import check_matrix
from symnet.verify.verdict import check

from tests.derivation.test_loss_rules import LOSS_GRAPHS


def graph(name: str) -> Graph:
    return Graph.build(*LOSS_GRAPHS[name], title=name)


#: CS231n's svm_loss_vectorized's dscores, for the scores H2 of the last dense layer
DSCORES = ("(((H2 - np.sum(Y * H2, axis=1, keepdims=True) + 1) * (1 - Y) > 0)"
           " - Y * np.sum((H2 - np.sum(Y * H2, axis=1, keepdims=True) + 1) * (1 - Y) > 0, axis=1, keepdims=True)) / m")


def test_cs231ns_svm_gradient_is_right_and_without_the_true_classs_count_wrong():
    g = graph("hinge")
    assert check_matrix(g, "W2", f"A1.T @ ({DSCORES})").ok
    without = DSCORES.replace(" - Y * np.sum((H2 - np.sum(Y * H2, axis=1, keepdims=True) + 1) * (1 - Y) > 0, axis=1, "
                              "keepdims=True)", "")
    assert not check_matrix(g, "W2", f"A1.T @ ({without})").ok


def test_smoothing_changes_the_target_the_prediction_is_compared_with():
    g = graph("smoothed")
    assert check_matrix(g, "W2", "A1.T @ (Yhat - (0.9*Y + 0.1/3)) / m").ok
    wrong = check_matrix(g, "W2", "A1.T @ (Yhat - Y) / m")
    assert not wrong.ok and "9/10" in wrong.correct


def test_the_focal_loss_is_not_the_cross_entropys_difference():
    assert not check_matrix(graph("focal"), "W2", "A1.T @ (Yhat - Y) / m").ok


SVM_CODE = """
import numpy as np

def backprop(params, X, Y):
    W1, b1, W2, b2 = params
    N = X.shape[0]
    A1 = np.tanh(X @ W1 + b1)
    scores = A1 @ W2 + b2
    y = Y.argmax(axis=1)
    correct = scores[np.arange(N), y][:, None]
    margins = np.maximum(0, scores - correct + 1)
    margins[np.arange(N), y] = 0
    dscores = (margins > 0).astype(float)
    dscores[np.arange(N), y] -= COUNT
    dscores /= N
    dA1 = dscores @ W2.T
    dH1 = dA1 * (1 - A1**2)
    return [X.T @ dH1, dH1.sum(axis=0), A1.T @ dscores, dscores.sum(axis=0)]
"""


@pytest.mark.parametrize("count, ok", [("dscores.sum(axis=1)", True), ("0", False)])
def test_cs231ns_svm_backprop_in_numpy_is_checked(tmp_path, count, ok):
    path = tmp_path / "svm.py"
    path.write_text(SVM_CODE.replace("COUNT", count))
    report = check_code(str(path), graph("hinge"))
    assert report.ok is ok
    if not ok:
        assert {p.name for p in report.params if not p.ok} == {"W1", "b1", "W2", "b2"}


def test_a_summed_costs_gradient_has_no_1_over_m_and_a_claim_with_m_is_refused():
    g = graph("summed")
    assert check_matrix(g, "b2", "np.sum(Yhat - Y, axis=0)").ok
    assert not check_matrix(g, "b2", "np.sum(Yhat - Y, axis=0) / m").ok
    assert check(g, wrt="b2[1]", claim="yhat[1] - y1").correct  # one sample's term is its own derivative
    with pytest.raises(InputError, match="this loss sums them"):
        check(g, wrt="b2[1]", claim="(yhat[1] - y1)/m")


#: CS231n's softmax_loss_vectorized behind a tanh layer: y holds each sample's class, and dscores[range(N), y] -= 1
SOFTMAX_CODE = """
import numpy as np

def backprop(params, X, y):
    W1, b1, W2, b2 = params
    N = X.shape[0]
    A1 = np.tanh(X @ W1 + b1)
    scores = A1 @ W2 + b2
    scores -= scores.max(axis=1, keepdims=True)
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    dscores = probs.copy()
    dscores[range(N), y] -= 1
    dscores /= DIVISOR
    dH1 = (dscores @ W2.T) * (1 - A1 ** 2)
    return [X.T @ dH1, dH1.sum(axis=0), A1.T @ dscores, dscores.sum(axis=0)]
"""
INT_LABELS = (3, {"a1": "tanh(dense(x, 4))", "yhat": "softmax(dense(a1, 3))", "loss": "cce(yhat, y, labels='int')"})


@pytest.mark.parametrize("divisor, ok", [("N", True), ("1", False)])
def test_cs231ns_integer_labels_reach_the_code_as_class_indices(tmp_path, divisor, ok):
    path = tmp_path / "softmax.py"
    path.write_text(SOFTMAX_CODE.replace("DIVISOR", divisor))
    report = check_code(str(path), Graph.build(*INT_LABELS))
    assert report.ok is ok
    if not ok:
        assert "summed over the batch where E averages" in report.diagnosis


def test_code_that_indexes_with_one_hot_targets_is_told_to_say_labels_int(tmp_path):
    path = tmp_path / "softmax.py"
    path.write_text(SOFTMAX_CODE.replace("DIVISOR", "N"))
    one_hot = Graph.build(INT_LABELS[0], {**INT_LABELS[1], "loss": "cce(yhat, y)"})
    with pytest.raises(InputError, match=r"raised IndexError at line 12 .*say so: --labels int"):
        check_code(str(path), one_hot)


def test_hintons_distillation_gradient_is_the_difference_over_the_temperature():
    # Hinton, Vinyals & Dean (2015): ∂C/∂zᵢ = (qᵢ − pᵢ)/T for soft targets p and q = softmax(z/T)
    g = Graph.build(3, {"a1": "tanh(dense(x, 4))", "soft": "softmax(dense(a1, 3), T=2.0)", "loss": "cce(soft, y)"})
    assert check(g, wrt="h2[1]", claim="(soft[1] - y1)/2").correct
    wrong = check(g, wrt="h2[1]", claim="soft[1] - y1")
    assert not wrong.correct and any("constant factor 2" in d for d in wrong.diagnosis)


def test_a_correct_focal_claim_is_accepted():
    # ∂E/∂ŷ = y(γ(1 − ŷ)^(γ−1) log ŷ − (1 − ŷ)^γ/ŷ) with γ = 3, then back through the softmax's Jacobian
    G = "Y * (3*(1 - Yhat)**2 * np.log(Yhat) - (1 - Yhat)**3 / Yhat)"
    claim = f"A1.T @ (Yhat * ({G} - np.sum({G} * Yhat, axis=1, keepdims=True))) / m"
    assert check_matrix(graph("focal"), "W2", claim).ok
    assert not check_matrix(graph("focal"), "W2", claim.replace("3*", "2*")).ok


def test_check_code_under_a_summed_cost_names_a_mean_as_divided_by_m(tmp_path):
    path = tmp_path / "svm.py"
    path.write_text(SVM_CODE.replace("COUNT", "dscores.sum(axis=1)"))
    inputs, nodes = LOSS_GRAPHS["hinge"]
    summed = Graph.build(inputs, {**nodes, "loss": "hinge(scores, y, reduction='sum')"})
    report = check_code(str(path), summed)
    assert not report.ok and "averaged over the batch where E sums it" in report.diagnosis
