"""Training a network with its generated kernel: shuffled mini-batch SGD (with momentum), per-epoch
metrics, and the trained parameters saved together with the spec so ``predict`` can load them."""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from symnet.train.data import Dataset, Standardizer, check_features, encode_targets, split
from symnet.errors import InputError
from symnet.files import write_atomic
from symnet.spec import Network


@dataclass
class Epoch:
    epoch: int
    loss: float  # mean of the batch losses, each taken before its update (train_epoch's return)
    train_accuracy: float | None
    test_loss: float | None
    test_accuracy: float | None
    seconds: float


@dataclass
class Trained:
    """What a training run leaves: the parameters, the preprocessing, and its history."""

    net: Network
    params: list[np.ndarray]
    standardizer: Standardizer | None
    classes: list[str]
    history: list[Epoch] = field(default_factory=list)
    compile_seconds: float = 0.0

    @property
    def seconds_per_epoch(self) -> float:
        """Median epoch time after the first, whose time includes Numba's just-in-time compile."""
        times = [e.seconds for e in self.history]
        return float(np.median(times[1:] if len(times) > 1 else times)) if times else 0.0

    def save(self, path: str | Path) -> Path:
        """An .npz with W1, b1, … and the spec, preprocessing and class names to predict with."""
        arrays = {f"{kind}{k}": p for k, (W, b) in enumerate(zip(self.params[::2], self.params[1::2]), start=1)
                  for kind, p in (("W", W), ("b", b))}
        arrays["spec"] = np.array(self.net.to_toml())
        arrays["classes"] = np.array(self.classes, dtype=str)
        if self.standardizer is not None:
            arrays["mean"], arrays["std"] = self.standardizer.mean, self.standardizer.std
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return write_atomic(path, buf.getvalue())


def accuracy(outputs: np.ndarray, Y: np.ndarray) -> float:
    """Share of rows whose predicted class (argmax, or > 0.5 for one output) is the target's."""
    if Y.shape[1] == 1:
        return float(np.mean((outputs[:, 0] > 0.5) == (Y[:, 0] > 0.5)))
    return float(np.mean(np.argmax(outputs, axis=1) == np.argmax(Y, axis=1)))


def check_inputs(net: Network, data: Dataset, *, epochs: int, lr: float, batch_size: int, momentum: float,
                 test_fraction: float) -> np.ndarray:
    """Everything about a run that can be wrong before it starts; returns the encoded targets."""
    for name, value, ok in (("--epochs", epochs, epochs >= 1), ("--batch-size", batch_size, batch_size >= 1),
                            ("--lr", lr, np.isfinite(lr) and lr > 0),
                            ("--momentum", momentum, 0 <= momentum < 1),
                            ("--test-fraction", test_fraction, 0 <= test_fraction < 1)):
        if not ok:
            rule = {"--lr": "a positive number", "--momentum": "in [0, 1)",
                    "--test-fraction": "in [0, 1)"}.get(name, "a whole number >= 1")
            raise InputError(f"{name} must be {rule}, got {value}")
    check_features(data, net)
    return encode_targets(data, net)


def train(
    net: Network,
    data: Dataset,
    *,
    epochs: int = 20,
    lr: float = 0.1,
    batch_size: int = 32,
    momentum: float = 0.0,
    seed: int = 0,
    test_fraction: float = 0.2,
    standardize: bool = True,
    on_epoch: Callable[[Epoch], None] | None = None,
    kernel=None,
) -> Trained:
    """Train ``net`` on ``data`` with its compiled kernel; the same seed gives the same numbers."""
    from symnet import compile as compile_kernel

    Y = check_inputs(net, data, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
                     test_fraction=test_fraction)
    train_rows, test_rows = split(len(data.X), test_fraction, seed)
    if len(train_rows) == 0:
        raise InputError(f"data set {data.name} has no rows left to train on")
    scaler = Standardizer.fit(data.X[train_rows]) if standardize else None
    X = scaler(data.X) if scaler else data.X
    X_train, Y_train = X[train_rows], Y[train_rows]
    X_test, Y_test = X[test_rows], Y[test_rows]
    t0 = time.perf_counter()
    kernel = kernel or compile_kernel(net)
    compile_seconds = time.perf_counter() - t0
    params = kernel.init_params(seed)
    velocity = [np.zeros_like(p) for p in params] if momentum else None
    classify = data.is_classification
    trained = Trained(net, params, scaler, list(data.classes) if classify else [], compile_seconds=compile_seconds)
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(X_train))
        Xe, Ye = np.ascontiguousarray(X_train[order]), np.ascontiguousarray(Y_train[order])
        t = time.perf_counter()
        loss = float(kernel.train_epoch(params, Xe, Ye, lr, batch_size, momentum, velocity))
        seconds = time.perf_counter() - t
        if epoch == 1:
            t = time.perf_counter()
        train_acc = accuracy(kernel.forward(params, X_train), Y_train) if classify else None
        test_loss = float(kernel.loss(params, X_test, Y_test)) if len(X_test) else None
        test_acc = accuracy(kernel.forward(params, X_test), Y_test) if classify and len(X_test) else None
        if epoch == 1:
            trained.compile_seconds += time.perf_counter() - t  # forward and loss compiled on first use
        record = Epoch(epoch, loss, train_acc, test_loss, test_acc, seconds)
        trained.history.append(record)
        if epoch == 2:
            # the first epoch compiled train_epoch, forward and loss on first use; charge that to compiling
            trained.compile_seconds += max(trained.history[0].seconds - seconds, 0.0)
        if on_epoch:
            on_epoch(record)
    return trained


@dataclass
class Saved:
    net: Network
    params: list[np.ndarray]
    standardizer: Standardizer | None
    classes: list[str]


def load_saved(path: str | Path) -> Saved:
    """Read what :meth:`Trained.save` wrote."""
    import tempfile

    path = Path(path)
    if not path.is_file():
        raise InputError(f"saved parameters {path} do not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {path} as .npz: {e}") from None
    if "spec" not in arrays:
        raise InputError(f"{path} holds no spec; save it with 'symnet train ... --save FILE.npz'")
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as tmp:
        tmp.write(str(arrays["spec"]))
    try:
        net = Network.from_toml(tmp.name)
    finally:
        Path(tmp.name).unlink()
    params = []
    for k in range(1, net.depth + 1):
        for kind, shape in (("W", (net.layers[k - 1], net.layers[k])), ("b", (net.layers[k],))):
            key = f"{kind}{k}"
            if key not in arrays or arrays[key].shape != shape:
                raise InputError(f"{path}: {key} is missing or not of shape {shape}")
            params.append(np.ascontiguousarray(arrays[key], dtype=float))
    scaler = Standardizer(arrays["mean"], arrays["std"]) if "mean" in arrays else None
    return Saved(net, params, scaler, [str(c) for c in arrays.get("classes", [])])
