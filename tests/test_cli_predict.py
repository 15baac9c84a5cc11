"""`symnet predict` on data with and without labels, and `symnet train --plot` formats."""
import numpy as np
import pytest

from symnet import Network
from symnet.cli import main
from symnet.train import data as ds
from symnet.train import loop

CCE = ["2-8-2", "--hidden", "tanh", "--output", "softmax", "--loss", "cce"]


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    d = ds.load("moons", samples=40, seed=3)
    trained = loop.train(Network.parse("2-8-2", hidden="tanh", output="softmax", loss="cce"), d, epochs=2)
    return trained.save(folder / "model.npz"), d


def test_unlabelled_files_are_read_as_features_only(tmp_path):
    (tmp_path / "p.csv").write_text("a,b\n1,2\n3,4.5\n")
    d = ds.load(str(tmp_path / "p.csv"), n_features=2)
    assert d.labels is None and d.targets is None and d.X.tolist() == [[1.0, 2.0], [3.0, 4.5]]
    labelled = ds.load(str(tmp_path / "p.csv"), n_features=1)  # one more column than inputs: the last is the label
    assert labelled.X.tolist() == [[1.0], [3.0]] and labelled.targets.tolist() == [[2.0], [4.5]]
    np.savez(tmp_path / "p.npz", X=np.array([[1.0, 2.0]]))
    d = ds.load(str(tmp_path / "p.npz"), n_features=2)
    assert d.labels is None and d.X.tolist() == [[1.0, 2.0]]


def test_training_still_needs_labels(tmp_path, capsys):
    np.savez(tmp_path / "p.npz", X=np.array([[1.0, 2.0]]))
    code, out, err = run(capsys, "train", *CCE, "--data", tmp_path / "p.npz", "--quiet")
    assert code == 2 and out == ""
    assert err == f"symnet: {tmp_path / 'p.npz'} must hold arrays 'X' and 'y'; it has X\n"


@pytest.mark.slow
def test_predict_without_labels_prints_predictions_and_no_accuracy(tmp_path, capsys, model):
    saved, d = model
    X = d.X[:5]
    np.savez(tmp_path / "new.npz", X=X)
    (tmp_path / "new.csv").write_text("u,v\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in X))
    code, from_npz, err = run(capsys, "predict", saved, "--data", tmp_path / "new.npz")
    assert code == 0 and err == ""
    lines = from_npz.splitlines()
    assert lines[0] == "prediction,p_0,p_1" and len(lines) == 6
    probabilities = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert [line.split(",")[0] for line in lines[1:]] == [str(k) for k in np.argmax(probabilities, axis=1)]
    code, from_csv, err = run(capsys, "predict", saved, "--data", tmp_path / "new.csv")
    assert (code, err) == (0, "") and from_csv == from_npz
    # with a label column (the last, or named) the accuracy line comes back
    (tmp_path / "lab.csv").write_text("u,label,v\n" + "".join(f"{float(a)!r},{c},{float(b)!r}\n" for (a, b), c in zip(X, d.labels[:5])))
    code, out, err = run(capsys, "predict", saved, "--data", tmp_path / "lab.csv", "--label", "label")
    assert code == 0 and out == from_npz
    assert err.startswith("accuracy ") and err.endswith(f" on 5 rows of {tmp_path / 'lab.csv'}\n")


@pytest.mark.slow
def test_predict_refuses_an_npz_without_x(tmp_path, capsys, model):
    saved, _ = model
    np.savez(tmp_path / "new.npz", Z=np.zeros((2, 2)))
    code, out, err = run(capsys, "predict", saved, "--data", tmp_path / "new.npz")
    assert code == 2 and out == ""
    assert err == f"symnet: {tmp_path / 'new.npz'} must hold an array 'X' (and 'y' if it has labels); it has none\n"


MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF"}


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg"])
def test_plot_writes_the_format_its_extension_names(tmp_path, capsys, suffix):
    plot = tmp_path / f"curves{suffix}"
    code, out, err = run(capsys, "train", *CCE, "--data", "moons", "--samples", "80", "--epochs", "2",
                         "--plot", plot, "--quiet")
    assert code == 0 and out.rstrip("\n").endswith(f", plot {plot}")
    head = plot.read_bytes()[:200]
    if suffix == ".svg":
        assert head.startswith(b"<?xml") or head.startswith(b"<svg")
        assert b"<svg" in plot.read_bytes()
    else:
        assert head.startswith(MAGIC[suffix])


@pytest.mark.parametrize("name", ["curves.jpg", "curves", "curves.png.txt"])
def test_plot_refuses_other_extensions_before_training(tmp_path, capsys, name):
    plot = tmp_path / name
    code, out, err = run(capsys, "train", *CCE, "--data", "moons", "--plot", plot, "--quiet")
    assert code == 2 and out == "" and not plot.exists()
    assert err == f"symnet: --plot {plot}: the file name must end in .png, .pdf or .svg (the format written)\n"


@pytest.mark.slow
def test_a_two_feature_classifier_gets_a_decision_boundary_panel(model):
    import matplotlib

    matplotlib.use("Agg")
    from symnet.train import plot

    saved, d = model
    trained = loop.train(Network.parse("2-8-2", hidden="tanh", output="softmax", loss="cce"), d, epochs=30, lr=0.5)
    assert plot.has_boundary(trained, d)
    assert not plot.has_boundary(trained, None)
    # the panel shades each point's region by the class the network predicts there
    predicted = plot.predicted_classes(trained, d.X)
    assert np.mean(predicted == d.labels) > 0.75
    with_panel = plot.render_history(trained, "svg", d)
    without = plot.render_history(trained, "svg")
    assert with_panel.count(b"decision boundary") == 1 and b"decision boundary" not in without


@pytest.mark.slow
def test_one_epoch_and_one_row_are_singular(tmp_path, capsys, model):
    code, out, _ = run(capsys, "train", *CCE, "--data", "moons", "--samples", "50", "--epochs", "1", "--quiet")
    assert code == 0 and ": 1 epoch, test accuracy " in out
    saved, d = model
    (tmp_path / "one.csv").write_text(f"u,v,label\n{float(d.X[0, 0])!r},{float(d.X[0, 1])!r},{d.labels[0]}\n")
    code, out, err = run(capsys, "predict", saved, "--data", tmp_path / "one.csv")
    assert code == 0 and len(out.splitlines()) == 2
    assert err.endswith(f" on 1 row of {tmp_path / 'one.csv'}\n")
