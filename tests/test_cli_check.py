"""`symnet check` on the command line: exit 0 correct, 1 incorrect, 2 bad input in one line."""
import subprocess
import sys
import time
from pathlib import Path

import pytest

from symnet.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHAIN = "(yhat - y)*yhat*(1 - yhat)*W2[1,1]*a1[1]*(1 - a1[1])*x1"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_correct_claim_exits_0(capsys):
    code, out, err = run(capsys, "2-2-1", "--wrt", "W1[1,1]", "--claim", CHAIN)
    assert code == 0 and err == ""
    assert out.splitlines()[0] == f"correct: ∂E/∂W1[1,1] = {CHAIN}"
    assert "proved symbolically" in out


def test_an_intermediate_factor_with_of(capsys):
    code, out, _ = run(capsys, "2-2-1", "--of", "h2[1]", "--wrt", "h1[1]",
                       "--claim", "W2[1,1]*sigma(h1[1])*(1 - sigma(h1[1]))")
    assert code == 0 and out.startswith("correct: ∂h2[1]/∂h1[1]")


def test_an_incorrect_claim_exits_1_with_counterexample_and_correct_expression(capsys):
    code, out, err = run(capsys, "2-2-1", "--wrt", "W1[1,1]", "--claim", "(yhat - y)*yhat*(1 - yhat)*W2[1,1]*x1")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "incorrect: the claim is not ∂E/∂W1[1,1]"
    assert "  correct:    W2[1,1]*a1[1]*x1*yhat*(1 - a1[1])*(1 - yhat)*(yhat - y)" in lines
    assert "  diagnosis:  missing ∂a1[1]/∂h1[1] = σ′(h1[1]) = a1[1]*(1 - a1[1])" in lines
    assert any(line.startswith("  counterexample: x1 = ") for line in lines)
    assert any(line.startswith("    claimed value ") and ", true value " in line for line in lines)
    assert err.strip() == "symnet: the claim is not ∂E/∂W1[1,1]"


def test_a_latex_claim_and_a_spec_file(capsys, tmp_path):
    spec = tmp_path / "net.toml"
    spec.write_text('layers = [2, 1]\noutput = "sigmoid"\nloss = "mse"\n')
    code, out, _ = run(capsys, str(spec), "--wrt", "W1[1,1]", "--claim-latex", r"(\hat{y}-y)\sigma(h)(1-\sigma(h))x_1")
    assert code == 0
    assert out.splitlines()[0] == "correct: ∂E/∂W1[1,1] = (yhat-y)*sigma(h)*(1-sigma(h))*x1"


def test_a_forgotten_one_over_m_with_batch(capsys):
    code, out, _ = run(capsys, "2-2-1", "--wrt", "W1[1,1]", "--claim", CHAIN, "--batch")
    assert code == 1
    assert "  diagnosis:  missing 1/m (E is the mean over the m samples)" in out.splitlines()
    code, _, _ = run(capsys, "2-2-1", "--wrt", "W1[1,1]", "--claim", f"{CHAIN}/m")
    assert code == 0


@pytest.mark.parametrize("args, message", [
    (["--wrt", "W1[1,1]"], "give the claim once"),
    (["--wrt", "W1[1,1]", "--claim", "x1", "--claim-latex", "x_1"], "give the claim once"),
    (["--wrt", "W7[1,1]", "--claim", "x1"], "--wrt 'W7[1,1]' is not a quantity of the 2-2-1 network"),
    (["--wrt", "W1[1,1]", "--of", "W2[1,1]", "--claim", "x1"], "--of W2[1,1] is not a computed quantity"),
    (["--wrt", "W1[1,1]", "--claim", "__import__('os').system('true')"], "attribute access (.) is not allowed"),
    (["--wrt", "W1[1,1]", "--claim", "(lambda: 0)()"], "can be called in a claim"),
    (["--wrt", "W1[1,1]", "--claim", "x1**10**10"], "exponent 10000000000 is too large"),
    (["--wrt", "W1[1,1]", "--claim", "(" * 10_000 + "x1" + ")" * 10_000], "characters long"),
    (["--wrt", "W1[1,1]", "--claim", "x1 + " * 200_000 + "x1"], "1,000,002 characters long"),
    (["--wrt", "W1[1,1]", "--claim-latex", r"\frac{\partial E}{\partial W}"], "no \\partial"),
])
def test_bad_input_exits_2_with_one_line(capsys, args, message):
    start = time.perf_counter()
    code, out, err = run(capsys, "2-2-1", *args)
    assert time.perf_counter() - start < 10  # a guard against hangs, not a timing
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err
    assert "Traceback" not in err


