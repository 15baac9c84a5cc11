"""Data sets for ``symnet train``: built-in generated sets, scikit-learn's bundled ones, CSV and NPZ files.

Every loader returns a :class:`Dataset` of features and raw targets; :func:`encode_targets` turns the
targets into what the network's loss expects (one-hot for cce, 0/1 for bce, numbers for mse) and says
in one line what does not fit.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from symnet.errors import InputError
from symnet.spec import Network

GENERATED = ("moons", "circles", "xor", "spirals")
SKLEARN = ("digits", "iris", "wine", "breast_cancer")


@dataclass
class Dataset:
    """Features X (m, n) and targets: class labels (m,) for classification, numbers (m, k) otherwise."""

    name: str
    X: np.ndarray
    labels: np.ndarray | None = None  # integer class of each row, 0..K-1
    classes: list[str] = field(default_factory=list)
    targets: np.ndarray | None = None  # numeric targets (m, k) for regression

    @property
    def is_classification(self) -> bool:
        return self.labels is not None


def load(source: str, *, label: str | None = None, samples: int = 1000, seed: int = 0) -> Dataset:
    """A built-in name (moons, circles, xor, spirals, digits, iris, wine, breast_cancer) or a .csv/.npz path."""
    if source in GENERATED:
        return generated(source, samples=samples, seed=seed)
    if source in SKLEARN:
        return bundled(source)
    path = Path(source)
    if path.suffix.lower() == ".csv":
        return read_csv(path, label=label)
    if path.suffix.lower() == ".npz":
        return read_npz(path)
    raise InputError(f"unknown data set {source!r}: use one of {', '.join(GENERATED + SKLEARN)}, "
                     f"or a .csv or .npz file")


def generated(name: str, samples: int = 1000, seed: int = 0, noise: float = 0.1) -> Dataset:
    """Two-dimensional toy sets, made here so they need no extra dependency."""
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
    return Dataset(name, np.asarray(X, dtype=float), labels.astype(int), ["0", "1"])


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
    return Dataset(name, X, np.asarray(bunch.target, dtype=int), classes)


def read_csv(path: Path, label: str | None = None) -> Dataset:
    """A CSV with a header row; the label column is the last one, or the one named by ``label``."""
    if not path.is_file():
        raise InputError(f"data file {path} does not exist")
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
    col = len(header) - 1
    if label is not None:
        if label not in header:
            raise InputError(f"{path} has no column {label!r}; columns: {', '.join(header)}")
        col = header.index(label)
    if len(header) < 2:
        raise InputError(f"{path} needs at least one feature column and a label column")
    features, raw_labels = [], []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InputError(f"{path} row {n} has {len(row)} cells, the header has {len(header)}")
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
        raw_labels.append(row[col].strip())
    return _with_labels(path.stem, np.array(features, dtype=float), raw_labels, f"{path} column {header[col]!r}")


def read_npz(path: Path) -> Dataset:
    """An .npz with arrays X (m, n) and y (m,) of labels or (m, k) of numeric targets."""
    if not path.is_file():
        raise InputError(f"data file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "X" not in data or "y" not in data:
                raise InputError(f"{path} must hold arrays 'X' and 'y'; it has {', '.join(data.files) or 'none'}")
            X, y = np.asarray(data["X"]), np.asarray(data["y"])
    except InputError:
        raise
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {path} as .npz: {e}") from None
    if X.ndim != 2 or X.shape[0] == 0:
        raise InputError(f"{path}: X must be a non-empty 2-D array (samples × features), got shape {X.shape}")
    if y.shape[0] != X.shape[0]:
        raise InputError(f"{path}: y has {y.shape[0]} rows but X has {X.shape[0]}")
    if not np.issubdtype(X.dtype, np.number) or not np.all(np.isfinite(X)):
        raise InputError(f"{path}: X must hold finite numbers")
    if y.ndim == 1 and (np.issubdtype(y.dtype, np.integer) or y.dtype.kind in "USb"):
        return _with_labels(path.stem, X.astype(float), [str(v) for v in y], f"{path} y")
    if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)):
        raise InputError(f"{path}: y must hold finite numbers or class labels")
    return Dataset(path.stem, X.astype(float), targets=y.reshape(len(y), -1).astype(float))


def _with_labels(name: str, X: np.ndarray, raw: list[str], where: str) -> Dataset:
    """Labels that all read as numbers with a fractional part are regression targets; others are classes."""
    try:
        numbers = np.array([float(v) for v in raw])
    except ValueError:
        numbers = None
    if numbers is not None and not np.all(np.isfinite(numbers)):
        raise InputError(f"{where}: a target is not a finite number")
    if numbers is not None and np.any(numbers != np.round(numbers)):
        return Dataset(name, X, targets=numbers.reshape(-1, 1))
    if numbers is not None:
        classes = sorted(set(numbers.astype(int)))
        names = [str(c) for c in classes]
        index = {c: k for k, c in enumerate(classes)}
        return Dataset(name, X, np.array([index[int(v)] for v in numbers]), names, numbers.reshape(-1, 1))
    names = sorted(set(raw))
    index = {c: k for k, c in enumerate(names)}
    return Dataset(name, X, np.array([index[v] for v in raw]), names)


def encode_targets(data: Dataset, net: Network) -> np.ndarray:
    """Targets (m, n_L) for the network's loss: one-hot (cce), 0/1 (bce), numbers (mse)."""
    K = net.layers[-1]
    if data.is_classification:
        n_classes = len(data.classes)
        if K == 1 and n_classes == 2 and net.loss in ("bce", "mse"):
            return data.labels.reshape(-1, 1).astype(float)
        if n_classes == K and n_classes >= 2:
            return np.eye(K)[data.labels]
        if not (net.loss == "mse" and data.targets is not None):  # whole-number targets fit a regression
            want = "1 output (two classes)" if n_classes == 2 else f"{n_classes} outputs"
            raise InputError(f"data set {data.name} has {n_classes} classes but the output layer has {K} "
                             f"neuron{'s' if K != 1 else ''}; use a network with {want}")
    targets = data.targets
    if net.loss != "mse":
        raise InputError(f"data set {data.name} has numeric targets, which need --loss mse (got {net.loss})")
    if targets.shape[1] != K:
        raise InputError(f"data set {data.name} has {targets.shape[1]} target column(s) but the output layer "
                         f"has {K} neurons")
    return targets


def check_features(data: Dataset, net: Network) -> None:
    if data.X.shape[1] != net.layers[0]:
        raise InputError(f"data set {data.name} has {data.X.shape[1]} features but the network has "
                         f"{net.layers[0]} inputs; use a spec starting {data.X.shape[1]}-…")


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
    def fit(cls, X: np.ndarray) -> "Standardizer":
        std = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(std > 0, std, 1.0))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.std
