"""Hardening of `symnet train`: a diverging run is a verdict (exit 1) that writes nothing, and every data
file that cannot be trained on is one line and exit 2, never a traceback nor a meaningless accuracy."""
import io
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symnet import Network
from symnet.cli import main
from symnet.errors import InputError
from symnet.train import data as ds
from symnet.train.loop import Diverged, train

# two kernels serve the whole file: the repros
MSE = ["2-8-1", "--hidden", "relu", "--output", "identity", "--loss", "mse"]
CCE = ["2-8-2", "--hidden", "relu", "--output", "softmax", "--loss", "cce"]
pytestmark = pytest.mark.filterwarnings("error")  # a numpy RuntimeWarning would be a second line on stderr


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(err: str) -> str:
    """The single line on stderr (after what a progress bar wiped with carriage returns)."""
    assert err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.rsplit("\r", 1)[-1].rstrip("\n")


def moons_csv(path: Path, scale: float = 1.0, rows: int = 100) -> Path:
    d = ds.load("moons", samples=rows, seed=1)
    X = d.X * scale
    lines = ["a,b,label"] + [f"{float(u)!r},{float(v)!r},{label}" for (u, v), label in zip(X, d.labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def existing(tmp_path) -> tuple[Path, bytes]:
    """A --save target that already holds a good file: a diverging run must leave it byte for byte."""
    path = tmp_path / "good.npz"
    np.savez(path, W1=np.ones((2, 8)))
    return path, path.read_bytes()


# -- 1. divergence: exit 1, one line, nothing written ----------------------------------------------------

BLEW_UP = r"loss (is nan|is inf|exploded from [0-9.e+-]+ to [0-9.e+-]+)"
UNSCALED = "lower --lr (now 0.1) or standardise inputs (drop --no-standardize)"


@pytest.mark.parametrize("spec, extra, hint", [
    (MSE, ["--data", "moons", "--lr", "1000"], "lower --lr (now 1000)"),
    (CCE, ["--data", "moons", "--lr", "1000"], "lower --lr (now 1000)"),
    (MSE, ["--data", "{big}", "--no-standardize"], UNSCALED),
    (CCE, ["--data", "{big}", "--no-standardize"], UNSCALED),
], ids=["mse-lr-1000", "cce-lr-1000", "mse-inputs-1e6", "cce-inputs-1e6"])
@pytest.mark.slow
def test_a_diverging_run_exits_1_and_overwrites_neither_save_nor_plot(tmp_path, capsys, existing, spec, extra, hint):
    big = moons_csv(tmp_path / "big.csv", scale=1e6)
    saved, before = existing
    plot = tmp_path / "curves.png"
    args = [a.replace("{big}", str(big)) for a in extra]
    code, out, err = run(capsys, "train", *spec, *args, "--epochs", "5", "--save", saved, "--plot", plot, "--quiet")
    assert code == 1 and out == ""
    assert re.fullmatch(rf"symnet: diverged at epoch 1: {BLEW_UP}; {re.escape(hint)} "
                        rf"\({re.escape(f'{saved} and {plot} not written')}\)", one_line(err))
    assert saved.read_bytes() == before
    assert not plot.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "good.npz"]  # no temporary files left


@pytest.mark.slow
def test_divergence_wipes_the_progress_bar_so_the_verdict_is_the_only_line(capsys, existing):
    saved, before = existing
    code, out, err = run(capsys, "train", *CCE, "--data", "moons", "--lr", "1000", "--epochs", "5", "--save", saved)
    assert code == 1 and out == ""
    assert re.fullmatch(rf"symnet: diverged at epoch 1: {BLEW_UP}; lower --lr \(now 1000\) "
                        rf"\({re.escape(str(saved))} not written\)", one_line(err))
    assert saved.read_bytes() == before


@pytest.mark.slow
def test_the_library_raises_diverged_with_the_epochs_before_it_and_save_refuses_a_non_finite_model(existing):
    net = Network.parse("2-8-1", hidden="relu", output="identity", loss="mse")
    with pytest.raises(Diverged) as caught:
        train(net, ds.load("moons", samples=200), epochs=8, lr=0.7, momentum=0.9)
    epoch, history = caught.value.epoch, caught.value.history
    assert epoch >= 2 and [e.epoch for e in history] == list(range(1, epoch))  # the finite epochs before it
    assert all(np.isfinite(e.loss) for e in history)
    assert re.fullmatch(rf"diverged at epoch {epoch}: {BLEW_UP}; lower --lr \(now 0.7\) or --momentum \(now 0.9\)",
                        str(caught.value))
    net = Network.parse("2-8-2", hidden="relu", output="softmax", loss="cce")
    trained = train(net, ds.load("moons", samples=100), epochs=1)
    trained.params[2][3, 1] = np.inf
    saved, before = existing
    with pytest.raises(Diverged, match=r"not saving .*good\.npz: W2\[4,2\] is inf; the model diverged"):
        trained.save(saved)
    assert saved.read_bytes() == before


@pytest.mark.slow
def test_a_run_that_stays_finite_still_trains_and_saves(tmp_path, capsys):
    saved = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", *CCE, "--data", "moons", "--epochs", "3", "--save", saved, "--quiet")
    assert code == 0 and err == "" and f"saved {saved}" in out
    with np.load(saved) as f:
        assert all(np.isfinite(f[k]).all() for k in ("W1", "b1", "W2", "b2", "mean", "std"))


# -- 2. non-finite data or statistics: exit 2 naming the file and the column -----------------------------

def test_csv_values_near_1e308_overflow_the_standard_deviation_and_are_refused(tmp_path, capsys):
    f = moons_csv(tmp_path / "huge.csv", rows=40)
    lines = f.read_text().splitlines()
    lines[1:] = [f"{1e307 * (k % 3)!r},{row.split(',', 1)[1]}" for k, row in enumerate(lines[1:])]
    f.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "train", *MSE, "--data", f, "--epochs", "1", "--quiet")
    assert code == 2 and out == ""
    assert one_line(err) == (f"symnet: {f} column 'a': the mean is inf (values reach 2e+307), so it cannot be "
                             f"standardised; rescale that column to a smaller range")


