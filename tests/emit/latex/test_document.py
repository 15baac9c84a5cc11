"""The write-up: what the document says (the first article's chain, the lemma, the bias notation),
the worked example's numbers, bad input, and that generated/ is up to date.  Compiling is in
test_writeup_compile.py."""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symnet
from symnet.cli import main
from symnet.regenerate import GENERATED

from tests.numeric.test_worked import numpy_reference

ROOT = Path(__file__).resolve().parents[3]
VALUES = GENERATED / "article1_2-2-1.values.toml"


@pytest.fixture(scope="module")
def article1_tex():
    return symnet.latex(symnet.derive("2-2-1", bias="augmented"), values=VALUES)


def test_first_article_chain_has_its_four_factors_in_chain_order(article1_tex):
    # ∂E/∂W⁽¹⁾₁₁ = ∂E/∂ŷ · ∂ŷ/∂h · ∂h/∂h₁ · ∂h₁/∂W⁽¹⁾₁₁, as the first article writes it
    chain = (r"\frac{\partial E}{\partial W^{(1)}_{11}} &= \frac{\partial E}{\partial \hat{y}} \, "
             r"\frac{\partial \hat{y}}{\partial h^{(2)}_{1}} \, \frac{\partial h^{(2)}_{1}}{\partial h^{(1)}_{1}} \, "
             r"\frac{\partial h^{(1)}_{1}}{\partial W^{(1)}_{11}}")
    assert chain in article1_tex
    # each factor's value, the hidden one through σ′ as the article computes it
    assert r"&= \hat{y} - y" in article1_tex
    assert r"&= W^{(2)}_{11} \, \sigma(h^{(1)}_{1}) (1 - \sigma(h^{(1)}_{1}))" in article1_tex
    assert r"&= W^{(2)}_{11} \, a^{(1)}_{1} (1 - a^{(1)}_{1})" in article1_tex
    # the simplified result, in chain order
    assert (r"&= (\hat{y} - y) \, \hat{y} (1 - \hat{y}) \, W^{(2)}_{11} a^{(1)}_{1} (1 - a^{(1)}_{1}) \, x_{1}"
            in article1_tex)


def test_sigmoid_lemma_is_derived_step_by_step(article1_tex):
    # as the first article does it: e⁻ˣ/(1 + e⁻ˣ)² factored into σ(x)(1 − σ(x)), not through eˣ = σ/(1 − σ)
    assert r"\sigma'(x) &= \frac{\partial}{\partial x} \left(\frac{1}{1 + e^{- x}}\right)" in article1_tex
    assert r"&= \frac{e^{- x}}{\left(1 + e^{- x}\right)^{2}}" in article1_tex
    assert r"&= \frac{1}{1 + e^{- x}} \, \frac{e^{- x}}{1 + e^{- x}}" in article1_tex
    assert r"&= \sigma(x) \, (1 - \sigma(x))" in article1_tex
    assert r"e^{x} = \frac{\sigma(x)}{1 - \sigma(x)}" not in article1_tex


def test_augmented_bias_is_the_extra_row_of_W(article1_tex):
    # h₁ = W₁₁x₁ + W₂₁x₂ + W₃₁, exactly as the first article writes it; no b anywhere
    assert r"h^{(1)}_{1} &= W^{(1)}_{11} x_{1} + W^{(1)}_{21} x_{2} + W^{(1)}_{31}" in article1_tex
    assert "b^{(1)}" not in article1_tex and "b^{(2)}" not in article1_tex
    separate = symnet.latex(symnet.derive("2-2-1"))
    assert r"h^{(1)}_{1} &= W^{(1)}_{11} x_{1} + W^{(1)}_{21} x_{2} + b^{(1)}_{1}" in separate
    assert "W^{(1)}_{31}" not in separate


def g9(v: float) -> str:
    return f"{v:.9g}"


def test_values_reproduce_numpy_digit_for_digit(article1_tex):
    import tomllib
    v = tomllib.loads(VALUES.read_text())
    h1, a1, h2, yhat, E, (gW1, gb1, gW2, gb2) = numpy_reference(v)
    tex = article1_tex
    assert g9(h1[0]) == "0.3775" and g9(E) == "0.274811083"
    for value in [*h1, *a1, *h2, *yhat]:
        assert f"${g9(value)}$" in tex  # a cell of the forward pass's table
    assert f"E = {g9(E)}" in tex
    lr = v["learning_rate"]
    params = [(W, g) for W, g in ((np.array(v["W1"]), gW1), (np.array(v["b1"]), gb1),
                                   (np.array(v["W2"]), gW2), (np.array(v["b2"]), gb2))]
    for before, grad in params:
        for b, g in zip(before.reshape(-1), grad.reshape(-1)):
            # the update table's row: before, gradient, after
            assert f"{g9(b)} & {g9(g)} & {g9(b - lr * g)}" in tex
    # the chain of W⁽¹⁾₁₁ multiplied out factor by factor
    factors = [yhat[0] - v["y"][0], yhat[0] * (1 - yhat[0]), v["W2"][0][0] * a1[0] * (1 - a1[0]), v["x"][0]]
    assert math.isclose(np.prod(factors), gW1[0, 0], rel_tol=1e-12)
    assert " \\cdot ".join(g9(f) for f in factors) in tex


