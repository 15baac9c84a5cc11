"""`check_code`: a person's own NumPy backprop, run in a child process, judged against the derivation.

The files in code_samples/ are correct implementations, written as people write them (symnet's rows layout,
the course's columns layout, a loop over samples, a dict return); every mistake below is one of them with
one line changed, and the checker must name the first wrong layer and the mistake.
"""
import os
import time
from pathlib import Path

import numpy as np
import pytest

from symnet import Network, derive
from symnet.errors import InputError
from symnet.numeric.evaluate import Evaluator
from symnet.numeric.finite_differences import random_point
from symnet.verify.code import TOLERANCE, check_code, derived_gradients

SAMPLES = Path(__file__).with_name("code_samples")
#: each check starts a Python process (~0.3 s): the fast lane keeps one of each kind, the rest run with the slow tests
SLOW = pytest.mark.slow

NET_232 = Network.parse("2-3-2")  # sigmoid, sigmoid, ½ squared error
NET_453 = Network.parse("4-5-3", hidden="tanh", output="softmax", loss="cce")
NET_344 = Network.parse("3-4-4", hidden="tanh")  # sigmoid output, ½ squared error: square W2


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def copy_with(tmp_path: Path, name: str, old: str, new: str) -> str:
    """The sample with one change, as a user's file."""
    text = sample(name)
    assert text.count(old) == 1, f"{old!r} must occur once in {name}"
    path = tmp_path / "user_backprop.py"
    path.write_text(text.replace(old, new))
    return str(path)


def write(tmp_path: Path, text: str, name: str = "user_backprop.py") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- correct implementations pass, in both conventions -------------------------------------------------------
@pytest.mark.parametrize("name, net, convention, function", [
    ("rows_sigmoid_mse.py", NET_232, "rows", "backprop()"),
    pytest.param("columns_sigmoid_mse.py", NET_232, "columns", "backprop()", marks=SLOW),
    pytest.param("rows_tanh_softmax_cce.py", NET_453, "rows", "gradients()", marks=SLOW),  # returns a dict
    ("columns_tanh_softmax_cce.py", NET_453, "columns", "backward_propagation()"),  # the one 3-argument function
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", "backprop()", marks=SLOW),
    pytest.param("rows_loop_tanh_sigmoid_mse.py", NET_344, "rows", "backprop()", marks=SLOW),  # one sample at a time
])
def test_a_correct_implementation_is_ok(name, net, convention, function):
    report = check_code(str(SAMPLES / name), net, convention=convention)
    assert report.ok
    assert report.first_wrong_layer is None and report.diagnosis == ""
    assert report.function == function
    assert [p.name for p in report.params] == ["W1", "b1", "W2", "b2"]
    assert all(p.ok and p.max_rel_error < 1e-10 and p.diagnosis == "" for p in report.params)
    lines = report.lines()
    assert lines[1].startswith("W1  ok") and "max rel. error" in lines[1]
    assert lines[-1].startswith("correct")


@SLOW
def test_batches_have_different_sizes_none_a_layer_width():
    report = check_code(str(SAMPLES / "rows_sigmoid_mse.py"), NET_232, batches=4, seed=3)
    assert len(set(report.sizes)) == 4
    assert all(m >= 3 and m not in NET_232.layers for m in report.sizes)


@SLOW
def test_a_bias_gradient_without_its_column_axis_is_wrong_because_the_update_would_broadcast(tmp_path):
    path = copy_with(tmp_path, "columns_tanh_softmax_cce.py", "db1 = np.sum(dZ1, axis=1, keepdims=True) / m",
                     "db1 = np.sum(dZ1, axis=1) / m")
    report = check_code(path, NET_453, convention="columns")
    assert not report.ok and report.first_wrong_layer == 1
    assert report.diagnosis == ("db1 has shape (5,) where b1 is (5, 1): an update b1 - lr*db1 would broadcast to "
                                "shape (5, 5) (return it in b1's shape, e.g. np.sum(dZ, axis=1, keepdims=True))")


def test_a_bias_summed_over_the_units_is_named(tmp_path):
    path = copy_with(tmp_path, "columns_tanh_softmax_cce.py", "db1 = np.sum(dZ1, axis=1, keepdims=True) / m",
                     "db1 = np.sum(dZ1, axis=0, keepdims=True) / m")
    report = check_code(path, NET_453, convention="columns")
    assert not report.ok and "db1 has one entry per sample" in report.diagnosis


