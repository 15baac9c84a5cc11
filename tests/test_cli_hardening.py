"""Hardening of the CLI around training: option ranges, outputs that would destroy inputs, saved models that
cannot be used, and Ctrl-C — each one line on stderr, the right exit status, and every file left as it was."""
import os
import signal
import time

import numpy as np
import pytest

from symnet import Network
from symnet.cli import main
from symnet.errors import InputError
from symnet.files import distinct_outputs
from symnet.train import data as ds
from symnet.train import loop

CCE = ["2-8-2", "--hidden", "relu", "--output", "softmax", "--loss", "cce"]
pytestmark = pytest.mark.filterwarnings("error")


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.rstrip("\n")


def write_points(path, X, labels):
    path.write_text("a,b,label\n" + "".join(f"{float(u)!r},{float(v)!r},{c}\n" for (u, v), c in zip(X, labels)))
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A real model saved by training 2-8-2 on moons, its arrays, and a CSV of points to predict."""
    folder = tmp_path_factory.mktemp("model")
    d = ds.load("moons", samples=60, seed=2)
    trained = loop.train(Network.parse("2-8-2", hidden="relu", output="softmax", loss="cce"), d, epochs=1)
    path = trained.save(folder / "model.npz")
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    return path, arrays, write_points(folder / "points.csv", d.X, d.labels)


# -- 4. option ranges are click's one line -------------------------------------------------------------------

@pytest.mark.parametrize("option, message", [
    (["--seed", "-1"], "Invalid value for '--seed': -1 is not in the range x>=0."),
    (["--samples", "-5"], "Invalid value for '--samples': -5 is not in the range 1<=x<=1000000."),
    (["--samples", "0"], "Invalid value for '--samples': 0 is not in the range 1<=x<=1000000."),
    (["--samples", "10000000000"], "Invalid value for '--samples': 10000000000 is not in the range 1<=x<=1000000."),
])
def test_negative_seed_and_sample_counts_are_refused_by_the_option_parser(capsys, option, message):
    code, out, err = run(capsys, "train", *CCE, "--data", "moons", *option)
    assert code == 2 and out == ""
    assert one_line(err) == f"symnet: {message} (see 'symnet train --help')"


# -- 5. no output may be an input or another output ------------------------------------------------------------

def test_save_and_plot_to_one_path_is_refused_before_training(tmp_path, capsys):
    out_png = tmp_path / "out.png"
    code, out, err = run(capsys, "train", *CCE, "--data", "moons", "--save", out_png, "--plot", out_png)
    assert code == 2 and out == ""
    assert one_line(err) == (f"symnet: --save {out_png} and --plot {out_png} are the same file; "
                             f"give each output its own path")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spelling", ["{dir}/d.npz", "{dir}/sub/../d.npz", "{dir}/link.npz"])
def test_saving_over_the_data_file_is_refused_and_leaves_it_intact(tmp_path, capsys, spelling):
    data = tmp_path / "d.npz"
    np.savez(data, X=np.ones((4, 2)), y=np.array([0, 1, 0, 1]))
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.npz").symlink_to(data)
    before = data.read_bytes()
    save = spelling.format(dir=tmp_path)
    code, _, err = run(capsys, "train", *CCE, "--data", data, "--save", save)
    assert code == 2
    assert one_line(err) == f"symnet: --save {save} would overwrite the input --data {data}; write to another path"
    assert data.read_bytes() == before


@pytest.mark.slow
def test_predict_output_over_its_data_or_its_model_is_refused(tmp_path, capsys, model):
    saved, arrays, points = model
    data = tmp_path / "p.csv"
    data.write_bytes(points.read_bytes())
    code, out, err = run(capsys, "predict", saved, "--data", data, "-o", data)
    assert code == 2 and out == ""
    assert one_line(err) == f"symnet: -o {data} would overwrite the input --data {data}; write to another path"
    assert data.read_bytes() == points.read_bytes()
    before = saved.read_bytes()
    code, _, err = run(capsys, "predict", saved, "--data", data, "-o", saved)
    assert code == 2
    assert one_line(err) == f"symnet: -o {saved} would overwrite the input SAVED {saved}; write to another path"
    assert saved.read_bytes() == before


def test_distinct_outputs_compares_resolved_paths_and_skips_what_was_not_given(tmp_path):
    distinct_outputs(inputs={"--data": "moons.csv", "--extra": None}, outputs={"--save": "m.npz", "--plot": None})
    with pytest.raises(InputError, match=r"^--plot b/\.\./x\.png and -o x\.png are the same file"):
        distinct_outputs(inputs={}, outputs={"--plot": "b/../x.png", "-o": "x.png"})  # neither exists
    real = tmp_path / "real.csv"
    real.write_text("a\n")
    (tmp_path / "alias.csv").hardlink_to(real)
    with pytest.raises(InputError, match=r"alias\.csv would overwrite the input --data .*real\.csv"):
        distinct_outputs(inputs={"--data": real}, outputs={"-o": tmp_path / "alias.csv"})


# -- 3. saved models that cannot be used ----------------------------------------------------------------------

UNUSABLE = "the saved model is unusable, train it again"


def spec_text(layers, output="softmax", loss="cce"):
    return np.array(f'layers = {layers}\nhidden = ["relu"]\noutput = "{output}"\nloss = "{loss}"\n')


@pytest.mark.parametrize("change, message", [
    ({"W1": np.full((2, 8), np.nan)}, ": W1[1,1] is nan, not a finite number; " + UNUSABLE),
    ({"b2": np.array([0.0, np.inf])}, ": b2[2] is inf, not a finite number; " + UNUSABLE),
    ({"W2": np.ones((8, 3))}, ": W2 has shape (8, 3), the spec needs (8, 2)"),
    ({"W1": None}, ": W1 is missing; the spec needs it of shape (2, 8)"),
    ({"W1": np.full((2, 8), "w")}, ": W1 must hold real numbers, got dtype <U1"),
    ({"W1": np.full((2, 8), None, dtype=object)},
     " (saved parameters): array W1 holds Python objects; save numbers (or text) arrays only"),
    ({"b1": np.zeros(8) + 1j}, ": b1 must hold real numbers, got dtype complex128"),
    ({"std": None}, " holds mean but no std; the standardisation needs both (train it again)"),
    ({"mean": None}, " holds std but no mean; the standardisation needs both (train it again)"),
    ({"mean": np.zeros(3)}, ": mean has shape (3,), the spec needs (2,)"),
    ({"std": np.array([1.0, np.nan])}, ": std holds a value that is not a finite number; train it again"),
    ({"std": np.array([1.0, 0.0])}, ": std holds a value <= 0; standard deviations must be positive"),
    ({"classes": np.array(["heron"])}, " names 1 class but the network has 2 outputs; it needs 2 classes"),
    ({"classes": np.array(["a", "b", "c"])}, " names 3 classes but the network has 2 outputs; it needs 2 classes"),
    ({"spec": None}, " holds no spec; save it with 'symnet train ... --save FILE.npz'"),
    ({"spec": np.array("layers = [2, 8")}, ": the saved spec is not valid TOML: Unclosed array (at end of document)"),
    ({"spec": np.array([2.0, 8.0])}, ": spec must be the network's TOML text, got an array of shape (2,) and dtype "
                                     "float64; save it with 'symnet train ... --save FILE.npz'"),
    ({"spec": spec_text([2, 8, 1])}, ": the saved spec is not a network: softmax needs at least two outputs; "
                                     "for one output use --output sigmoid with --loss bce"),
], ids=["nan-W1", "inf-b2", "shape-W2", "no-W1", "string-W1", "object-W1", "complex-b1", "mean-no-std",
        "std-no-mean", "shape-mean", "nan-std", "zero-std", "1-class", "3-classes", "no-spec", "bad-toml",
        "numeric-spec", "bad-spec"])
@pytest.mark.slow
def test_predict_refuses_an_unusable_model_naming_the_model_file(tmp_path, capsys, model, change, message):
    _, arrays, points = model
    broken = dict(arrays)
    for key, value in change.items():
        if value is None:
            del broken[key]
        else:
            broken[key] = value
    bad = tmp_path / "bad.npz"
    np.savez(bad, **broken)
    out_csv = tmp_path / "pred.csv"
    code, out, err = run(capsys, "predict", bad, "--data", points, "-o", out_csv)
    assert code == 2 and out == "" and not out_csv.exists()
    if message.startswith(" (saved parameters)"):
        assert one_line(err) == f"symnet: saved parameters {bad}{message.removeprefix(' (saved parameters)')}"
    else:
        assert one_line(err) == f"symnet: {bad}{message}"
    assert ".toml" not in err  # the saved file is named, never a temporary one


@pytest.mark.slow
def test_predict_refuses_inputs_too_large_for_the_models_standardisation(tmp_path, capsys, model):
    saved, arrays, _ = model
    points = write_points(tmp_path / "far.csv", [[1.7e308, 0.0], [0.5, 0.5]], ["0", "1"])
    code, out, err = run(capsys, "predict", saved, "--data", points)
    assert code == 2 and out == ""
    mean, std = arrays["mean"][0], arrays["std"][0]
    assert one_line(err) == (f"symnet: {points} column 'a': data row 1 (1.7e+308) is not a finite number once "
                             f"standardised (mean {mean:.3g}, std {std:.3g}); rescale that column")


@pytest.mark.slow
def test_a_usable_model_still_predicts(tmp_path, capsys, model):
    saved, _, points = model
    code, out, err = run(capsys, "predict", saved, "--data", points)
    assert code == 0
    assert out.splitlines()[0] == "prediction,p_0,p_1" and len(out.splitlines()) == 61
    assert one_line(err).startswith("accuracy ") and err.endswith(f" on 60 rows of {points}\n")


# -- 6. Ctrl-C ------------------------------------------------------------------------------------------------

def test_ctrl_c_during_training_is_one_line_exit_130_and_saves_nothing(tmp_path, capsys, monkeypatch):
    def interrupted_training(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # a real SIGINT, through whatever handler main installed
        time.sleep(10)
        raise AssertionError("SIGINT did not interrupt")

    monkeypatch.setattr(loop, "train", interrupted_training)
    saved = tmp_path / "m.npz"
    saved.write_bytes(b"keep me")
    code, out, err = run(capsys, "train", *CCE, "--data", "moons", "--save", saved)
    assert code == 130 and out == ""
    assert err.count("\n") == 1 and err.rsplit("\r", 1)[-1] == "symnet: interrupted\n"  # the bar is wiped
    assert saved.read_bytes() == b"keep me"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # main put Python's handler back


def test_a_keyboard_interrupt_raised_inside_a_command_is_exit_130_without_traceback(capsys, monkeypatch):
    def raise_interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "train", raise_interrupt)
    code, out, err = run(capsys, "train", *CCE, "--data", "moons", "--quiet")
    assert code == 130 and out == ""
    assert err.strip() == "symnet: interrupted" and "Traceback" not in err
