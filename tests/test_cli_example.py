"""`symnet example`: a hand calculation's numbers on the terminal, equal to NumPy's."""
import json

import numpy as np
import pytest

from symnet.cli import main

from tests.numeric.test_worked import VALUES, numpy_reference

VALUES_TOML = """x = [0.05, 0.10]
y = [0.01, 0.99]
learning_rate = 0.5
W1 = [[0.15, 0.25], [0.20, 0.30]]
b1 = [0.35, 0.35]
W2 = [[0.40, 0.50], [0.45, 0.55]]
b2 = [0.60, 0.60]
"""


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_example_on_a_2_2_2_sigmoid_network_equals_numpy(tmp_path, capsys):
    f = tmp_path / "values.toml"
    f.write_text(VALUES_TOML)
    code, out, _ = run(capsys, "example", "2-2-2", "--values", str(f), "--json")
    assert code == 0
    doc = json.loads(out)
    h1, a1, h2, yhat, E, grads = numpy_reference(VALUES)
    assert np.allclose([doc["forward"][f"h1[{j}]"] for j in (1, 2)], h1, rtol=1e-14)
    assert np.allclose([doc["forward"][f"a1[{j}]"] for j in (1, 2)], a1, rtol=1e-14)
    assert np.allclose([doc["forward"][f"yhat[{j}]"] for j in (1, 2)], yhat, rtol=1e-14)
    assert doc["E"] == pytest.approx(E, rel=1e-14)
    flat = np.concatenate([g.reshape(-1) for g in grads])
    names = [f"W1[{i},{j}]" for i in (1, 2) for j in (1, 2)] + ["b1[1]", "b1[2]"] + \
            [f"W2[{i},{j}]" for i in (1, 2) for j in (1, 2)] + ["b2[1]", "b2[2]"]
    assert np.allclose([doc["chains"][n]["gradient"] for n in names], flat, rtol=1e-12)
    assert np.allclose([doc["updated"][n]["after"] for n in names],
                       [doc["updated"][n]["before"] - 0.5 * g for n, g in zip(names, flat)], rtol=1e-14)
    # each chain's paths multiply out to its gradient
    chain = doc["chains"]["W1[1,1]"]
    assert len(chain["paths"]) == 2
    path_sum = sum(np.prod([f["value"] for f in p]) for p in chain["paths"])
    assert path_sum == pytest.approx(chain["gradient"], rel=1e-12)


def test_example_table_shows_nine_significant_digits(tmp_path, capsys):
    f = tmp_path / "values.toml"
    f.write_text(VALUES_TOML)
    code, out, _ = run(capsys, "example", "2-2-2", "--values", str(f))
    assert code == 0
    assert "a1[1]    0.593269992" in out and "E     0.298371109" in out
    assert "W2[1,1]       0.4    0.0821670406   0.35891648" in out


def test_example_rejects_a_bad_values_file_in_one_line(tmp_path, capsys):
    f = tmp_path / "values.toml"
    f.write_text(VALUES_TOML.replace("W2 = [[0.40, 0.50], [0.45, 0.55]]", "W2 = [0.40, 0.50]"))
    code, out, err = run(capsys, "example", "2-2-2", "--values", str(f))
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "W2 has shape (2,), expected (2, 2)" in err