RELU_BCE_COLUMNS = """
import numpy as np

def backprop(params, X, Y):
    W1, b1, W2, b2 = params
    m = X.shape[1]
    Z1 = W1 @ X + b1
    A1 = np.maximum(Z1, 0)
    A2 = 1 / (1 + np.exp(-(W2 @ A1 + b2)))
    dZ2 = A2 - Y
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    return [dZ1 @ X.T / m, dZ1.sum(axis=1, keepdims=True) / m, dZ2 @ A1.T / m, float(np.sum(dZ2) / m)]
"""


@SLOW
def test_one_output_with_relu_and_bce_in_columns(tmp_path):
    # the output's bias gradient as a plain number: accepted for (1, 1), which an update keeps
    net = Network.parse("2-4-1", hidden="relu", output="sigmoid", loss="bce")
    assert check_code(write(tmp_path, RELU_BCE_COLUMNS), net, convention="columns").ok
    report = check_code(write(tmp_path, RELU_BCE_COLUMNS.replace(" * (Z1 > 0)", "")), net, convention="columns")
    assert report.first_wrong_layer == 1 and report.diagnosis.startswith("f′ of layer 1 missing: ReLU′(Z1)")


@SLOW
def test_function_names_the_one_to_check(tmp_path):
    path = write(tmp_path, sample("rows_sigmoid_mse.py") + "\n\ndef other(params, X, Y):\n    return None\n")
    assert check_code(path, NET_232, function="backprop").ok
    with pytest.raises(InputError, match="other"):
        check_code(path, NET_232, function="other")


@SLOW
def test_importing_the_file_does_not_run_its_main_block():
    # the sample's __main__ block raises SystemExit: it must not run
    assert check_code(str(SAMPLES / "rows_tanh_softmax_cce.py"), NET_453).ok


def test_the_file_runs_in_another_process(tmp_path):
    seen = tmp_path / "pid.txt"
    path = write(tmp_path, sample("rows_sigmoid_mse.py") + f"\nimport os\nopen({str(seen)!r}, 'w').write(str(os.getpid()))\n")
    assert check_code(path, NET_232).ok
    assert int(seen.read_text()) != os.getpid()


# -- each mistake: not ok, the first wrong layer counted from the output, the mistake named --------------------
# (sample, net, convention, line as written, line with the mistake, wrong gradients, first wrong layer, words)
MISTAKES = [
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", "dW1 = X.T @ D1", "dW1 = D1.T @ X",
                 ["W1"], 1, "transposed", id="transposed dW1"),
    pytest.param("columns_tanh_softmax_cce.py", NET_453, "columns", "dW1 = np.dot(dZ1, X.T) / m",
                 "dW1 = np.dot(X, dZ1.T) / m", ["W1"], 1, "transposed", id="transposed dW1, columns", marks=SLOW),
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", "* (1 - Yhat) / m", "* (1 - Yhat)",
                 ["W1", "b1", "W2", "b2"], 2, "every gradient is m times ∂E/∂θ: summed over the batch",
                 id="summed instead of averaged", marks=SLOW),
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", "dW1 = X.T @ D1", "dW1 = X.T @ D1 * m",
                 ["W1"], 1, "dW1 m times ∂E/∂W1", id="one gradient summed", marks=SLOW),
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", "(Yhat - Y)", "(Y - Yhat)",
                 ["W1", "b1", "W2", "b2"], 2, "every gradient is the opposite sign", id="sign flipped", marks=SLOW),
    pytest.param("columns_tanh_softmax_cce.py", NET_453, "columns", "dZ2 = A2 - Y", "dZ2 = Y - A2",
                 ["W1", "b1", "W2", "b2"], 2, "the opposite sign", id="sign flipped, columns"),
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", "* (1 - A1**2)", "* A1 * (1 - A1)",
                 ["W1", "b1"], 1, "σ′ used where tanh′ belongs in layer 1", id="σ′ for tanh′"),
    pytest.param("columns_tanh_softmax_cce.py", NET_453, "columns", "(1 - np.power(A1, 2))", "A1 * (1 - A1)",
                 ["W1", "b1"], 1, "σ′ used where tanh′ belongs in layer 1", id="σ′ for tanh′, columns", marks=SLOW),
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", "(1 - A1**2)",
                 "(1 / (1 + np.exp(-H1))) * (1 - 1 / (1 + np.exp(-H1)))",
                 ["W1", "b1"], 1, "σ′ used where tanh′ belongs in layer 1", id="σ′(H1) for tanh′", marks=SLOW),
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", "D1 = (D2 @ W2.T) * (1 - A1**2)", "D1 = D2 @ W2.T",
                 ["W1", "b1"], 1, "f′ of layer 1 missing", id="f′ missing in layer 1"),
    pytest.param("columns_tanh_softmax_cce.py", NET_453, "columns", " * (1 - np.power(A1, 2))", "",
                 ["W1", "b1"], 1, "f′ of layer 1 missing", id="f′ missing in layer 1, columns", marks=SLOW),
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", " * Yhat * (1 - Yhat)", "",
                 ["W1", "b1", "W2", "b2"], 2, "f′ of layer 2 missing", id="f′ missing in the output layer", marks=SLOW),
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", "(1 - A1**2)", "(1 - np.tanh(A1)**2)",
                 ["W1", "b1"], 1, "f′ of layer 1 evaluated at A1 instead of H1", id="f′ at A", marks=SLOW),
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", "D1 = (D2 @ W2.T) * (1 - A1**2)",
                 "D1 = D2 * (1 - A1**2) @ W2.T", ["W1", "b1"], 1,
                 "the element-wise product with tanh′(H1) comes before the matrix product", id="* before @",
                 marks=SLOW),
    pytest.param("rows_loop_tanh_sigmoid_mse.py", NET_344, "rows", "np.dot(W2, d2) * (1 - a1**2)",
                 "np.dot(np.dot(W2, d2), 1 - a1**2)", ["W1", "b1"], 1,
                 "a dot product where the element-wise product belongs in layer 1", id="np.dot for *", marks=SLOW),
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", "(D2 @ W2.T)", "(D2 @ W2)",
                 ["W1", "b1"], 1, "carried back with W2 where W2.T belongs", id="W where Wᵀ belongs", marks=SLOW),
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", "dW2 = A1.T @ D2", "dW2 = H1.T @ D2",
                 ["W2"], 2, "dW2 computed from H1 (before the activation) where A1 belongs", id="dW from H",
                 marks=SLOW),
    pytest.param("rows_tanh_sigmoid_mse.py", NET_344, "rows", "db1 = D1.sum(axis=0)", "db1 = D1",
                 ["b1"], 1, "db1 not summed over the batch", id="db not summed"),
    pytest.param("columns_tanh_softmax_cce.py", NET_453, "columns", "db1 = np.sum(dZ1, axis=1, keepdims=True) / m",
                 "db1 = dZ1", ["b1"], 1, "db1 not summed over the batch", id="db not summed, columns", marks=SLOW),
]


