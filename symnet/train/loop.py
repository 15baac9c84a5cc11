"""Training a network with its generated kernel: shuffled mini-batch SGD (with momentum), per-epoch
metrics, and the trained parameters saved together with the spec so ``predict`` can load them."""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from symnet.train.data import (Dataset, Standardizer, check_features, encode_targets, plural, read_npz_arrays,
                               split)
from symnet.derivation import update
from symnet.errors import InputError, VerdictError
from symnet.files import write_atomic
from symnet.spec import DEFAULTS, TOML_KEYS, Graph, Network, Spec, SpecError


class Diverged(VerdictError):
    """Training produced a loss or a parameter that is not a finite number: a negative verdict (exit 1).

    Training stops at that epoch; ``history`` holds the epochs before it, and nothing is saved."""

    def __init__(self, message: str, epoch: int, history: list["Epoch"]):
        super().__init__(message)
        self.epoch, self.history = epoch, history


#: an epoch's loss this many times the initial loss (or above it, from an initial loss under 1) is divergence
EXPLODED = 1e6


def non_finite(net: Spec, params: list[np.ndarray]) -> str | None:
    """The first parameter holding a value that is not a finite number, e.g. ``W2[3,1] is nan``."""
    for (name, _), p in zip(net.param_shapes, params):
        bad = ~np.isfinite(p)
        if bad.any():
            at = ",".join(str(int(i) + 1) for i in np.argwhere(bad)[0])
            return f"{name}[{at}] is {p[tuple(np.argwhere(bad)[0])]}"
    return None


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

    net: Spec
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
        """An .npz with W1, b1, … and the spec, preprocessing and class names to predict with.

        A model with a parameter that is not a finite number is never written (nor is ``path`` touched)."""
        bad = non_finite(self.net, self.params)
        if bad:
            raise Diverged(f"not saving {path}: {bad}; the model diverged", len(self.history), self.history)
        arrays = {name: p for (name, _), p in zip(self.net.param_shapes, self.params)}
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


def available_cpus() -> int:
    """The CPUs this process may run on, as Numba counted them (its affinity mask, where the system has
    one): the most threads a kernel's train_epoch accepts."""
    import numba

    return numba.config.NUMBA_DEFAULT_NUM_THREADS


def check_inputs(net: Network, data: Dataset, *, epochs: int, lr: float, batch_size: int, momentum: float | None,
                 test_fraction: float, optimizer: str | None = None, threads: int | None = None,
                 **hyperparameters: float | None) -> np.ndarray:
    """Everything about a run that can be wrong before it starts; returns the encoded targets."""
    from symnet.emit.numba.cache import check_size

    check_size(net)
    if threads is not None and not 1 <= threads <= available_cpus():
        raise InputError(f"--threads must be from 1 to {available_cpus()} (the CPUs this process may run on), "
                         f"got {threads}")
    for name, value, ok in (("--epochs", epochs, epochs >= 1), ("--batch-size", batch_size, batch_size >= 1),
                            ("--lr", lr, np.isfinite(lr) and lr > 0),
                            ("--test-fraction", test_fraction, 0 <= test_fraction < 1)):
        if not ok:
            rule = {"--lr": "a positive number", "--test-fraction": "in [0, 1)"}.get(name, "a whole number >= 1")
            raise InputError(f"{name} must be {rule}, got {value}")
    update.resolve(optimizer, momentum=momentum, **hyperparameters)
    check_features(data, net)
    return encode_targets(data, net)


