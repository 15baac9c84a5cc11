"""`symnet train` and `symnet predict`: real data, the feedback people expect, reproducible numbers."""
import csv
import re
import subprocess
import sys

import numpy as np
import pytest

from symnet import Network
from symnet.train import data as ds
from symnet.cli import main
from symnet.train.loop import available_cpus, train


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def summary_accuracy(line: str) -> float:
    return float(re.search(r"test accuracy ([0-9.]+)", line).group(1))


@pytest.mark.slow
def test_digits_64_32_10_reaches_over_90_percent_test_accuracy(capsys):
    code, out, _ = run(capsys, "train", "64-32-10", "--output", "softmax", "--loss", "cce", "--data", "digits",
                       "--epochs", "15", "--lr", "0.5", "--quiet")
    assert code == 0
    assert summary_accuracy(out) > 0.90
    assert "s/epoch" in out and out.count("\n") == 1


@pytest.mark.slow
def test_moons_with_momentum_learns_the_two_moons():
    net = Network.parse("2-8-1", hidden="tanh", output="sigmoid", loss="bce")
    trained = train(net, ds.load("moons", samples=600), epochs=25, lr=0.3, batch_size=16, momentum=0.9, seed=1)
    first, last = trained.history[0], trained.history[-1]
    assert last.test_accuracy > 0.95
    assert last.loss < first.loss / 3


def write_csv(path, X, labels, names=("a", "b")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*names, "species"])
        for row, label in zip(X, labels):
            w.writerow([*[f"{v:.6f}" for v in row], label])


@pytest.mark.slow
def test_csv_training_then_predict_reproduces_the_test_accuracy(tmp_path, capsys):
    moons = ds.load("moons", samples=400, seed=5)
    names = np.array(["heron", "ibis"])[moons.labels]
    full = tmp_path / "birds.csv"
    write_csv(full, moons.X, names)
    saved = tmp_path / "birds.npz"
    code, out, _ = run(capsys, "train", "2-6-2", "--hidden", "tanh", "--output", "softmax", "--loss", "cce",
                       "--data", full, "--epochs", "20", "--lr", "0.3", "--seed", "7", "--save", saved, "--quiet")
    assert code == 0 and saved.is_file()
    trained_accuracy = summary_accuracy(out)
    # the same rows the training run held out
    _, test_rows = ds.split(len(moons.X), 0.2, seed=7)
    held_out = tmp_path / "held_out.csv"
    write_csv(held_out, moons.X[test_rows], names[test_rows])
    predictions = tmp_path / "pred.csv"
    code, out, err = run(capsys, "predict", saved, "--data", held_out, "-o", predictions)
    assert code == 0
    assert f"accuracy {trained_accuracy:.4f} on {len(test_rows)} rows" in err
    rows = list(csv.reader(predictions.open()))
    assert rows[0] == ["prediction", "p_heron", "p_ibis"]
    assert len(rows) == len(test_rows) + 1
    hits = np.mean([r[0] == t for r, t in zip(rows[1:], names[test_rows])])
    assert hits == pytest.approx(trained_accuracy, abs=1e-4)


@pytest.mark.slow
def test_same_seed_same_numbers(capsys):
    args = ["train", "2-5-1", "--hidden", "relu", "--output", "sigmoid", "--loss", "bce", "--data", "xor",
            "--epochs", "5", "--seed", "3", "--quiet"]
    first = run(capsys, *args)[1]
    second = run(capsys, *args)[1]
    strip = lambda s: re.sub(r", [0-9.e-]+ s/epoch.*", "", s)  # noqa: E731 (times differ, numbers do not)
    assert strip(first) == strip(second)
    other = run(capsys, *args[:-2], "--seed", "4", "--quiet")[1]
    assert strip(other) != strip(first)


