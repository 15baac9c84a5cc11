"""Claims nested past the documented depth end in one line on stderr and exit 2, never a traceback."""
import time

import pytest

from symnet.cli import main
from symnet.verify.grammar import MAX_DEPTH

DEEP = [
    ("--claim-latex", "x_1" + "^x_1" * 400),
    ("--claim-latex", "x_1^{" * 400 + "x_1" + "}" * 400),
    ("--claim-latex", r"\frac{1}{" * 1000 + "x_1" + "}" * 1000),
    ("--claim-latex", r"\frac1" * 1000 + "x_1"),
    ("--claim-latex", r"\sqrt{" * 1500 + "x_1" + "}" * 1500),
    ("--claim-latex", r"\sqrt" * 1500 + " x_1"),
    ("--claim-latex", r"\sigma^2" * 1500 + "(x_1)"),
    ("--claim-latex", "-" * 1500 + "x_1"),
    ("--claim", "x1" + "^x1" * 400),
    ("--claim", "x1" + "**2" * 400),
    ("--claim", "1/(" * 1000 + "x1" + ")" * 1000),
    ("--claim", "sqrt(" * 1500 + "x1" + ")" * 1500),
    ("--claim", "-" * 1500 + "x1"),
]


@pytest.mark.parametrize("option, claim", DEEP, ids=[f"{o[2:]}-{c[:12]}" for o, c in DEEP])
def test_a_claim_nested_too_deep_is_one_line_and_exit_2(capsys, option, claim):
    start = time.perf_counter()
    code = main(["check", "2-2-1", "--wrt", "W1[1,1]", option, claim])
    assert time.perf_counter() - start < 20  # a guard against hangs, not a timing
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("symnet: ")
    assert "Traceback" not in err and ("deep" in err or "characters long" in err)


def test_the_documented_depth_itself_is_checked(capsys):
    # nested just inside the limit, every stage — parsing, SymPy, the numeric check — gives a verdict
    for claim in ("sqrt(" * (MAX_DEPTH - 2) + "x1" + ")" * (MAX_DEPTH - 2), "-" * (MAX_DEPTH - 1) + "x1",
                  "sigma(" * (MAX_DEPTH - 2) + "h1[1]" + ")" * (MAX_DEPTH - 2)):
        assert main(["check", "2-2-1", "--wrt", "W1[1,1]", "--claim", claim]) == 1
        _, err = capsys.readouterr()
        assert err.strip() == "symnet: the claim is not ∂E/∂W1[1,1]"
    tex = r"\sqrt" * (MAX_DEPTH // 2 - 1) + " x_1"
    assert main(["check", "2-2-1", "--wrt", "W1[1,1]", "--claim-latex", tex]) == 1


@pytest.mark.slow
def test_a_claim_sympy_cannot_build_in_time_is_one_line(capsys):
    # SymPy asks the sign of each argument as it builds, numerically, through the activations' definitions:
    # this claim (found by fuzzing) costs it minutes before the check could begin
    inner = ("heaviside(log(-(1 / leaky_relu((1 / -tanh(sigma(leaky_relu(log(tanh(sqrt(sqrt(tanh(sigma(leaky_relu("
             "h1[1] ** (1 / 3))) ** 2))) ** (1 / 3)) ** (1 / 3)))))) ** 2)) + x1) + x1)")
    claim = f"exp(softplus(log(relu(exp(softplus((-heaviside(sqrt(sigma(exp(log({inner} * x2)))))) ** (1 / 3))))) ** (1 / 3)))"
    start = time.perf_counter()
    code = main(["check", "2-2-1", "--wrt", "W1[1,1]", "--claim", claim])
    assert time.perf_counter() - start < 30  # the time limit, 4 s, and some
    _, err = capsys.readouterr()
    assert code == 2 and err.strip() == "symnet: the claim took SymPy more than 4 s to read; write it more simply"
