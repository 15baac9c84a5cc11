"""`symnet check-code FILE.py SPEC`: exit 0 when every gradient is right, 1 naming the wrong layer and the
mistake, 2 in one line when the file cannot be run."""
from pathlib import Path

import pytest

from symnet.cli import main

SAMPLES = Path(__file__).resolve().parent / "verify" / "code_samples"
SPEC = ["4-5-3", "--hidden", "tanh", "--output", "softmax", "--loss", "cce"]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["check-code", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_correct_backprop_exits_0_with_one_line_per_parameter(capsys):
    code, out, err = run(capsys, SAMPLES / "rows_tanh_softmax_cce.py", *SPEC)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines[1:5]] == [["W1", "ok"], ["b1", "ok"], ["W2", "ok"], ["b2", "ok"]]
    assert lines[-1].startswith("correct: every gradient matches symnet's derivation")


def test_the_course_convention_is_checked_in_its_own_shapes(capsys):
    code, _, err = run(capsys, SAMPLES / "columns_tanh_softmax_cce.py", *SPEC, "--convention", "columns")
    assert (code, err) == (0, "")


def test_sigma_prime_where_tanh_prime_belongs_is_named_with_its_layer(tmp_path, capsys):
    wrong = tmp_path / "mine.py"
    wrong.write_text((SAMPLES / "rows_tanh_softmax_cce.py").read_text().replace("(1 - A1**2)", "A1*(1 - A1)"))
    code, out, err = run(capsys, wrong, *SPEC)
    assert code == 1
    assert "W1  wrong" in out and "W2  ok" in out
    assert "σ′ used where tanh′ belongs in layer 1" in out
    assert err == f"symnet: the gradients of {wrong} are not the derivation's (from layer 1)\n"


def test_a_hanging_file_is_stopped_and_reported_in_one_line(tmp_path, capsys):
    hang = tmp_path / "hang.py"
    hang.write_text("def backprop(params, X, Y):\n    while True:\n        pass\n")
    code, out, err = run(capsys, hang, *SPEC, "--timeout", "2")
    assert (code, out) == (2, "")
    assert err.startswith("symnet: ") and "within 2 s" in err and err.count("\n") == 1


def test_help_says_the_file_runs_in_a_child_process_with_a_time_limit(capsys):
    assert main(["check-code", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "separate Python process with a time limit (--timeout)" in text and "--convention [rows|columns]" in text