@pytest.mark.parametrize("name, net, convention, old, new, wrong, layer, words", MISTAKES)
def test_each_mistake_is_found_and_named(tmp_path, name, net, convention, old, new, wrong, layer, words):
    report = check_code(copy_with(tmp_path, name, old, new), net, convention=convention)
    assert not report.ok
    assert [p.name for p in report.params if not p.ok] == wrong
    assert report.first_wrong_layer == layer
    assert words in report.diagnosis
    assert "does not match" not in report.diagnosis
    assert all(p.diagnosis for p in report.params if not p.ok)
    assert all(p.max_rel_error <= TOLERANCE and p.diagnosis == "" for p in report.params if p.ok)
    assert report.lines()[-1] == (f"wrong from layer {layer} (the first wrong layer counted from the output): "
                                  f"{report.diagnosis}")


def test_the_report_reads_one_line_per_parameter(tmp_path):
    path = copy_with(tmp_path, "rows_tanh_sigmoid_mse.py", "D1 = (D2 @ W2.T) * (1 - A1**2)", "D1 = D2 @ W2.T")
    lines = check_code(path, NET_344).lines()
    assert lines[0].startswith("check-code ") and "3-4-4 --hidden tanh" in lines[0] and "rows convention" in lines[0]
    assert lines[1].startswith("W1  wrong (max rel. error ")
    assert lines[1].endswith("): f′ of layer 1 missing: tanh′(H1) = 1 - A1**2 is not multiplied in")
    assert lines[3].startswith("W2  ok    (max rel. error ")
    assert len(lines) == 6


@SLOW
def test_a_transposed_gradient_reports_both_shapes(tmp_path):
    report = check_code(copy_with(tmp_path, "rows_tanh_sigmoid_mse.py", "dW1 = X.T @ D1", "dW1 = D1.T @ X"), NET_344)
    W1 = report.params[0]
    assert (W1.shape, W1.expected_shape, W1.max_rel_error) == ((4, 3), (3, 4), float("inf"))
    assert "shape (4, 3), expected (3, 4)" in report.lines()[1]
    assert "shape (4, 3) where (3, 4) belongs" in report.diagnosis