def _symnet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "symnet.cli", "check", "2-2-1", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_hostile_claims_in_a_real_process_execute_nothing(tmp_path):
    marker = tmp_path / "pwned"
    for claim in (f"__import__('os').system('touch {marker}')",
                  f"open('{marker}', 'w').write('x')",
                  "(" * 20_000 + "x1" + ")" * 20_000):
        start = time.perf_counter()
        proc = _symnet("--wrt", "W1[1,1]", "--claim", claim)
        assert time.perf_counter() - start < 20
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
        assert proc.stderr.startswith("symnet: ") and "Traceback" not in proc.stderr
    assert not marker.exists()


@pytest.mark.slow
def test_verdicts_in_a_real_process():
    assert _symnet("--wrt", "W1[1,1]", "--claim", CHAIN).returncode == 0
    wrong = _symnet("--wrt", "W1[1,1]", "--claim", CHAIN.replace("W2[1,1]", "W2[2,1]"))
    assert wrong.returncode == 1
    assert "diagnosis:  wrong ∂h2[1]/∂a1[1]: the claim has W2[2,1] where the chain has W2[1,1]" in wrong.stdout


def test_a_matrix_claim_over_a_batch_is_checked_in_symnets_rows(capsys):
    code, out, err = run(capsys, "2-3-1", "--wrt", "W1",
                         "--claim", "X.T @ ((((Yhat - Y) * Yhat * (1 - Yhat)) @ W2.T) * A1*(1 - A1)) / m")
    assert (code, err) == (0, "")
    assert out.startswith("correct: ∂E/∂W1 = ")


def test_a_matrix_claim_missing_the_output_derivative_names_it(capsys):
    code, out, err = run(capsys, "2-3-1", "--wrt", "W1", "--claim", "X.T @ (((Yhat - Y) @ W2.T) * A1*(1 - A1)) / m")
    assert code == 1 and err == "symnet: the claim is not ∂E/∂W1\n"
    assert "diagnosis:  f′ of layer 2 missing" in out


def test_the_course_convention_and_its_names(capsys):
    code, out, _ = run(capsys, "4-5-3", "--hidden", "tanh", "--output", "softmax", "--loss", "cce",
                       "--convention", "columns", "--wrt", "dW1",
                       "--claim", "1/m * ((W2.T @ (A2 - Y)) * (1 - np.power(A1, 2))) @ X.T")
    assert code == 0 and "columns convention" in out


@pytest.mark.parametrize("args, message", [
    (["--wrt", "W1", "--claim", "X.T @ W1"], "the claim multiplies X.T (2×m) @ W1 (2×3)"),
    (["--wrt", "W1[1,1]", "--claim", "x1", "--convention", "rows"], "--convention is for matrix claims"),
    (["--wrt", "W1", "--claim-latex", "X^T"], "a matrix claim is ∂E/∂(a whole matrix) over the batch"),
])
def test_matrix_claim_misuse_is_one_line(capsys, args, message):
    code, out, err = run(capsys, "2-3-1", *args)
    assert (code, out) == (2, "")
    assert err.startswith(f"symnet: {message}") and err.count("\n") == 1
