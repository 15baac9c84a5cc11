"""check-code on graph specs: a person's NumPy backprop of a residual network against the graph's matrix form."""
import pytest

from symnet.spec import Graph
from symnet.verify.code import check_code

from tests.derivation.test_graph_rules import KINDS

RIGHT = """
import numpy as np

def backprop(params, X, Y):
    W1, b1, W2, b2, W3, b3 = params
    m = len(X)
    H1 = X @ W1 + b1; A1 = np.tanh(H1)
    S = A1 @ W2 + b2 + A1; A2 = np.tanh(S)
    H3 = A2 @ W3 + b3
    E = np.exp(H3 - H3.max(axis=1, keepdims=True)); Yhat = E / E.sum(axis=1, keepdims=True)
    D3 = (Yhat - Y) / m
    D2 = (D3 @ W3.T) * (1 - A2**2)
    D1 = (D2 @ W2.T + SKIP) * (1 - A1**2)
    return [X.T @ D1, D1.sum(0), A1.T @ D2, D2.sum(0), A2.T @ D3, D3.sum(0)]
"""


@pytest.mark.slow
@pytest.mark.parametrize("skip, ok", [("D2", True), ("0", False)])
def test_a_residual_backprop_is_checked_and_a_missing_skip_named(tmp_path, skip, ok):
    path = tmp_path / "mine.py"
    path.write_text(RIGHT.replace("SKIP", skip))
    report = check_code(str(path), Graph.build(*KINDS["residual"], title="residual"))
    assert report.ok is ok
    if not ok:
        assert [p.name for p in report.params if not p.ok] == ["W1", "b1"]
        assert "the path from a1 through add1 is missing" in report.diagnosis and report.first_wrong_layer == 1