def train(
    net: Network,
    data: Dataset,
    *,
    epochs: int = 20,
    lr: float = 0.1,
    batch_size: int = 32,
    momentum: float | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    standardize: bool = True,
    shuffle: bool = True,
    on_epoch: Callable[[Epoch], None] | None = None,
    kernel=None,
    optimizer: str | None = None,
    target: str = "cpu",
    threads: int | None = None,
    **hyperparameters: float | None,
) -> Trained:
    """Train ``net`` on ``data`` with its compiled kernel; the same seed gives the same numbers.

    With ``shuffle`` each epoch visits the training rows in a fresh permutation drawn from ``seed`` (the
    kernel's ``train_epoch`` takes the batches in the order given); without it, in the same order every
    epoch. ``optimizer`` (symnet.derivation.update; none: momentum when ``momentum`` > 0, else gradient
    descent) with ``momentum`` and ``hyperparameters`` (beta1, beta2, eps); its state persists across the
    epochs. ``target``: cpu, or cuda for the GPU kernels (symnet.emit.numba.gpu).  ``threads``: the
    kernel's train_epoch threads (None: one, with BLAS's own threads in the products)."""
    from symnet.emit.numba.cache import compile as compile_kernel

    if threads is not None and target == "cuda":
        raise InputError("threads is for training on this machine's CPUs; the GPU kernels take none (--target cuda)")
    Y = check_inputs(net, data, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
                     test_fraction=test_fraction, optimizer=optimizer, threads=threads, **hyperparameters)
    rule, hyper = update.resolve(optimizer, momentum=momentum, **hyperparameters)
    classic = rule.name in update.CLASSIC
    momentum = hyper.get("momentum", 0.0)
    train_rows, test_rows = split(len(data.X), test_fraction, seed)
    if len(train_rows) == 0:
        raise InputError(f"data set {data.name} has no rows left to train on")
    scaler = Standardizer.fit(data.X[train_rows], data) if standardize else None
    X = scaler.apply(data.X, data) if scaler else data.X
    X_train, Y_train = X[train_rows], Y[train_rows]
    X_test, Y_test = X[test_rows], Y[test_rows]
    t0 = time.perf_counter()
    kernel = kernel or compile_kernel(net, optimizer=rule.name, target=target)
    compile_seconds = time.perf_counter() - t0
    params = kernel.init_params(seed)
    t = time.perf_counter()
    start_loss = float(kernel.loss(params, X_train, Y_train))  # what an exploding loss is measured against
    compile_seconds += time.perf_counter() - t  # mostly compiling loss on its first use
    if not np.isfinite(start_loss):
        raise Diverged(_diverged(0, f"the loss at the initial parameters is {start_loss}", lr, momentum,
                                 standardize), 0, [])
    velocity = [np.zeros_like(p) for p in params] if classic and momentum else None
    state = None if classic else kernel.init_state()
    classify = data.is_classification
    trained = Trained(net, params, scaler, list(data.classes) if classify else [], compile_seconds=compile_seconds)
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        if shuffle:
            order = rng.permutation(len(X_train))
            Xe, Ye = np.ascontiguousarray(X_train[order]), np.ascontiguousarray(Y_train[order])
        else:
            Xe, Ye = np.ascontiguousarray(X_train), np.ascontiguousarray(Y_train)
        t = time.perf_counter()
        on = {} if threads is None else {"threads": threads}  # the GPU module's train_epoch takes none
        if classic:
            loss = float(kernel.train_epoch(params, Xe, Ye, lr, batch_size, momentum, velocity, **on))
        else:
            loss = float(kernel.train_epoch(params, Xe, Ye, lr, batch_size, state=state, **on, **hyper))
        seconds = time.perf_counter() - t
        # train_epoch runs a whole epoch in compiled code: a divergence is caught at its end
        bad = f"loss is {loss}" if not np.isfinite(loss) else non_finite(net, params)
        if not bad and loss > EXPLODED * max(start_loss, 1.0):
            bad = f"loss exploded from {start_loss:.3g} to {loss:.3g}"
        if bad:
            raise Diverged(_diverged(epoch, bad, lr, momentum, standardize), epoch, trained.history)
        if epoch == 1:
            t = time.perf_counter()
        train_acc = accuracy(kernel.forward(params, X_train), Y_train) if classify else None
        test_loss = float(kernel.loss(params, X_test, Y_test)) if len(X_test) else None
        if test_loss is not None and not np.isfinite(test_loss):
            raise Diverged(_diverged(epoch, f"test loss is {test_loss}", lr, momentum, standardize), epoch,
                           trained.history)
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


def _diverged(epoch: int, what: str, lr: float, momentum: float, standardize: bool) -> str:
    fixes = [f"lower --lr (now {lr:g})"]
    if momentum:
        fixes.append(f"--momentum (now {momentum:g})")
    if not standardize:
        fixes.append("standardise inputs (drop --no-standardize)")
    fix = fixes[0] if len(fixes) == 1 else f"{', '.join(fixes[:-1])} or {fixes[-1]}"
    return f"{f'diverged at epoch {epoch}' if epoch else 'cannot train'}: {what}; {fix}"


@dataclass
class Saved:
    net: Spec
    params: list[np.ndarray]
    standardizer: Standardizer | None
    classes: list[str]