@SLOW
def test_a_square_transposed_gradient_is_found_by_value(tmp_path):
    # W2 of 3-4-4 is 4×4: the shape cannot tell, the values do
    report = check_code(copy_with(tmp_path, "rows_tanh_sigmoid_mse.py", "dW2 = A1.T @ D2", "dW2 = D2.T @ A1"), NET_344)
    assert [p.name for p in report.params if not p.ok] == ["W2"]
    assert "dW2 transposed" in report.diagnosis


@SLOW
def test_two_mistakes_at_once_are_both_named(tmp_path):
    path = copy_with(tmp_path, "rows_tanh_sigmoid_mse.py", "(Yhat - Y) * Yhat * (1 - Yhat) / m",
                     "(Y - Yhat) * Yhat * (1 - Yhat)")
    diagnosis = check_code(path, NET_344).diagnosis
    assert "m times ∂E/∂θ" in diagnosis and "the opposite sign" in diagnosis


@SLOW
def test_a_mistake_it_does_not_know_is_said_so(tmp_path):
    path = copy_with(tmp_path, "rows_tanh_sigmoid_mse.py", "db1 = D1.sum(axis=0)", "db1 = 1.5 * D1.sum(axis=0)")
    report = check_code(path, NET_344)
    assert [p.name for p in report.params if not p.ok] == ["b1"] and report.first_wrong_layer == 1
    assert report.diagnosis.startswith("does not match any known mistake; max relative error 0.33")


# -- files that cannot be checked: InputError, one line, saying what and how to fix it --------------------------
def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message
    return message


@SLOW
def test_a_file_that_hangs_is_stopped(tmp_path):
    path = write(tmp_path, "import time\n\ndef backprop(params, X, Y):\n    while True:\n        time.sleep(0.1)\n")
    start = time.monotonic()
    with pytest.raises(InputError) as excinfo:
        check_code(path, NET_232, timeout=2)
    assert time.monotonic() - start < 10
    assert one_line(excinfo).startswith("your backprop in user_backprop.py did not return within 2 s")


@pytest.mark.slow
def test_a_stopped_file_takes_the_processes_it_started_along(tmp_path):
    pid_file = tmp_path / "child.pid"
    path = write(tmp_path, "import subprocess, sys, time\n"
                           "def backprop(params, X, Y):\n"
                           "    p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
                           f"    open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
                           "    time.sleep(60)\n")
    with pytest.raises(InputError, match="did not return"):
        check_code(path, NET_232, timeout=3)
    pid = int(pid_file.read_text())
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        if _zombie(pid):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"process {pid} started by the user's file is still running")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("text, words", [
    pytest.param("def backprop(params, X, Y):\n    return 1 / 0\n",
                 "backprop() in user_backprop.py raised ZeroDivisionError at line 2 (`return 1 / 0`): division by zero "
                 "on a batch of m = ", id="raises"),
    pytest.param("def backprop(params, X, Y)\n    return params\n",
                 "user_backprop.py line 1: SyntaxError", id="syntax error", marks=SLOW),
    pytest.param("import no_such_module_anywhere\n", "importing user_backprop.py raised ModuleNotFoundError at line 1",
                 id="import fails", marks=SLOW),
    pytest.param("def forward(params, X, Y):\n    pass\n\ndef loss(params, X, Y):\n    pass\n",
                 "defines neither backprop nor gradients, and 2 public functions (forward, loss) of three arguments",
                 id="no function to pick", marks=SLOW),
    pytest.param("def backprop(params, X, Y):\n    return params[:3]\n",
                 "returned 3 gradients; expected 4: dW1, db1, dW2, db2", id="too few gradients", marks=SLOW),
    pytest.param("def backprop(params, X, Y):\n    return None\n", "returned NoneType", id="returns nothing",
                 marks=SLOW),
    pytest.param("def backprop(params, X, Y):\n    return {'W1': params[0]}\n",
                 "returned a dict without 'b1' (or 'db1')", id="dict without a key", marks=SLOW),
    pytest.param("import numpy as np\ndef backprop(params, X, Y):\n    return [np.zeros((5, 5))] + params[1:]\n",
                 "returned dW1 with shape (5, 5); expected (2, 3), the shape of W1 in the rows convention", id="shape"),
    pytest.param("import numpy as np\ndef backprop(params, X, Y):\n    return [p * np.nan for p in params]\n",
                 "returned dW1 with nan entries", id="nan", marks=SLOW),
    pytest.param("import os\nos._exit(3)\n", "stopped without an answer (exit status 3)", id="exits", marks=SLOW),
])
def test_a_file_that_cannot_be_checked_is_bad_input(tmp_path, text, words):
    with pytest.raises(InputError) as excinfo:
        check_code(write(tmp_path, text), NET_232)
    assert words in one_line(excinfo)