@pytest.mark.slow
def test_regression_on_csv_reports_test_loss(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 2))
    f = tmp_path / "r.csv"
    with open(f, "w") as out:
        out.write("u,v,target\n")
        for u, v in X:
            out.write(f"{u:.5f},{v:.5f},{0.5 * u - 0.25 * v + 0.125:.6f}\n")
    code, out, _ = run(capsys, "train", "2-1", "--output", "identity", "--data", f, "--epochs", "40",
                       "--lr", "0.1", "--batch-size", "8", "--quiet")
    assert code == 0
    assert float(re.search(r"test loss ([0-9.e-]+)", out).group(1)) < 1e-4


@pytest.mark.slow
def test_plot_and_save_files_are_written(tmp_path, capsys):
    plot, saved = tmp_path / "curve.png", tmp_path / "p.npz"
    code, out, _ = run(capsys, "train", "2-4-2", "--output", "softmax", "--loss", "cce", "--data", "circles",
                       "--epochs", "3", "--plot", plot, "--save", saved, "--quiet")
    assert code == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with np.load(saved) as f:
        assert {"W1", "b1", "W2", "b2", "spec", "classes", "mean", "std"} <= set(f.files)
        assert f["W1"].shape == (2, 4) and 'layers = [2, 4, 2]' in str(f["spec"])


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("", "is empty"),
    ("a,b,label\n1,2,x\n3\n", "row 3 has 1 cell, the header has 3"),
    ("a,b,label\n1,2,x\n3,4\n", "row 3 has 2 cells, the header has 3"),
    ("a,b,label\n1,two,x\n", "row 2 column 'b': 'two' is not a number"),
    ("a,b,label\n1,nan,x\n", "not a finite number"),
    ("a,b,label\n1,2,x\n3,4,y\n5,6,z\n", "has 3 classes but the output layer has 2 neurons"),
])
def test_bad_files_exit_2_with_one_line_and_no_traceback(tmp_path, capsys, content, message):
    f = tmp_path / "bad.csv"
    if content is not None:
        f.write_text(content)
    code, out, err = run(capsys, "train", "2-3-2", "--output", "softmax", "--loss", "cce", "--data", f, "--quiet")
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.slow
def test_missing_scikit_learn_names_the_extra(tmp_path):
    script = ("import sys; sys.modules['sklearn'] = None\n"
              "from symnet.cli import main\n"
              "sys.exit(main(['train', '64-10', '--output', 'softmax', '--loss', 'cce', '--data', 'digits']))")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == 2
    assert "pip install 'symnet[datasets]'" in r.stderr and "Traceback" not in r.stderr


def test_unwritable_save_path_fails_before_training(tmp_path, capsys):
    code, _, err = run(capsys, "train", "2-3-1", "--data", "xor", "--save", tmp_path / "no" / "such" / "dir.npz")
    assert code == 2 and "directory" in err and "does not exist" in err


@pytest.mark.parametrize("option, message", [
    (["--epochs", "0"], "--epochs must be a whole number >= 1, got 0"),
    (["--lr", "-1"], "--lr must be a positive number"),
    (["--momentum", "1.5"], "--momentum must be in [0, 1)"),
    (["--test-fraction", "1"], "--test-fraction must be in [0, 1)"),
    (["--threads", str(available_cpus() + 1)], f"--threads must be from 1 to {available_cpus()} (the CPUs this "
                                               f"process may run on), got {available_cpus() + 1}"),
    (["--threads", "1", "--target", "cuda"], "--threads is for training on this machine's CPUs; drop it with --target cuda"),
])
def test_bad_options_are_one_line_even_with_the_progress_bar(capsys, option, message):
    code, out, err = run(capsys, "train", "2-3-1", "--data", "xor", *option)
    assert code == 2 and out == ""
    assert err.startswith(f"symnet: {message}") and err.count("\n") == 1


