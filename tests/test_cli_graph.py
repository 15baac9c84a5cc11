"""The command line on graph specs: every command takes a graph's file; bad graphs are one line, exit 2."""
from pathlib import Path

import numpy as np
import pytest

from symnet.cli import main

RESIDUAL = """inputs = 64
[nodes]
a1   = "relu(dense(x, 32))"
a2   = "relu(dense(a1, 32) + a1)"     # a residual connection
yhat = "softmax(dense(a2, 10))"
loss = "cce(yhat, y)"
"""
SMALL = """inputs = 2
[nodes]
a1   = "tanh(dense(x, 2))"
a2   = "tanh(dense(a1, 2) + a1)"
yhat = "sigmoid(dense(a2, 1))"
loss = "mse(yhat, y)"
"""


@pytest.fixture
def small(tmp_path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def test_derive_writes_a_graphs_write_up_and_web_page(small, tmp_path, capsys):
    assert main(["derive", str(small), "--values", "random", "-o", str(tmp_path / "s.tex")]) == 0
    assert r"\section{The backward pass, node by node}" in (tmp_path / "s.tex").read_text()
    assert main(["derive", str(small), "--html", "-o", str(tmp_path / "s.html")]) == 0
    assert "<svg" in (tmp_path / "s.html").read_text()
    assert "small (2 inputs → 1 output, 3 dense layers, mse)" in capsys.readouterr().out


def test_check_takes_scalar_and_matrix_claims_on_a_graph(small, capsys):
    assert main(["check", str(small), "--wrt", "add1[1]", "--claim", "delta2[1]"]) == 0
    assert main(["check", str(small), "--wrt", "A1", "--claim", "D2 @ W2.T"]) == 1
    assert "the path from a1 through add1 is missing" in capsys.readouterr().out


def test_example_prints_a_graphs_numbers(small, capsys):
    assert main(["example", str(small), "--values", "random:3"]) == 0
    out = capsys.readouterr().out
    assert "add1[1]" in out and "dE/dW1[1,1]" in out


@pytest.mark.parametrize("nodes, says", [
    ('a = "relu(a)"\nloss = "mse(a, y)"', "reads itself"),
    ('a = "relu(dense(x, 2)) + dense(x, 3)"\nloss = "mse(a, y)"', "adds 2 units to 3"),
    ('a = "boom(dense(x, 2))"\nloss = "mse(a, y)"', "unknown kind 'boom'"),
    ('a = "relu(dense(x, 2))"\nb = "relu(a)"\nloss = "mse(a, y)"', "node b is computed but never used"),
    ('a = "relu(dense(x, 2))"\nloss = "mse(a, y)"\nb = "relu(a)"', "comes after the loss"),
    ('a = "relu(dense(x, 2))"\na = "relu(dense(x, 3))"\nloss = "mse(a, y)"', "a is defined twice"),
    ('a = "tanh(dense(x, 3))"\nb = "dense(a, 3, W=W1)"\nloss = "mse(b, y)"', "W=W1 is 2×3"),
    ('a = "softmax(dense(x, 3))"\nloss = "cce(a, y, smoothing=1.5)"', "smoothing=1.5 must be at least 0 and below 1"),
    ('a = "dense(x, 3)"\nloss = "hinge(a, y, margin=-1)"', "margin=-1.0 must be a number above 0"),
    ('scores = "dense(x, 1)"\nloss = "hinge(scores, y)"', "hinge needs at least two outputs, one per class (scores has 1)"),
])
@pytest.mark.parametrize("command", [["codegen", "-o", "OUT"], ["gradcheck"], ["derive"], ["check", "--wrt", "W1[1,1]",
                                                                                          "--claim", "0"]])
def test_a_bad_graph_is_one_line_and_exit_2_whatever_the_command(tmp_path, capsys, nodes, says, command):
    spec = tmp_path / "bad.toml"
    spec.write_text(f"inputs = 2\n[nodes]\n{nodes}\n")
    args = [command[0], str(spec), *[str(tmp_path / "out.py") if a == "OUT" else a for a in command[1:]]]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "out.py").exists()


