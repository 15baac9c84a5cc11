"""Data sets for ``symnet train``: built-in generated sets, scikit-learn's bundled ones, CSV and NPZ files.

Every loader returns a :class:`Dataset` of features and raw targets; :func:`encode_targets` turns the
targets into what the network's loss expects (one-hot for cce, 0/1 for bce, numbers for mse) and says
in one line what does not fit.

Files are bounded before they are read: a CSV file may be at most :data:`CSV_LIMIT_BYTES` long, and the
arrays of an .npz (data or saved parameters) may unpack to at most :data:`NPZ_LIMIT_BYTES` together; the
sizes are read from the zip directory and the .npy headers, so an archive that would unpack beyond the
limit is refused before anything is decompressed.
"""
from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from symnet.functions.losses import LOSSES
from symnet.errors import InputError
from symnet.spec import Network, Spec

GENERATED = ("moons", "circles", "xor", "spirals")
SKLEARN = ("digits", "iris", "wine", "breast_cancer")
#: the most a data or parameters .npz may unpack to (all its members together)
NPZ_LIMIT_BYTES = 512 * 2**20
#: the largest CSV data file read (its cells become Python objects first: several times this in memory)
CSV_LIMIT_BYTES = 128 * 2**20
#: the most rows a generated data set (--samples) may have
MAX_SAMPLES = 1_000_000


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 class``, ``2 classes``; ``1 feature``, ``3 features``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


@dataclass
class Dataset:
    """Features X (m, n) and targets: class labels (m,) for classification, numbers (m, k) otherwise."""

    name: str
    X: np.ndarray
    labels: np.ndarray | None = None  # integer class of each row, 0..K-1
    classes: list[str] = field(default_factory=list)
    targets: np.ndarray | None = None  # numeric targets (m, k) for regression
    columns: list[str] = field(default_factory=list)  # a name for each feature column, for messages
    source: str | None = None  # the file it was read from

    @property
    def is_classification(self) -> bool:
        return self.labels is not None

    @property
    def where(self) -> str:
        """How messages name it: the file, or the built-in set."""
        return self.source or f"data set {self.name}"

    def column(self, j: int) -> str:
        """How messages name feature column ``j``: by its header, else as a column of X (from 0)."""
        return f"column {self.columns[j]!r}" if j < len(self.columns) else f"X column {j}"


def load(source: str, *, label: str | None = None, samples: int = 1000, seed: int = 0,
         n_features: int | None = None) -> Dataset:
    """A built-in name (moons, circles, xor, spirals, digits, iris, wine, breast_cancer) or a .csv/.npz path.

    With ``n_features`` (prediction) a file may come without labels: an .npz with only ``X``, or a CSV of
    exactly ``n_features`` columns and no ``label``; the Dataset then has neither labels nor targets."""
    if source in GENERATED:
        return generated(source, samples=samples, seed=seed)
    if source in SKLEARN:
        return bundled(source)
    path = Path(source)
    if path.suffix.lower() == ".csv":
        return read_csv(path, label=label, n_features=n_features)
    if path.suffix.lower() == ".npz":
        return read_npz(path, unlabelled=n_features is not None)
    if path.suffix.lower() == ".parquet":
        return read_parquet(path, label=label, n_features=n_features)
    raise InputError(f"unknown data set {source!r}: use one of {', '.join(GENERATED + SKLEARN)}, "
                     f"or a .csv, .npz or .parquet file")