def test_npz_values_whose_variance_overflows_are_refused_naming_the_column_of_X(tmp_path, capsys):
    f = tmp_path / "huge.npz"
    d = ds.load("moons", samples=40, seed=1)
    np.savez(f, X=np.c_[d.X[:, 0], np.where(d.labels == 1, 1e200, 0.0)], y=d.labels)  # a finite mean, 5e199
    code, _, err = run(capsys, "train", *MSE, "--data", f, "--epochs", "1", "--quiet")
    assert code == 2
    assert one_line(err) == (f"symnet: {f} X column 1: the standard deviation is inf (values reach 1e+200), "
                             f"so it cannot be standardised; rescale that column to a smaller range")


@pytest.mark.parametrize("arrays, message", [
    (dict(X=[[1.0, 2.0], [np.nan, 4.0]], y=[0, 1]),
     "X row 1 column 0 is nan, not a finite number; remove or fill the missing values"),
    (dict(X=[[1.0, 2.0], [3.0, 4.0]], y=[0.5, np.inf]),
     "y row 1 is not a finite number; remove or fill the missing values"),
    (dict(X=[[1.0, 2.0], [3.0, 4.0]], y=np.array(1)), "y is a single value; it must hold one label or target "
                                                      "per row of X (2 rows)"),
    (dict(X=np.array([[1, 2], [3, 4]]) + 1j, y=[0, 1]), "X must hold real numbers (integer or float), "
                                                        "got dtype complex128"),
    (dict(X=[[1.0, 2.0], [3.0, 4.0]], y=np.array([0.5, 1.5]) * 1j), "y must hold real numbers or class labels, "
                                                                    "got dtype complex128"),
    (dict(X=[[1.0, 2.0], [3.0, 4.0]], y=[0]), "y has 1 row but X has 2"),
    (dict(X=np.ones((2, 0)), y=[0, 1]), "X must be a non-empty 2-D array (samples × features), got shape (2, 0)"),
], ids=["nan-X", "inf-y", "0-d-y", "complex-X", "complex-y", "1-row", "no-features"])
def test_npz_data_that_cannot_be_trained_on_is_one_line_naming_the_file(tmp_path, capsys, arrays, message):
    f = tmp_path / "d.npz"
    np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
    code, out, err = run(capsys, "train", *MSE, "--data", f, "--epochs", "1", "--quiet")
    assert code == 2 and out == ""
    assert one_line(err) == f"symnet: {f}: {message}"