class SpyKernel:
    """Stands in for a compiled kernel: records what train_epoch is given (no compile, no learning)."""

    def __init__(self, net):
        self.net, self.calls = net, []

    def init_params(self, seed=0):
        n = self.net.layers
        return [a for k in range(1, len(n)) for a in (np.zeros((n[k - 1], n[k])), np.zeros(n[k]))]

    def loss(self, params, X, Y):
        return 0.5

    def forward(self, params, X):
        return np.full((len(X), self.net.layers[-1]), 0.5)

    def train_epoch(self, params, X, Y, lr, batch_size, momentum=0.0, velocity=None, **threads):
        self.calls.append((X.copy(), Y.copy(), velocity))
        self.threads = threads
        return 0.5


def spy_run(seed=0, **options):
    net = Network.parse("2-3-1", hidden="tanh", output="sigmoid", loss="bce")
    data = ds.load("xor", samples=40, seed=0)
    kernel = SpyKernel(net)
    train(net, data, epochs=4, seed=seed, test_fraction=0.25, standardize=False, kernel=kernel, **options)
    train_rows, _ = ds.split(40, 0.25, seed)
    return kernel.calls, data.X[train_rows], data.labels[train_rows]


def test_threads_for_the_gpu_kernels_are_refused_before_anything_is_compiled():
    from symnet.errors import InputError

    net = Network.parse("2-3-1", hidden="tanh", output="sigmoid", loss="bce")
    with pytest.raises(InputError, match="threads is for training on this machine's CPUs"):
        train(net, ds.load("xor", samples=40, seed=0), epochs=1, target="cuda", threads=2)


def test_threads_reach_train_epoch_only_when_given():
    net = Network.parse("2-3-1", hidden="tanh", output="sigmoid", loss="bce")
    for options, passed in (({}, {}), ({"threads": 1}, {"threads": 1})):
        kernel = SpyKernel(net)
        train(net, ds.load("xor", samples=40, seed=0), epochs=2, kernel=kernel, **options)
        assert kernel.threads == passed  # not passed at all by default: the GPU module's train_epoch has none


def test_each_epoch_visits_the_training_rows_in_a_permutation_drawn_from_the_seed():
    calls, X, labels = spy_run(seed=5)
    orders = []
    for Xe, Ye, _ in calls:
        # the rows of the epoch are the training rows, reordered, each with its own target
        order = [int(np.flatnonzero((X == row).all(axis=1))[0]) for row in Xe]
        assert sorted(order) == list(range(30))
        assert Ye[:, 0].tolist() == labels[order].astype(float).tolist()
        orders.append(order)
    assert len({tuple(o) for o in orders}) == 4  # a new permutation every epoch
    assert orders[0] == np.random.default_rng(5).permutation(30).tolist()
    again, _, _ = spy_run(seed=5)
    assert all((a[0] == b[0]).all() for a, b in zip(calls, again))  # same seed, same batches
    other, X6, _ = spy_run(seed=6)
    order6 = [int(np.flatnonzero((X6 == row).all(axis=1))[0]) for row in other[0][0]]
    assert order6 == np.random.default_rng(6).permutation(30).tolist()


def test_no_shuffle_keeps_the_training_rows_in_one_order():
    calls, X, _ = spy_run(seed=5, shuffle=False)
    assert len(calls) == 4 and all((Xe == X).all() for Xe, _, _ in calls)


def test_momentum_carries_one_velocity_across_the_epochs():
    calls, _, _ = spy_run(momentum=0.9)
    velocities = [v for _, _, v in calls]
    assert velocities[0] is not None and all(v is velocities[0] for v in velocities)
    assert [v.shape for v in velocities[0]] == [(2, 3), (3,), (3, 1), (1,)]
    plain, _, _ = spy_run()
    assert all(v is None for _, _, v in plain)