@pytest.mark.slow
def test_wide_net_gives_rules_and_samples_not_every_weight():
    d = symnet.derive("64-32-10", hidden="relu", output="softmax", loss="cce")
    tex = symnet.latex(d)
    # W1, W2 written out; b1, b2 as their weights' chains with ∂h/∂b = 1 in place of ∂h/∂W
    assert tex.count(r"\subsection*{The derivative with respect to") == 2
    assert tex.count(r"\subsection*{The derivatives with respect to the bias") == 2
    assert r"\delta^{(1)}_{j}" in tex and "2410 parameters" in tex
    assert len(tex) < 40_000


def test_params_list_selects_chains():
    tex = symnet.latex(symnet.derive("2-2-1"), params="W2[1,1],b1[2]")
    assert tex.count(r"\subsection*{The derivative with respect to") == 2
    assert "with respect to $W^{(2)}_{11}$" in tex and "with respect to $b^{(1)}_{2}$" in tex


def run_cli(args, capsys):
    rc = main(args)
    err = capsys.readouterr().err
    return rc, err


@pytest.mark.parametrize("args, message", [
    (["--params", "W9[1,1]"], "'W9[1,1]' is not a parameter of the 2-2-1 network"),
    (["--params", "W1[1,1],bogus"], "'bogus' is not a parameter"),
    (["--values", "missing.toml"], "values file missing.toml does not exist"),
    (["--momentum", "1.5"], "--momentum must be in [0, 1)"),
])
def test_bad_input_is_one_line_exit_2_no_file(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    rc, err = run_cli(["derive", "2-2-1", "-o", "out.tex", *args], capsys)
    assert rc == 2
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, message", [
    ("x = [0.05, 0.1]\ny = [0.01]\nW1 = [[0.1, 0.2], [0.3, 0.4]]\nb1 = [0.1, 0.1]\nb2 = [0.1]\n", "missing W2"),
    ("x = [0.05, 0.1]\ny = [0.01]\nW1 = [[0.1, 0.2, 0.3], [0.3, 0.4, 0.5]]\nb1 = [0.1, 0.1]\nW2 = [[0.1], [0.2]]\n"
     "b2 = [0.1]\n", "W1 has shape (2, 3), expected (2, 2)"),
])
def test_bad_values_file_is_one_line_exit_2_no_file(tmp_path, capsys, content, message):
    values = tmp_path / "v.toml"
    values.write_text(content)
    out = tmp_path / "out.tex"
    rc, err = run_cli(["derive", "2-2-1", "-o", str(out), "--values", str(values)], capsys)
    assert rc == 2 and message in err and err.count("\n") == 1
    assert not out.exists()


def test_unwritable_output_is_one_line_exit_2(tmp_path, capsys):
    rc, err = run_cli(["derive", "2-2-1", "-o", str(tmp_path / "no" / "such" / "dir.tex")], capsys)
    assert rc == 2 and "does not exist" in err and err.count("\n") == 1
    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    rc, err = run_cli(["derive", "2-2-1", "-o", str(a_file / "out.tex")], capsys)
    assert rc == 2 and "is not a directory" in err and err.count("\n") == 1


def test_output_without_write_permission_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    # root may write anywhere, so the permission answer is what the check sees, not a chmod
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked and mode == os.W_OK
                        else real_access(p, mode))
    rc, err = run_cli(["derive", "2-2-1", "-o", str(locked / "out.tex")], capsys)
    assert rc == 2 and "permission denied" in err and err.count("\n") == 1
    assert list(locked.iterdir()) == []


def test_stdout_without_o(capsys):
    assert main(["derive", "2-1-1", "--hidden", "identity", "--output", "identity"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("%") or out.startswith(r"\documentclass")
    assert out.rstrip().endswith(r"\end{document}")


def test_templates_load_from_the_checkout_and_as_package_data():
    from symnet.emit.templates import latex_environment, python_environment, template_dir
    assert template_dir() == ROOT / "templates"
    for env, folder, name in ((latex_environment(), "latex", "writeup.tex.j2"),
                              (python_environment(), "numba", "kernel.py.j2")):
        source, filename, _ = env.loader.get_source(env, name)
        assert Path(filename) == ROOT / "templates" / folder / name
        assert source == (ROOT / "templates" / folder / name).read_text()


@pytest.mark.parametrize("output, loss, likelihood", [("softmax", "cce", True), ("identity", "hinge", False),
                                                      ("softmax", "focal", False)])
def test_only_the_cross_entropy_is_called_the_negative_log_likelihood(output, loss, likelihood):
    tex = symnet.latex(symnet.derive("3-4-3", output=output, loss=loss))
    assert ("(the negative log-likelihood of the true class)" in tex) is likelihood