def load_saved(path: str | Path) -> Saved:
    """Read what :meth:`Trained.save` wrote, refusing (one line naming ``path``) a model that cannot be
    used: no or a bad spec, parameters missing, of the wrong shape, not numbers or not finite, bad
    standardisation statistics, or class names that do not fit the outputs."""
    path = Path(path)
    arrays = read_npz_arrays(path, "saved parameters", None)
    spec = arrays.get("spec")
    if spec is None:
        raise InputError(f"{path} holds no spec; save it with 'symnet train ... --save FILE.npz'")
    if spec.ndim != 0 or spec.dtype.kind != "U":
        raise InputError(f"{path}: spec must be the network's TOML text, got an array of shape {spec.shape} "
                         f"and dtype {spec.dtype}; save it with 'symnet train ... --save FILE.npz'")
    net = _spec_from_text(str(spec), path)
    params = [_numbers(arrays, name, shape, path) for name, shape in net.param_shapes]
    bad = non_finite(net, params)
    if bad:
        raise InputError(f"{path}: {bad}, not a finite number; the saved model is unusable, train it again")
    scaler = None
    if ("mean" in arrays) != ("std" in arrays):
        have, lack = ("mean", "std") if "mean" in arrays else ("std", "mean")
        raise InputError(f"{path} holds {have} but no {lack}; the standardisation needs both (train it again)")
    if "mean" in arrays:
        mean = _numbers(arrays, "mean", (net.n_in,), path)
        std = _numbers(arrays, "std", (net.n_in,), path)
        for name, values in (("mean", mean), ("std", std)):
            if not np.all(np.isfinite(values)):
                raise InputError(f"{path}: {name} holds a value that is not a finite number; train it again")
        if not np.all(std > 0):
            raise InputError(f"{path}: std holds a value <= 0; standard deviations must be positive")
        scaler = Standardizer(mean, std)
    classes: list[str] = []
    if "classes" in arrays:
        raw = arrays["classes"]
        if raw.ndim != 1 or (raw.size and raw.dtype.kind not in "US"):
            raise InputError(f"{path}: classes must be a list of names, got shape {raw.shape} and dtype {raw.dtype}")
        classes = [str(c) for c in raw]
    K = net.n_out
    if classes and len(classes) != (2 if K == 1 else K):
        want = "2 classes (one output)" if K == 1 else plural(K, "class", "classes")
        raise InputError(f"{path} names {plural(len(classes), 'class', 'classes')} but the network has "
                         f"{plural(K, 'output')}; it needs {want}")
    return Saved(net, params, scaler, classes)


def _numbers(arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...], path: Path) -> np.ndarray:
    a = arrays.get(name)
    if a is None:
        raise InputError(f"{path}: {name} is missing; the spec needs it of shape {shape}")
    if a.dtype.kind not in "iuf":
        raise InputError(f"{path}: {name} must hold real numbers, got dtype {a.dtype}")
    if a.shape != shape:
        raise InputError(f"{path}: {name} has shape {a.shape}, the spec needs {shape}")
    return np.ascontiguousarray(a, dtype=float)


def _spec_from_text(text: str, path: Path) -> Spec:
    """The network of a saved spec's TOML text (a layer list's keys, or a graph's); errors name the saved file."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: the saved spec is not valid TOML: {e}") from None
    if "nodes" in data:
        try:
            return Graph.from_toml(path, data)
        except SpecError as e:
            raise InputError(f"{path}: the saved spec is not a network: {e}") from None
    unknown = sorted(set(data) - set(TOML_KEYS))
    if unknown or "layers" not in data:
        problem = f"unknown key {unknown[0]!r}" if unknown else "no 'layers' key"
        raise InputError(f"{path}: the saved spec has {problem}; save it with 'symnet train ... --save FILE.npz'")
    if "define" in data:
        # the model's own functions (--define when it was trained), registered before its names are checked
        from symnet.functions.formula import define

        if not isinstance(data["define"], dict):
            raise InputError(f"{path}: the saved spec's 'define' must be a table of name = \"formula\"")
        define(data["define"])
    try:
        return Network.build(data["layers"], **{k: data.get(k, DEFAULTS[k]) for k in DEFAULTS})
    except SpecError as e:
        raise InputError(f"{path}: the saved spec is not a network: {e}") from None