def test_a_non_finite_csv_label_names_its_row_and_column(tmp_path, capsys):
    f = tmp_path / "t.csv"
    f.write_text("a,b,price\n1,2,0.5\n3,4,nan\n")
    code, _, err = run(capsys, "train", *MSE, "--data", f, "--epochs", "1", "--quiet")
    assert code == 2 and one_line(err) == f"symnet: {f} row 3 column 'price': 'nan' is not a finite number"


# -- 4. data files bounded before they are read ----------------------------------------------------------

def test_an_npz_that_unpacks_beyond_the_limit_is_refused_from_its_zip_directory(tmp_path, capsys, monkeypatch):
    f = tmp_path / "bomb.npz"
    np.savez_compressed(f, X=np.zeros((2**17, 2)), y=np.zeros(2**17, dtype=int))  # 2 MiB unpacked, ~6 KiB packed
    assert f.stat().st_size < 20_000
    monkeypatch.setattr(ds, "NPZ_LIMIT_BYTES", 2**20)
    loaded = []
    monkeypatch.setattr(np, "load", lambda *a, **k: loaded.append(a))  # must not be reached
    code, _, err = run(capsys, "train", *MSE, "--data", f, "--epochs", "1", "--quiet")
    assert code == 2 and loaded == []
    assert one_line(err) == f"symnet: data file {f} unpacks to 3 MiB; symnet reads .npz files of at most 1 MiB unpacked"


def test_an_npy_header_declaring_a_huge_array_is_refused_before_its_data_is_read(tmp_path, capsys):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 2)})
    f = tmp_path / "liar.npz"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("X.npy", header.getvalue() + bytes(64))
        z.writestr("y.npy", header.getvalue())
    code, _, err = run(capsys, "train", *MSE, "--data", f, "--epochs", "1", "--quiet")
    assert code == 2
    assert one_line(err) == (f"symnet: data file {f}: array X of shape (1000000000, 2) would take 15259 MiB; "
                             f"symnet reads arrays of at most 512 MiB")


@pytest.mark.parametrize("content, message", [
    (b"PK\x03\x04 truncated", "it is not an .npz archive; write it with numpy.savez"),
    (b"\x93NUMPY\x01\x00", "it is not an .npz archive; write it with numpy.savez"),  # a bare .npy
])
def test_files_that_are_not_npz_archives(tmp_path, capsys, content, message):
    f = tmp_path / "d.npz"
    f.write_bytes(content)
    code, _, err = run(capsys, "train", *MSE, "--data", f, "--epochs", "1", "--quiet")
    assert code == 2 and one_line(err) == f"symnet: cannot read data file {f}: {message}"


# -- 7. messages count correctly ---------------------------------------------------------------------------

def test_counts_in_messages_are_singular_for_one(tmp_path, capsys):
    f = tmp_path / "one.csv"
    f.write_text("a,label\n1,x\n2,y\n3,x\n")
    code, _, err = run(capsys, "train", *MSE, "--data", f, "--quiet")
    assert code == 2 and one_line(err) == ("symnet: data set one has 1 feature but the network has 2 inputs; "
                                           "use a spec starting 1-…")
    f.write_text("a,b,label\n1,2,x\n2,3,x\n")
    code, _, err = run(capsys, "train", *CCE, "--data", f, "--quiet")
    assert code == 2 and one_line(err) == ("symnet: data set one has only 1 class (x); a classifier needs rows of "
                                           "at least 2 classes")
    with pytest.raises(InputError, match=r"^data set iris has 3 classes but the output layer has 1 neuron; "
                                         r"use a network with 3 outputs$"):
        ds.encode_targets(ds.load("iris"), Network.parse("4-1", output="sigmoid", loss="bce"))


# -- the data-file grammar: loading succeeds with finite arrays or is one InputError ----------------------