def generated(name: str, samples: int = 1000, seed: int = 0, noise: float = 0.1) -> Dataset:
    """Two-dimensional toy sets, made here so they need no extra dependency."""
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or not 1 <= samples <= MAX_SAMPLES:
        raise InputError(f"--samples must be a whole number from 1 to {MAX_SAMPLES}, got {samples}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"--seed must be a whole number >= 0, got {seed}")
    rng = np.random.default_rng(seed)
    m = samples
    labels = np.arange(m) % 2
    t = rng.uniform(0, 1, m)
    if name == "moons":
        angle = np.pi * t
        X = np.where(labels[:, None] == 0,
                     np.c_[np.cos(angle), np.sin(angle)],
                     np.c_[1 - np.cos(angle), 0.5 - np.sin(angle)])
        X = X + rng.normal(0, noise, X.shape)
    elif name == "circles":
        angle = 2 * np.pi * t
        radius = np.where(labels == 0, 1.0, 0.5)
        X = radius[:, None] * np.c_[np.cos(angle), np.sin(angle)] + rng.normal(0, noise / 2, (m, 2))
    elif name == "xor":
        X = rng.uniform(-1, 1, (m, 2))
        labels = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)
    elif name == "spirals":
        r = 0.1 + 0.9 * t
        angle = 3 * np.pi * t + np.pi * labels
        X = r[:, None] * np.c_[np.cos(angle), np.sin(angle)] + rng.normal(0, noise / 4, (m, 2))
    else:
        raise InputError(f"unknown generated data set {name!r}; allowed: {', '.join(GENERATED)}")
    return Dataset(name, np.asarray(X, dtype=float), labels.astype(int), ["0", "1"], columns=["x1", "x2"])


def bundled(name: str) -> Dataset:
    """scikit-learn's bundled copies (no download): the optional 'datasets' extra."""
    try:
        from sklearn import datasets as skd
    except ImportError:
        raise InputError(f"data set {name!r} needs scikit-learn: pip install 'symnet[datasets]'") from None
    bunch = getattr(skd, f"load_{name}")()
    X = np.asarray(bunch.data, dtype=float)
    if name == "digits":
        X = X / 16.0  # pixel intensities 0..16, scaled to [0, 1]
    classes = [str(c) for c in getattr(bunch, "target_names", np.unique(bunch.target))]
    columns = [str(c) for c in getattr(bunch, "feature_names", None) or []]
    return Dataset(name, X, np.asarray(bunch.target, dtype=int), classes, columns=columns)


def read_csv(path: Path, label: str | None = None, n_features: int | None = None) -> Dataset:
    """A CSV with a header row; the label column is the last one, or the one named by ``label``.

    With ``n_features`` and no ``label``, a file of exactly ``n_features`` columns has no label column."""
    if not path.is_file():
        raise InputError(f"data file {path} does not exist")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    if size > CSV_LIMIT_BYTES:
        raise InputError(f"{path} is {size / 2**20:.0f} MiB; symnet reads CSV files of at most "
                         f"{CSV_LIMIT_BYTES // 2**20} MiB: save a large data set as .npz (arrays X and y)")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"cannot read {path}: {e}") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise InputError(f"{path} is empty; expected a header row and data rows")
    header = [h.strip() for h in rows[0]]
    if len(rows) < 2:
        raise InputError(f"{path} has a header but no data rows")
    col = label_column(path, header, label, n_features)
    features, raw_labels = [], []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InputError(f"{path} row {n} has {plural(len(row), 'cell')}, the header has {len(header)}")
        values = []
        for c, cell in enumerate(row):
            if c == col:
                continue
            try:
                v = float(cell)
            except ValueError:
                raise InputError(f"{path} row {n} column {header[c]!r}: {cell.strip()!r} is not a number") from None
            if not np.isfinite(v):
                raise InputError(f"{path} row {n} column {header[c]!r}: {cell.strip()} is not a finite number")
            values.append(v)
        features.append(values)
        if col is not None:
            raw_labels.append(row[col].strip())
    if col is None:
        data = Dataset(path.stem, np.array(features, dtype=float), columns=header, source=str(path))
        return data
    data = _with_labels(path.stem, np.array(features, dtype=float), raw_labels,
                        lambda row: f"{path} row {row + 2} column {header[col]!r}")
    data.columns = [h for c, h in enumerate(header) if c != col]
    data.source = str(path)
    return data