@pytest.mark.slow
def test_shuffle_option_changes_the_numbers_and_each_is_reproducible(capsys):
    args = ["train", "2-5-1", "--hidden", "tanh", "--output", "sigmoid", "--loss", "bce", "--data", "moons",
            "--samples", "200", "--epochs", "3", "--seed", "2", "--quiet"]
    strip = lambda s: re.sub(r", [0-9.e-]+ s/epoch.*", "", s)  # noqa: E731
    shuffled = strip(run(capsys, *args)[1])
    assert strip(run(capsys, *args, "--shuffle")[1]) == shuffled  # on by default
    code, out, err = run(capsys, *args, "--no-shuffle")
    assert code == 0 and strip(out) != shuffled
    assert strip(run(capsys, *args, "--no-shuffle")[1]) == strip(out)


class StatefulSpy(SpyKernel):
    """A kernel generated for a rule with a state (Adam): train_epoch takes state= and the hyperparameters."""

    OPTIMIZER = "adam"

    def init_state(self):
        return {"t": 0, "m": [np.zeros_like(p) for p in self.init_params()],
                "s": [np.zeros_like(p) for p in self.init_params()]}

    def train_epoch(self, params, X, Y, lr, batch_size, state=None, **hyper):
        self.calls.append((state, hyper))
        state["t"] += 1
        return 0.5


def test_an_optimiser_with_a_state_keeps_one_state_across_the_epochs():
    net = Network.parse("2-3-1", hidden="tanh", output="sigmoid", loss="bce")
    kernel = StatefulSpy(net)
    train(net, ds.load("xor", samples=40, seed=0), epochs=3, kernel=kernel, optimizer="adam", beta1=0.8)
    states = [s for s, _ in kernel.calls]
    assert all(s is states[0] for s in states) and states[0]["t"] == 3
    assert kernel.calls[0][1] == {"beta1": 0.8, "beta2": 0.999, "eps": 1e-8}


@pytest.mark.parametrize("option, message", [
    (["--optimizer", "adam", "--beta1", "1"], "--beta1 must be in [0, 1), got 1.0"),
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum does not apply to --optimizer adam"),
    (["--beta2", "0.9"], "--beta2 does not apply to --optimizer sgd"),
    (["--l2", "-1"], "l2 (the weight decay λ) must be a number in [0, 1000)"),
])
def test_bad_optimiser_options_are_one_line(capsys, option, message):
    code, out, err = run(capsys, "train", "2-3-1", "--data", "xor", *option)
    assert (code, out) == (2, "")
    assert err.startswith(f"symnet: {message}") and err.count("\n") == 1


@pytest.mark.slow
@pytest.mark.parametrize("options", [["--optimizer", "adam", "--lr", "0.005", "--l2", "0.0001"],
                                     ["--optimizer", "nesterov", "--lr", "0.2"],
                                     ["--optimizer", "rmsprop", "--lr", "0.002"]])
def test_digits_trains_with_each_optimiser_and_decay_to_what_plain_sgd_reaches(capsys, options):
    code, out, _ = run(capsys, "train", "64-32-10", "--output", "softmax", "--loss", "cce", "--data", "digits",
                       "--epochs", "15", "--quiet", *options)
    assert code == 0
    assert summary_accuracy(out) > 0.90, out


@pytest.mark.slow
def test_the_summary_names_the_optimiser_and_adam_starts_from_a_small_learning_rate(capsys):
    code, out, _ = run(capsys, "train", "2-4-1", "--hidden", "tanh", "--loss", "bce", "--data", "xor",
                       "--optimizer", "adam", "--epochs", "2", "--quiet")
    assert code == 0 and " on xor with adam: 2 epochs" in out
    from symnet.derivation.update import ADAM, SGD
    assert (ADAM.default_lr, SGD.default_lr) == (1e-3, 0.1)


def test_a_definition_used_in_the_wrong_place_says_how_many_arguments_it_needs(capsys):
    code, _, err = run(capsys, "train", "2-2-1", "--define", "f(x) = x", "--loss", "f", "--data", "xor")
    assert code == 2 and "f is defined with one argument, an activation; a loss takes two" in err
