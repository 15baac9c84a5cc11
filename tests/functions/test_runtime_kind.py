"""A layer kind is one definition: a kind added at run time (a = c ⊙ h with a learnable c per unit) goes
through derive, codegen, gradcheck, check and check-code with no other file changed."""
import pytest
import sympy as sp

from symnet.cli import main
from symnet.functions.layers import Layer, Param, register, unregister


class Scale(Layer):
    """a = c ⊙ h: every unit scaled by a learnable factor of its own."""

    name = "scale"
    numbered = "scale"
    stem = "s"
    title = "scaling"
    lesson = "A scaling multiplies each unit by its own factor, so the derivative passes back times that factor."

    def parameters(self, node, widths):
        return [Param(f"c{node.number}", "c", (widths[0],), False, None, 1.0)]

    def scalar(self, node, inputs, params):
        return [c * h for c, h in zip(params["c"], inputs[0])]

    def indexed(self, node, inputs, params, widths, j):
        return params["c"][j] * inputs[0][j]


SPEC = """inputs = 2
[nodes]
h1 = "dense(x, 3)"
a = "scale(tanh(h1))"
yhat = "sigmoid(dense(a, 1))"
loss = "bce(yhat, y)"
"""
BACKPROP = """
import numpy as np

def backprop(params, X, Y):
    W1, b1, c1, W2, b2 = params
    m = len(X)
    T = np.tanh(X @ W1 + b1); S = c1 * T
    Yhat = 1 / (1 + np.exp(-(S @ W2 + b2)))
    D2 = (Yhat - Y) / m
    dS = D2 @ W2.T
    D1 = dS * c1 * (1 - T**2)
    return [X.T @ D1, D1.sum(0), (dS * T).sum(0), S.T @ D2, D2.sum(0)]
"""


@pytest.fixture
def scale():
    register(Scale())
    yield
    unregister("scale")


@pytest.mark.slow
def test_a_kind_added_at_run_time_goes_through_every_command(scale, tmp_path, capsys):
    spec = tmp_path / "scale.toml"
    spec.write_text(SPEC)
    code = tmp_path / "mine.py"
    code.write_text(BACKPROP)
    assert main(["derive", str(spec), "-o", str(tmp_path / "s.tex")]) == 0
    assert "A scaling multiplies each unit" in (tmp_path / "s.tex").read_text()
    assert main(["codegen", str(spec), "-o", str(tmp_path / "s.py")]) == 0
    assert "PARAMS = ('W1', 'b1', 'c1', 'W2', 'b2')" in (tmp_path / "s.py").read_text()
    assert main(["gradcheck", str(spec)]) == 0
    assert main(["check", str(spec), "--wrt", "c1[1]", "--claim", "tanh1[1]*W2[1,1]*delta2[1]"]) == 0
    assert main(["check", str(spec), "--wrt", "c1", "--claim", "(Tanh1 * (D2 @ W2.T)).sum(axis=0)"]) == 0
    assert main(["check-code", str(code), str(spec)]) == 0
    out = capsys.readouterr().out
    assert "c1  ok" in out and "correct: every gradient matches" in out


def test_the_kinds_derivative_is_derived_from_its_definition(scale, tmp_path):
    from symnet.derivation.rules import rules
    from symnet.spec import load

    spec = tmp_path / "scale.toml"
    spec.write_text(SPEC)
    r = rules(load(str(spec)))
    c1, tanh1 = sp.IndexedBase("c1", real=True), sp.IndexedBase("tanh1", real=True)
    j = sp.Symbol("j", integer=True, positive=True)
    p, l = sp.Symbol("p", integer=True, positive=True), sp.Symbol("l", integer=True, positive=True)
    W2, delta2 = sp.IndexedBase("W2", real=True), sp.IndexedBase("delta2", real=True)
    n2 = sp.Symbol("n2", integer=True, positive=True)
    # ∂s/∂c = tanh, ∂s/∂tanh = c: both derived from c·h alone
    assert r.nodes["s1"].pullbacks["tanh1"] == c1[p] * r.nodes["s1"].grad[p]
    assert r.params["c1"].uses[0][1] == tanh1[j] * sp.Sum(W2[j, l] * delta2[l], (l, 1, n2))