VALID = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),  # hypothesis favours extremes: 1.797e308, 5e-324
    st.sampled_from(["1e308", "-1.7e308", "1e200", "1e-320", "0", "1", "2.5", "+.5", " 3 ", "1_000", "1E5"]),
    st.integers(-10**30, 10**30).map(str),
)
JUNK = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)
BAD = st.one_of(st.sampled_from(["nan", "-inf", "NaN", "1e309", "Infinity", "", "  ", "0x10", "1e", ".", '"2"',
                                 "−1", "٣"]), JUNK)
CELLS = st.integers(0, 24).flatmap(lambda k: BAD if k == 0 else VALID)  # one cell in 25 is not a number
LABELS = st.one_of(VALID, st.sampled_from(["cat", "dog", "0", "1", "2"]), BAD)


@st.composite
def csv_files(draw):
    """Header and rows of a CSV: mostly well-formed, with junk, huge, tiny and missing numbers."""
    width = draw(st.integers(1, 4))
    header = draw(st.lists(st.one_of(st.sampled_from(["a", "b", "c"]), JUNK), min_size=width, max_size=width))
    header[-1] = draw(st.one_of(st.just("label"), JUNK))
    row = st.tuples(st.lists(CELLS, min_size=width - 1, max_size=width - 1), LABELS).map(lambda r: [*r[0], r[1]])
    rows = draw(st.lists(st.one_of(*[row] * 9, st.lists(CELLS, max_size=width + 1)), max_size=8))  # 1 in 10 ragged
    label = draw(st.one_of(*[st.none()] * 3, st.sampled_from(header), JUNK))
    return header, rows, label


def check_loaded(path: Path, label: str | None = None) -> None:
    """The property: a Dataset of finite numbers whose standardisation is finite, or one InputError."""
    try:
        d = ds.load(str(path), label=label)
        assert d.X.dtype == float and d.X.ndim == 2 and np.isfinite(d.X).all()
        assert len(d.X) == (len(d.labels) if d.is_classification else len(d.targets))
        if d.targets is not None:
            assert np.isfinite(d.targets).all()
        if d.is_classification:
            assert d.labels.min() >= 0 and d.labels.max() < len(d.classes)
        Z = ds.Standardizer.fit(d.X, d).apply(d.X, d)
        assert np.isfinite(Z).all()
        n = d.X.shape[1]
        out = max(len(d.classes), 2) if d.is_classification else d.targets.shape[1]
        ds.encode_targets(d, Network.parse(f"{n}-{out}", output="softmax" if out > 1 else "identity",
                                           loss="cce" if d.is_classification and out > 1 else "mse"))
    except InputError as e:
        assert "\n" not in str(e) and str(e)


@settings(max_examples=200, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.slow
@given(csv_files())
def test_any_csv_loads_to_finite_arrays_or_is_one_input_error(file):
    header, rows, label = file
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "fuzz.csv"
        f.write_text("\n".join(",".join(r) for r in [header, *rows]), encoding="utf-8")
        check_loaded(f, label)


DTYPES = st.sampled_from(["f8", "f4", "i8", "u1", "c16", "?", "U3", "S2", "f2"])


@settings(max_examples=60, derandomize=True, database=None, deadline=None)
@given(x_shape=st.lists(st.integers(0, 3), min_size=0, max_size=3), x_dtype=DTYPES,
       y_shape=st.lists(st.integers(0, 3), min_size=0, max_size=3), y_dtype=DTYPES,
       fill=st.sampled_from([0.0, 1.5, -2.0, np.nan, np.inf, 1e308, 7.0]))
def test_any_npz_loads_to_finite_arrays_or_is_one_input_error(x_shape, x_dtype, y_shape, y_dtype, fill):
    with np.errstate(all="ignore"):  # casting nan to integers is the test's doing, not the loader's
        X = np.full(x_shape, fill).astype(x_dtype) if x_dtype[0] not in "US" else np.full(x_shape, "ab", x_dtype)
        y = np.arange(int(np.prod(y_shape))).reshape(y_shape).astype(y_dtype)
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "fuzz.npz"
        np.savez(f, X=X, y=y)
        check_loaded(f)