def test_a_graph_refuses_the_layer_lists_options_and_layouts_in_one_line(small, tmp_path, capsys):
    assert main(["codegen", str(small), "-o", str(tmp_path / "k.py"), "--mode", "unrolled"]) == 2
    assert main(["codegen", str(small), "-o", str(tmp_path / "k.py"), "--target", "cuda"]) == 2
    assert main(["derive", str(small), "--params", "W1[1,1]", "-o", str(tmp_path / "k.tex")]) == 2
    assert main(["derive", str(small), "--hidden", "relu"]) == 2
    err = capsys.readouterr().err
    assert "one layout" in err and "takes a layer list" in err and "leave params out" in err and "spec file" in err
    assert not (tmp_path / "k.py").exists()


@pytest.mark.slow
def test_codegen_gradcheck_train_and_predict_a_residual_network(tmp_path, capsys):
    spec = tmp_path / "residual.toml"
    spec.write_text(RESIDUAL)
    assert main(["codegen", str(spec), "-o", str(tmp_path / "k.py")]) == 0
    assert main(["gradcheck", str(spec)]) == 0
    assert main(["train", str(spec), "--data", "digits", "--epochs", "5", "--quiet", "--save",
                 str(tmp_path / "m.npz")]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("test accuracy ")[1].split(",")[0])
    assert accuracy > 0.9
    with np.load(tmp_path / "m.npz") as saved:
        assert {"W1", "b1", "W2", "b2", "W3", "b3", "spec"} <= set(saved.files)
    from sklearn.datasets import load_digits

    d = load_digits()
    np.savez(tmp_path / "x.npz", X=d.data[:10])
    assert main(["predict", str(tmp_path / "m.npz"), "--data", str(tmp_path / "x.npz")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 11


def test_reduction_sum_makes_a_layer_list_a_graph_whose_claims_carry_no_1_over_m(small, capsys):
    assert main(["check", "2-2-1", "--reduction", "sum", "--wrt", "b2[1]", "--claim", "(yhat-y)*yhat*(1-yhat)"]) == 0
    assert capsys.readouterr().out.startswith("correct: ∂E/∂b2[1]")
    summed = "np.sum((Yhat - Y) * Yhat * (1 - Yhat), axis=0)"  # no 1/m
    assert main(["check", "2-2-1", "--reduction", "sum", "--wrt", "b2", "--claim", summed]) == 0
    assert main(["check", "2-2-1", "--reduction", "sum", "--wrt", "b2[1]", "--claim", "(yhat-y)*yhat*(1-yhat)/m"]) == 2
    assert "this loss sums them (reduction='sum')" in capsys.readouterr().err
    assert main(["gradcheck", str(small), "--reduction", "sum"]) == 2
    assert "cannot be combined with a spec file" in capsys.readouterr().err


def test_labels_int_is_for_a_loss_over_classes(capsys):
    assert main(["check", "2-2-1", "--labels", "int", "--wrt", "b2[1]", "--claim", "0"]) == 2
    assert "--labels is for a loss over classes (cce, focal, hinge), not mse" in capsys.readouterr().err
    assert main(["check", "2-2-2", "--output", "softmax", "--loss", "cce", "--labels", "int", "--wrt", "b2[1]",
                 "--claim", "yhat[1] - y1"]) == 0  # a scalar claim reads y1, y2 whatever the code reads
    assert capsys.readouterr().out.startswith("correct: ∂E/∂b2[1] = yhat[1] - y1")


def test_a_loss_option_on_a_layer_list_keeps_its_command_and_refuses_augmented_biases(tmp_path, capsys):
    out = tmp_path / "k.py"
    assert main(["codegen", "3-4-3", "--output", "softmax", "--loss", "cce", "--reduction", "sum", "-o", str(out)]) == 0
    assert "symnet codegen 3-4-3 --hidden sigmoid --output softmax --loss cce --reduction sum -o" in out.read_text()
    assert main(["check", "3-4-1", "--reduction", "sum", "--bias", "augmented", "--wrt", "W2[5,1]", "--claim", "0"]) == 2
    assert "--bias augmented names a layer list's biases" in capsys.readouterr().err