def label_column(path: Path, header: list[str], label: str | None, n_features: int | None) -> int | None:
    """Which column of a table holds the labels: ``label``'s, else the last one, or none when a table for
    prediction (``n_features``) has exactly one column per input."""
    if label is None and n_features is not None and len(header) == n_features:
        return None
    if label is not None and label not in header:
        raise InputError(f"{path} has no column {label!r}; columns: {', '.join(header)}")
    if len(header) < 2:
        raise InputError(f"{path} needs at least one feature column and a label column")
    return header.index(label) if label is not None else len(header) - 1


def read_parquet(path: Path, label: str | None = None, n_features: int | None = None) -> Dataset:
    """A Parquet table, read as a CSV is: the label column is the last one or ``label``; every other column
    is a numeric feature.  Its size is checked from the file's metadata before the data is read."""
    if not path.is_file():
        raise InputError(f"data file {path} does not exist")
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"reading {path} needs pyarrow: pip install 'symnet[dask]' (or pyarrow)") from None
    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as e:  # pyarrow raises its own error types for files that are not Parquet
        raise InputError(f"cannot read {path}: it is not a Parquet file ({e})") from None
    need = meta.num_rows * meta.num_columns * 8
    if need > NPZ_LIMIT_BYTES:
        raise InputError(f"{path} holds {meta.num_rows:,} rows of {meta.num_columns} columns ({need / 2**20:.0f} MiB as "
                         f"numbers); symnet reads data files of at most {NPZ_LIMIT_BYTES // 2**20} MiB: use shards")
    table = pq.read_table(path)
    header = list(table.column_names)
    if meta.num_rows == 0:
        raise InputError(f"{path} has no rows")
    col = label_column(path, header, label, n_features)
    features = []
    for c, name in enumerate(header):
        if c == col:
            continue
        try:
            values = np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"{path} column {name!r} is not numeric ({table.schema.field(name).type})") from None
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise InputError(f"{path} row {bad[0] + 1} column {name!r} is not a finite number")
        features.append(values)
    X = np.stack(features, axis=1)
    if col is None:
        return Dataset(path.stem, X, columns=header, source=str(path))
    raw = ["" if v is None else str(v) for v in table.column(header[col]).to_pylist()]
    data = _with_labels(path.stem, X, raw, lambda row: f"{path} row {row + 1} column {header[col]!r}")
    data.columns = [h for c, h in enumerate(header) if c != col]
    data.source = str(path)
    return data


def read_npz_arrays(path: str | Path, what: str, names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an .npz (only ``names``, when given), refused with one line when the file is not an
    .npz, holds objects, or would unpack to more than :data:`NPZ_LIMIT_BYTES`: sizes are checked from
    the zip directory and each .npy header before anything is decompressed."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist")
    try:
        if not zipfile.is_zipfile(path):
            raise InputError(f"cannot read {what} {path}: it is not an .npz archive; write it with numpy.savez")
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            total = sum(i.file_size for i in infos)
            if total > NPZ_LIMIT_BYTES:
                raise InputError(f"{what} {path} unpacks to {total / 2**20:.0f} MiB; symnet reads .npz files "
                                 f"of at most {NPZ_LIMIT_BYTES // 2**20} MiB unpacked")
            for info in infos:
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if names is not None and name not in names:
                    continue
                _check_npy_header(z, info, name, f"{what} {path}")
        with np.load(path, allow_pickle=False) as f:
            present = [k for k in f.files if names is None or k in names]
            return {k: np.asarray(f[k]) for k in present}
    except InputError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, NotImplementedError) as e:
        raise InputError(f"cannot read {what} {path} as .npz: {e}") from None


def _check_npy_header(z: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, where: str) -> None:
    """An .npy member's declared size and dtype, refused before its data is read."""
    if not info.filename.endswith(".npy"):
        return
    fmt = np.lib.format
    with z.open(info) as f:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(f)
        else:
            raise InputError(f"{where}: array {name} is in .npy format {version[0]}.{version[1]}, which symnet "
                             f"does not read; save plain number arrays with numpy.savez")
    if dtype.hasobject:
        raise InputError(f"{where}: array {name} holds Python objects; save numbers (or text) arrays only")
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared > NPZ_LIMIT_BYTES:
        raise InputError(f"{where}: array {name} of shape {tuple(shape)} would take {declared / 2**20:.0f} MiB; "
                         f"symnet reads arrays of at most {NPZ_LIMIT_BYTES // 2**20} MiB")