@SLOW
def test_a_missing_function_is_named(tmp_path):
    with pytest.raises(InputError) as excinfo:
        check_code(str(SAMPLES / "rows_sigmoid_mse.py"), NET_232, function="backward")
    assert one_line(excinfo) == "rows_sigmoid_mse.py has no function 'backward'; its functions: sigmoid, backprop"


def test_a_shape_error_in_the_users_code_points_at_the_line(tmp_path):
    # `*` where `@` belongs cannot run for a batch: NumPy's error, with the line and a hint
    path = copy_with(tmp_path, "rows_tanh_sigmoid_mse.py", "(D2 @ W2.T)", "(D2 * W2.T)")
    with pytest.raises(InputError) as excinfo:
        check_code(path, NET_344)
    message = one_line(excinfo)
    line = line_of(path, "D1 = (D2 * W2.T) * (1 - A1**2)")
    assert f"raised ValueError at line {line} (`D1 = (D2 * W2.T) * (1 - A1**2)`)" in message
    assert "`*` multiplies element-wise, `@` is the matrix product" in message


@SLOW
def test_the_wrong_convention_fails_on_the_shapes():
    path = str(SAMPLES / "rows_sigmoid_mse.py")
    with pytest.raises(InputError) as excinfo:
        check_code(path, NET_232, convention="columns", seed=1)
    report_m = check_code(path, NET_232, seed=1).sizes[0]
    assert f"raised ValueError at line {line_of(path, 'H1 = X @ W1 + b1')} (`H1 = X @ W1 + b1`)" in one_line(excinfo)
    assert one_line(excinfo).endswith(f"on a batch of m = {report_m} samples")


def line_of(path: str, text: str) -> int:
    return next(n for n, line in enumerate(Path(path).read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize("kwargs, words", [
    ({"convention": "cols"}, "unknown convention 'cols'; allowed: rows, columns"),
    ({"batches": 0}, "batches must be a whole number >= 1"),
    ({"timeout": 0}, "the time limit must be positive"),
])
def test_bad_options_are_bad_input(kwargs, words):
    with pytest.raises(InputError, match=words):
        check_code(str(SAMPLES / "rows_sigmoid_mse.py"), NET_232, **kwargs)


def test_a_missing_file_is_bad_input(tmp_path):
    with pytest.raises(InputError, match="no_such.py: no such file"):
        check_code(str(tmp_path / "no_such.py"), NET_232)


# -- the truth it compares with is the derivation's ---------------------------------------------------------
TRUTH_NETS = [
    ("2-3-2", {}),
    ("4-5-3", {"hidden": "tanh", "output": "softmax", "loss": "cce"}),
    ("3-4-2", {"hidden": "relu", "output": "softmax", "loss": "mse"}),
    ("3-2-2-1", {"hidden": "softplus,elu", "output": "sigmoid", "loss": "bce"}),
    ("2-3-3-2", {"hidden": "leaky_relu,identity", "output": "tanh"}),
    ("2-3-2", {"hidden": "silu", "output": "identity"}),
]


@pytest.mark.parametrize("spec, options", [TRUTH_NETS[0], *(pytest.param(*t, marks=SLOW) for t in TRUTH_NETS[1:])])
def test_the_backprop_it_compares_with_is_the_derivations(spec, options):
    net = Network.parse(spec, **options)
    derivation = derive(net)
    params, X, Y = random_point(derivation, m=5, seed=1)
    expected = Evaluator(derivation).gradients(params, X, Y)
    for mine, theirs in zip(derived_gradients(net, params, X, Y), expected):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-13)


def test_the_l2_term_is_part_of_the_gradient():
    net = Network.parse("2-3-2", l2=0.1)
    derivation = derive(net)
    params, X, Y = random_point(derivation, m=5, seed=1)
    for mine, theirs in zip(derived_gradients(net, params, X, Y), Evaluator(derivation).gradients(params, X, Y)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("spec, options", TRUTH_NETS[:2])
def test_the_backprop_it_compares_with_is_the_kernels(spec, options):
    import symnet

    net = Network.parse(spec, **options)
    kernel = symnet.compile(net)
    params, X, Y = random_point(derive(net), m=7, seed=2)
    for mine, theirs in zip(derived_gradients(net, params, X, Y), kernel.gradients(params, X, Y)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-13)
