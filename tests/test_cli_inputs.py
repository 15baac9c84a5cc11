"""Careless and hostile input to derive, codegen, example and gradcheck: one line, exit 2, nothing destroyed."""
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from symnet import Network, SpecError
from symnet.cli import main

ROOT = Path(__file__).resolve().parents[1]
VALUES = (ROOT / "generated" / "article1_2-2-1.values.toml").read_text()


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("tol", ["nan", "-1", "0", "inf"])
def test_gradcheck_refuses_a_tolerance_that_is_not_a_positive_number(tol, capsys):
    assert main(["gradcheck", "2-2-1", "--tol", tol]) == 2
    assert "--tol" in one_line(capsys)


def test_derive_refuses_a_pdf_name_for_the_tex_and_writes_nothing(tmp_path, capsys):
    assert main(["derive", "2-2-1", "-o", str(tmp_path / "x.pdf"), "--pdf"]) == 2
    assert "give the .tex file" in one_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_codegen_refuses_to_write_over_its_spec_file(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(Network.parse("2-2-1").to_toml())
    before = spec.read_bytes()
    assert main(["codegen", str(spec), "-o", str(spec)]) == 2
    assert "would overwrite the input SPEC" in one_line(capsys)
    assert spec.read_bytes() == before


def test_derive_refuses_to_write_over_its_values_file(tmp_path, capsys):
    values = tmp_path / "v.toml"
    values.write_text(VALUES)
    assert main(["derive", "2-2-1", "--values", str(values), "-o", str(values)]) == 2
    assert "would overwrite the input --values" in one_line(capsys)
    assert values.read_text() == VALUES


@pytest.mark.parametrize("extra, message", [
    ("momentum = 5\n", "momentum must be in [0, 1), got 5.0"),
    ("momentum = -0.1\n", "momentum must be in [0, 1)"),
])
def test_a_values_file_momentum_obeys_the_same_rule_as_the_option(extra, message, tmp_path, capsys):
    values = tmp_path / "v.toml"
    values.write_text(VALUES + extra)
    assert main(["example", "2-2-1", "--values", str(values)]) == 2
    assert message in one_line(capsys)
    assert main(["derive", "2-2-1", "--momentum", "5"]) == 2
    assert "--momentum must be in [0, 1), got 5.0" in one_line(capsys)


@pytest.mark.parametrize("replace", ["x = [true, 0.10]", "x = [0.05, \"0.1\"]", "x = [[0.05], [0.10]]"])
def test_a_values_array_holds_numbers_only(replace, tmp_path, capsys):
    values = tmp_path / "v.toml"
    values.write_text(VALUES.replace("x = [0.05, 0.10]", replace))
    assert main(["example", "2-2-1", "--values", str(values)]) == 2
    assert "x " in one_line(capsys)


def test_example_json_stays_json_when_a_number_is_infinite(tmp_path, capsys):
    values = tmp_path / "v.toml"
    # a saturated sigmoid output with bce: log(1 − ŷ) is −inf in floating point
    values.write_text(VALUES.replace("W2 = [[0.40], [0.45]]", "W2 = [[900.0], [900.0]]"))
    assert main(["example", "2-2-1", "--loss", "bce", "--values", str(values), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert doc["spec"].startswith("2-2-1")


def test_a_spec_file_with_a_byte_order_mark_loads(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_bytes(b"\xef\xbb\xbf" + Network.parse("2-3-1", hidden="tanh").to_toml().encode())
    assert Network.load(str(spec)) == Network.parse("2-3-1", hidden="tanh")


def test_a_huge_spec_file_is_refused_without_reading_it(tmp_path):
    spec = tmp_path / "s.toml"
    with open(spec, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    with pytest.raises(SpecError, match="is at most 1,048,576"):
        Network.load(str(spec))


def test_a_tex_engine_that_succeeds_without_a_pdf_is_one_line(tmp_path, monkeypatch, capsys):
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("pdflatex", "latexmk"):
        (fake / name).write_text("#!/bin/sh\nexit 0\n")
        os.chmod(fake / name, stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    out = tmp_path / "net.tex"
    assert main(["derive", "2-1-1", "-o", str(out), "--pdf"]) == 2
    assert "wrote no PDF" in one_line(capsys)
    assert not out.exists()


@given(st.text(max_size=40))
def test_any_spec_text_is_a_network_or_one_spec_error(text):
    try:
        net = Network.parse(text)
    except SpecError as e:
        assert "\n" not in str(e)
    else:
        assert net.compact == "-".join(str(int(p)) for p in text.strip().split("-"))


@given(st.lists(st.integers(min_value=-3, max_value=2_000_000), min_size=0, max_size=6),
       st.sampled_from(["sigmoid", "softmax", "nope", ""]), st.sampled_from(["mse", "bce", "cce", "x"]))
def test_any_layer_list_is_a_network_or_one_spec_error(layers, output, loss):
    try:
        Network.build(layers, output=output, loss=loss)
    except SpecError as e:
        assert "\n" not in str(e)