def read_npz(path: Path, unlabelled: bool = False) -> Dataset:
    """An .npz with arrays X (m, n) and y (m,) of labels or (m, k) of numeric targets; with ``unlabelled``
    (prediction) y may be absent."""
    arrays = read_npz_arrays(path, "data file", ("X", "y"))
    if "X" not in arrays or ("y" not in arrays and not unlabelled):
        need = "an array 'X' (and 'y' if it has labels)" if unlabelled else "arrays 'X' and 'y'"
        raise InputError(f"{path} must hold {need}; it has {', '.join(sorted(arrays)) or 'none'}")
    X, y = arrays["X"], arrays.get("y")
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise InputError(f"{path}: X must be a non-empty 2-D array (samples × features), got shape {X.shape}")
    if X.dtype.kind not in "iuf":
        raise InputError(f"{path}: X must hold real numbers (integer or float), got dtype {X.dtype}")
    X = X.astype(float)
    bad = ~np.isfinite(X)
    if bad.any():
        row, j = (int(v) for v in np.argwhere(bad)[0])
        raise InputError(f"{path}: X row {row} column {j} is {X[row, j]}, not a finite number; "
                         f"remove or fill the missing values")
    if "y" not in arrays:
        return Dataset(path.stem, X, source=str(path))
    if y.ndim == 0:
        raise InputError(f"{path}: y is a single value; it must hold one label or target per row of X "
                         f"({plural(X.shape[0], 'row')})")
    if y.ndim > 2:
        raise InputError(f"{path}: y must be 1-D labels or 2-D targets (samples × outputs), got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise InputError(f"{path}: y has {plural(y.shape[0], 'row')} but X has {X.shape[0]}")
    if y.ndim == 1 and y.dtype.kind in "iuUSb":
        data = _with_labels(path.stem, X, [str(v) for v in y], lambda row: f"{path} y row {row}")
    elif y.dtype.kind != "f":
        raise InputError(f"{path}: y must hold real numbers or class labels, got dtype {y.dtype}")
    else:
        targets = y.reshape(len(y), -1).astype(float)
        bad = ~np.isfinite(targets)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise InputError(f"{path}: y row {row} is not a finite number; remove or fill the missing values")
        if targets.shape[1] == 0:
            raise InputError(f"{path}: y has no target columns (shape {y.shape})")
        data = Dataset(path.stem, X, targets=targets)
    data.source = str(path)
    return data


def _with_labels(name: str, X: np.ndarray, raw: list[str], where: Callable[[int], str]) -> Dataset:
    """Labels that all read as numbers with a fractional part are regression targets; others are classes.
    ``where(i)`` names the cell of label ``i`` in messages."""
    try:
        numbers = np.array([float(v) for v in raw])
    except ValueError:
        numbers = None
    if numbers is not None and not np.all(np.isfinite(numbers)):
        row = int(np.argmin(np.isfinite(numbers)))
        raise InputError(f"{where(row)}: {raw[row]!r} is not a finite number")
    if numbers is not None and np.any(numbers != np.round(numbers)):
        return Dataset(name, X, targets=numbers.reshape(-1, 1))
    if numbers is not None:
        whole = [int(v) for v in numbers]  # Python ints: exact for any finite float, no overflow
        classes = sorted(set(whole))
        names = [str(c) for c in classes]
        index = {c: k for k, c in enumerate(classes)}
        return Dataset(name, X, np.array([index[v] for v in whole], dtype=int), names, numbers.reshape(-1, 1))
    names = sorted(set(raw))
    index = {c: k for k, c in enumerate(names)}
    return Dataset(name, X, np.array([index[v] for v in raw]), names)


def encode_targets(data: Dataset, net: Spec) -> np.ndarray:
    """Targets (m, n_L) for the network's loss: one-hot (cce), 0/1 (bce), numbers (mse)."""
    K = net.n_out
    if data.is_classification:
        n_classes = len(data.classes)
        loss = LOSSES[net.loss]
        if K == 1 and n_classes == 2 and not loss.one_hot:
            return data.labels.reshape(-1, 1).astype(float)
        if n_classes == K and n_classes >= 2:
            return np.eye(K)[data.labels]
        if not (loss.real_targets and data.targets is not None):  # whole-number targets fit a regression
            if n_classes < 2:
                raise InputError(f"data set {data.name} has only {plural(n_classes, 'class', 'classes')} "
                                 f"({', '.join(data.classes)}); a classifier needs rows of at least 2 classes")
            want = "1 output (two classes)" if n_classes == 2 else f"{n_classes} outputs"
            raise InputError(f"data set {data.name} has {plural(n_classes, 'class', 'classes')} but the output "
                             f"layer has {plural(K, 'neuron')}; use a network with {want}")
    targets = data.targets
    if not LOSSES[net.loss].real_targets:
        regression = " or ".join(name for name, loss in LOSSES.items() if loss.real_targets)
        raise InputError(f"data set {data.name} has numeric targets, which need --loss {regression} (got {net.loss})")
    if targets.shape[1] != K:
        raise InputError(f"data set {data.name} has {plural(targets.shape[1], 'target column')} but the output "
                         f"layer has {plural(K, 'neuron')}; " + (f"use a spec ending -{targets.shape[1]}" if isinstance(
                             net, Network) else f"give the prediction {targets.shape[1]} units"))
    return targets


def check_features(data: Dataset, net: Spec) -> None:
    if data.X.shape[1] != net.n_in:
        fix = (f"use a spec starting {data.X.shape[1]}-…" if isinstance(net, Network)
               else f"set inputs = {data.X.shape[1]} in the graph spec")
        raise InputError(f"data set {data.name} has {plural(data.X.shape[1], 'feature')} but the network has "
                         f"{plural(net.n_in, 'input')}; {fix}")


def split(m: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled train and test row indices; the test part is ``test_fraction`` of the rows."""
    if not 0 <= test_fraction < 1:
        raise InputError(f"--test-fraction must be in [0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(m)
    n_test = int(round(m * test_fraction))
    return order[n_test:], order[:n_test]


@dataclass(frozen=True)
class Standardizer:
    """z = (x − mean) / std with the training rows' statistics (constant columns left at scale 1)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, data: Dataset | None = None) -> "Standardizer":
        """The statistics of ``X``'s columns; a column whose mean or standard deviation is not a finite
        number (values near 1e308 overflow) is refused, naming ``data``'s file and the column."""
        with np.errstate(all="ignore"):
            mean, std = X.mean(axis=0), X.std(axis=0)
        for stat, values in (("mean", mean), ("standard deviation", std)):
            bad = ~np.isfinite(values)
            if bad.any():
                j = int(np.argmax(bad))
                where = data.where if data is not None else "the data"
                name = data.column(j) if data is not None else f"column {j}"
                top = float(np.max(np.abs(X[:, j]))) if len(X) else float("nan")
                raise InputError(f"{where} {name}: the {stat} is {values[j]} (values reach {top:.3g}), so it "
                                 f"cannot be standardised; rescale that column to a smaller range")
        return cls(mean, np.where(std > 0, std, 1.0))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return (X - self.mean) / self.std

    def apply(self, X: np.ndarray, data: Dataset | None = None) -> np.ndarray:
        """``self(X)``, refused with one line when a standardised value is not a finite number."""
        Z = self(X)
        bad = ~np.isfinite(Z)
        if bad.any():
            row, j = (int(v) for v in np.argwhere(bad)[0])
            where = data.where if data is not None else "the data"
            name = data.column(j) if data is not None else f"column {j}"
            raise InputError(f"{where} {name}: data row {row + 1} ({X[row, j]:.3g}) is not a finite number once "
                             f"standardised (mean {self.mean[j]:.3g}, std {self.std[j]:.3g}); rescale that column")
        return Z
