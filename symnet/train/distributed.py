"""Data-parallel training on a Dask cluster: the rows stay chunked on the workers, the driver holds θ.

For every global mini-batch each worker runs the generated kernel's ``gradients`` (∂E/∂θ, the mean over
its rows) on the rows of that batch that live in its chunks; the driver averages those gradients weighted by
their row counts — exactly the gradient of the global batch's mean loss — applies the update rule of
:mod:`symnet.derivation.update` (θ ← θ − α∇E, or v ← μv − α∇E, θ ← θ + v) and sends the new θ with the next
batch's tasks. The batches are the ones the single-process loop would take: each epoch a permutation of the
global rows drawn from ``seed`` (chunks in the order given, rows in order within each chunk).

Dask is imported only here, and only when a function of this module runs (``pip install 'symnet[dask]'``).
"""
from __future__ import annotations

import glob
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np

from symnet.derivation import update
from symnet.errors import InputError
from symnet.spec import Network

DASK_MISSING = "--dask needs dask and distributed: pip install 'symnet[dask]'"

#: parameters above this many bytes are scattered to the workers once per step instead of travelling inline
BROADCAST_BYTES = 1 << 20

_kernels: dict = {}  # per process (each worker): the compiled kernel of each network


def require_dask():
    """``distributed``, or one line naming the extra to install."""
    try:
        import dask  # noqa: F401
        import distributed
    except ImportError:
        raise InputError(DASK_MISSING) from None
    return distributed


def _kernel(net: Network):
    kernel = _kernels.get(net)
    if kernel is None:
        from symnet.emit.numba.cache import compile as compile_kernel

        kernel = _kernels[net] = compile_kernel(net)
    return kernel


# ---- what runs on the workers -------------------------------------------------------------------------

def _rows(chunk) -> int:
    return int(len(chunk[0]))


def _pair(X, Y):
    return (np.ascontiguousarray(X, dtype=float), np.ascontiguousarray(np.asarray(Y, dtype=float).reshape(len(X), -1)))


def _batch_gradients(net: Network, params, parts):
    """Σ over ``parts`` (chunk, local rows) of n·∂E/∂θ and n·E on those rows, and the row count n."""
    kernel = _kernel(net)
    total, loss_sum, n = None, 0.0, 0
    for chunk, rows in parts:
        X, Y = chunk
        Xb, Yb = np.ascontiguousarray(X[rows]), np.ascontiguousarray(Y[rows])
        m = len(rows)
        g = kernel.gradients(params, Xb, Yb)
        loss_sum += m * float(kernel.loss(params, Xb, Yb))
        if total is None:
            total = [m * gi for gi in g]
        else:
            for t, gi in zip(total, g):
                t += m * gi
        n += m
    return total, loss_sum, n


def _evaluate(net: Network, params, chunk, classify: bool):
    """n·E, the number of rows whose class is predicted right (None for regression), and n."""
    X, Y = chunk
    if len(X) == 0:
        return 0.0, 0, 0
    kernel = _kernel(net)
    loss = float(kernel.loss(params, X, Y)) * len(X)
    correct = None
    if classify:
        out = kernel.forward(params, X)
        right = (out[:, 0] > 0.5) == (Y[:, 0] > 0.5) if Y.shape[1] == 1 else \
            np.argmax(out, axis=1) == np.argmax(Y, axis=1)
        correct = int(np.sum(right))
    return loss, correct, len(X)


# ---- the driver ---------------------------------------------------------------------------------------

@dataclass
class DistributedRun:
    """θ after training, the velocity (momentum, Nesterov; ``state`` holds every optimiser's per-parameter
    arrays by name), and each epoch's mean batch loss (each before its update)."""

    params: list[np.ndarray]
    velocity: list[np.ndarray] | None
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    rows: int = 0
    state: dict[str, list[np.ndarray]] = field(default_factory=dict)


def chunks_on_cluster(data, client) -> tuple[list, list[int]]:
    """Futures of (X, Y) chunks on the workers and their row counts, from

    - a pair of Dask arrays ``(dX, dY)`` (``dY`` is rechunked to ``dX``'s rows; each block stays where Dask
      computes it),
    - a sequence of ``(X, Y)`` NumPy pairs (scattered, spread over the workers), or
    - a sequence of futures already holding ``(X, Y)`` pairs on the workers."""
    require_dask()
    from distributed import Future

    if isinstance(data, tuple) and len(data) == 2 and all(hasattr(a, "to_delayed") for a in data):
        import dask

        dX, dY = data
        if dY.ndim == 1:
            dY = dY.reshape(-1, 1)
        dX = dX.rechunk({1: -1})
        dY = dY.rechunk({0: dX.chunks[0], 1: -1})
        blocks = [dask.delayed(_pair)(x, y) for x, y in zip(dX.to_delayed().ravel(), dY.to_delayed().ravel())]
        futures = client.compute(blocks)
        return list(futures), [int(c) for c in dX.chunks[0]]
    data = list(data)
    if data and all(isinstance(d, Future) for d in data):
        return data, [int(n) for n in client.gather(client.map(_rows, data))]
    workers = sorted(client.scheduler_info()["workers"])
    futures = []
    for k, (X, Y) in enumerate(data):
        pair = _pair(X, Y)
        futures.append(client.scatter([pair], workers=[workers[k % len(workers)]] if workers else None,
                                      hash=False)[0])
    return futures, [len(X) for X, _ in data]


def train_distributed(
    net: Network,
    data,
    client,
    *,
    epochs: int = 1,
    lr: float = 0.1,
    batch_size: int = 32,
    momentum: float | None = None,
    seed: int = 0,
    shuffle: bool = True,
    params: list[np.ndarray] | None = None,
    velocity: list[np.ndarray] | None = None,
    max_steps: int | None = None,
    counts: Sequence[int] | None = None,
    on_epoch: Callable[[int, float, list[np.ndarray]], None] | None = None,
    optimizer: str | None = None,
    **hyperparameters: float | None,
) -> DistributedRun:
    """Mini-batch training of ``net`` over data chunked on ``client``'s workers, with ``optimizer`` (none:
    momentum when ``momentum`` > 0, else gradient descent; symnet.derivation.update) and its
    ``hyperparameters`` (beta1, beta2, eps).

    ``data`` is what :func:`chunks_on_cluster` takes, or its futures with their row ``counts``.
    Each epoch's global order is ``default_rng(seed).permutation(N)`` (the k-th draw for epoch k) over
    the N rows of all chunks, in batches of ``batch_size`` (the last one may be smaller), as
    ``symnet.train.loop.train`` takes them. ``params`` defaults to ``kernel.init_params(seed)``; ``params``
    and ``velocity`` are updated in place. ``max_steps`` stops after that many updates (for tests)."""
    if epochs < 1 or batch_size < 1 or not (np.isfinite(lr) and lr > 0):
        raise InputError(f"need epochs >= 1, batch_size >= 1 and lr > 0; got {epochs}, {batch_size}, {lr}")
    rule, hyper = update.resolve(optimizer, momentum=momentum, **hyperparameters)
    if counts is not None:
        futures, counts = list(data), [int(n) for n in counts]
    else:
        futures, counts = chunks_on_cluster(data, client)
    N = int(sum(counts))
    if N == 0:
        raise InputError("no rows to train on")
    if params is None:
        params = _kernel(net).init_params(seed)
    state = {s.name: [np.zeros_like(p) for p in params] for s in rule.state}
    if velocity is not None and "v" in state:
        state["v"] = velocity
    starts = np.concatenate([[0], np.cumsum(counts)])
    chunk_of = np.repeat(np.arange(len(counts)), counts)
    local = np.arange(N) - starts[chunk_of]
    owner = _owners(client, futures)
    rng = np.random.default_rng(seed)
    run = DistributedRun(params, state.get("v"), rows=N, state=state)
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(N) if shuffle else np.arange(N)
        batch_losses = []
        for start in range(0, N, batch_size):
            batch = order[start:start + batch_size]
            g, loss = _global_gradient(client, net, params, futures, owner, chunk_of[batch], local[batch])
            _update(params, g, lr, rule, hyper, state, run.steps + 1)
            batch_losses.append(loss)
            run.steps += 1
            if max_steps is not None and run.steps >= max_steps:
                break
        run.losses.append(float(np.mean(batch_losses)))
        if on_epoch:
            on_epoch(epoch, run.losses[-1], params)
        if max_steps is not None and run.steps >= max_steps:
            break
    run.seconds = time.perf_counter() - t0
    return run


def _owners(client, futures) -> list:
    """The worker holding each chunk (tasks go there; the chunk never moves)."""
    where = client.who_has(futures)
    return [sorted(where.get(f.key, ()))[:1] or None for f in futures]


def _global_gradient(client, net, params, futures, owner, chunks, rows):
    """∂E/∂θ of the batch's mean loss and that loss: one task per worker, weighted by row counts."""
    by_worker: dict = {}
    for c in np.unique(chunks):
        key = tuple(owner[c]) if owner[c] else ("any", int(c))
        by_worker.setdefault(key, []).append((futures[c], rows[chunks == c]))
    sent = params
    if sum(p.nbytes for p in params) > BROADCAST_BYTES:
        sent = client.scatter(list(params), broadcast=True, hash=False)  # one copy per worker, per step
    tasks = [client.submit(_batch_gradients, net, [np.array(p) for p in params] if sent is params else sent,
                           [(f, r) for f, r in parts], workers=list(key) if key[0] != "any" else None,
                           pure=False)
             for key, parts in by_worker.items()]
    results = client.gather(tasks)
    n = sum(r[2] for r in results)
    total = [np.zeros_like(p) for p in params]
    for g, _, _ in results:
        for t, gi in zip(total, g):
            t += gi
    return [t / n for t in total], sum(r[1] for r in results) / n


def _update(params, g, lr, rule: update.Optimizer, hyper: dict[str, float], state: dict, step: int) -> None:
    """symnet.derivation.update's rule on every array, in place (``step``: t, 1 for the first)."""
    for k, (p, gk) in enumerate(zip(params, g)):
        rule.apply(p, gk, lr, {name: arrays[k] for name, arrays in state.items()}, hyper, step)


def evaluate(client, net: Network, params, futures, classify: bool = True) -> tuple[float | None, float | None]:
    """The mean loss and accuracy (None for regression) over the rows of chunk ``futures``."""
    if not futures:
        return None, None
    results = client.gather([client.submit(_evaluate, net, params, f, classify, pure=False) for f in futures])
    n = sum(r[2] for r in results)
    if n == 0:
        return None, None
    loss = sum(r[0] for r in results) / n
    acc = None if any(r[1] is None for r in results) else sum(r[1] for r in results) / n
    return loss, acc


# ---- clusters and shard files (symnet train --dask) ----------------------------------------------------

def connect(address: str):
    """A ``distributed.Client`` of ``tcp://host:port`` (a running scheduler), or of a new LocalCluster for
    ``local:N`` (N worker processes, one thread each)."""
    distributed = require_dask()
    if address.startswith("local:"):
        try:
            n = int(address[len("local:"):])
        except ValueError:
            n = 0
        if n < 1:
            raise InputError(f"--dask local:N needs a number of workers N >= 1, got {address!r}")
        import logging

        # the workers' own logs would repeat a failing task's error (e.g. a missing shard) on stderr, where
        # the one line symnet prints is the message
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.CRITICAL)
        return distributed.Client(cluster)
    try:
        return distributed.Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as e:
        raise InputError(f"--dask: cannot reach the scheduler at {address}: {e}") from None


def shard_paths(source: str) -> list[str] | None:
    """The shard files of ``--data`` when it names several (a glob or a comma list), else None."""
    if "," in source:
        parts = [p.strip() for p in source.split(",") if p.strip()]
    elif any(ch in source for ch in "*?["):
        parts = sorted(glob.glob(source))
        if not parts:
            raise InputError(f"--data {source!r} matches no file")
    else:
        return None
    for p in parts:
        if not p.lower().endswith((".csv", ".npz", ".parquet")):
            raise InputError(f"--data shard {p!r} is not a .csv, .npz or .parquet file")
    return parts


def _load_shard(path: str, label: str | None):
    from symnet.train import data as datasets

    d = datasets.load(path, label=label)
    return d


def _shard_summary(d):
    X = d.X
    return (len(X), X.shape[1], list(d.classes) if d.is_classification else None,
            X.sum(axis=0), (X * X).sum(axis=0))


def _shard_parts(d, net: Network, classes: list[str] | None, mean, std, test_fraction: float, seed: int):
    """(train chunk, test chunk) of one shard: labels remapped to the global classes, standardised."""
    from symnet.train import data as datasets

    if classes is not None and d.is_classification:  # a copy: the loaded shard is a task's result
        index = {c: k for k, c in enumerate(classes)}
        d = replace(d, labels=np.array([index[d.classes[i]] for i in d.labels], dtype=int), classes=list(classes))
    Y = datasets.encode_targets(d, net)
    X = d.X if mean is None else (d.X - mean) / std
    train_rows, test_rows = datasets.split(len(X), test_fraction, seed)
    return _pair(X[train_rows], Y[train_rows]), _pair(X[test_rows], Y[test_rows])


def _class_order(names: set[str]) -> list[str]:
    try:
        return [str(v) for v in sorted(int(n) for n in names)]
    except ValueError:
        return sorted(names)


def load_shards(client, net: Network, paths: Sequence[str], *, label: str | None, test_fraction: float,
                seed: int, standardize: bool):
    """Each shard file read by a worker (spread round-robin); returns train and test chunk futures, the
    class names and the standardisation (mean, std) or None, and a name for the data."""
    from symnet.train.data import Standardizer

    workers = sorted(client.scheduler_info()["workers"])
    loaded = [client.submit(_load_shard, p, label, workers=[workers[k % len(workers)]], pure=False)
              for k, p in enumerate(paths)]
    summaries = client.gather(client.map(_shard_summary, loaded))
    widths = {s[1] for s in summaries}
    if widths != {net.layers[0]}:
        raise InputError(f"--data shards have {sorted(widths)} feature columns; the network has "
                         f"{net.layers[0]} inputs")
    kinds = {s[2] is None for s in summaries}
    if len(kinds) > 1:
        raise InputError("--data shards mix class labels and numeric targets")
    classes = None if summaries[0][2] is None else _class_order({c for s in summaries for c in s[2]})
    scaler = None
    if standardize:
        n = sum(s[0] for s in summaries)
        mean = sum(s[3] for s in summaries) / n
        var = np.maximum(sum(s[4] for s in summaries) / n - mean * mean, 0.0)
        std = np.sqrt(var)
        scaler = Standardizer(mean, np.where(std > 0, std, 1.0))
    parts = [client.submit(_shard_parts, d, net, classes, None if scaler is None else scaler.mean,
                           None if scaler is None else scaler.std, test_fraction, seed + k, pure=False)
             for k, d in enumerate(loaded)]
    train = [client.submit(lambda p: p[0], p, pure=False) for p in parts]
    test = [client.submit(lambda p: p[1], p, pure=False) for p in parts]
    client.gather(parts)  # errors (bad labels, shapes) surface here, before training
    return train, test, classes or [], scaler, f"{len(paths)} shards"


def split_for_workers(client, X: np.ndarray, Y: np.ndarray) -> list:
    """``X``, ``Y`` cut into one contiguous chunk per worker and scattered there."""
    workers = sorted(client.scheduler_info()["workers"])
    bounds = np.linspace(0, len(X), len(workers) + 1).astype(int)
    return [client.scatter([_pair(X[a:b], Y[a:b])], workers=[w], hash=False)[0]
            for w, a, b in zip(workers, bounds, bounds[1:])]


def train_on_cluster(net: Network, address: str, data_source: str, dataset, *, label: str | None, epochs: int,
                     lr: float, batch_size: int, seed: int, test_fraction: float, standardize: bool,
                     shuffle: bool, on_epoch=None, momentum: float | None = None, optimizer: str | None = None,
                     **hyperparameters: float | None):
    """``symnet train --dask ADDRESS``: the run of ``symnet.train.loop.train`` on a cluster. ``dataset`` is
    the data loaded here (its training rows are cut into one chunk per worker and scattered), or None when
    ``data_source`` names shard files (each read by a worker). Returns the ``Trained`` run and the data set
    (for shards, one without rows: its name and classes)."""
    from symnet.train import data as datasets
    from symnet.train.loop import Diverged, Epoch, Trained, check_inputs, non_finite

    t0 = time.perf_counter()
    client = connect(address)
    try:
        kernel = _kernel(net)
        if dataset is None:
            from symnet.functions.losses import LOSSES

            K = net.layers[-1]  # the options checked on a stand-in with no rows that fits the network
            blank = datasets.Dataset("shards", np.zeros((0, net.layers[0])), targets=np.zeros((0, K))) \
                if LOSSES[net.loss].real_targets else \
                datasets.Dataset("shards", np.zeros((0, net.layers[0])), labels=np.zeros(0, dtype=int),
                                 classes=[str(k) for k in range(max(K, 2))])
            check_inputs(net, blank, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
                         test_fraction=test_fraction, optimizer=optimizer, **hyperparameters)
            train_f, test_f, classes, scaler, name = load_shards(
                client, net, shard_paths(data_source), label=label, test_fraction=test_fraction, seed=seed,
                standardize=standardize)
            dataset = datasets.Dataset(name, np.zeros((0, net.layers[0])),
                                       labels=np.zeros(0, dtype=int) if classes else None, classes=classes)
        else:
            Y = check_inputs(net, dataset, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
                             test_fraction=test_fraction, optimizer=optimizer, **hyperparameters)
            train_rows, test_rows = datasets.split(len(dataset.X), test_fraction, seed)
            if len(train_rows) == 0:
                raise InputError(f"data set {dataset.name} has no rows left to train on")
            scaler = datasets.Standardizer.fit(dataset.X[train_rows], dataset) if standardize else None
            X = scaler.apply(dataset.X, dataset) if scaler else dataset.X
            train_f = split_for_workers(client, X[train_rows], Y[train_rows])
            test_f = split_for_workers(client, X[test_rows], Y[test_rows]) if len(test_rows) else []
            classes = list(dataset.classes) if dataset.is_classification else []
        counts = [int(n) for n in client.gather(client.map(_rows, train_f))]
        if sum(counts) == 0:
            raise InputError(f"{dataset.name} has no rows left to train on")
        params = kernel.init_params(seed)
        trained = Trained(net, params, scaler, classes, compile_seconds=time.perf_counter() - t0)
        clock = [time.perf_counter()]

        def epoch_done(epoch: int, loss: float, params) -> None:
            seconds = time.perf_counter() - clock[0]
            bad = f"loss is {loss}" if not np.isfinite(loss) else non_finite(net, params)
            if bad:
                fixes = [f"lower --lr (now {lr:g})"] + ([f"--momentum (now {momentum:g})"] if momentum else []) + \
                    ([] if standardize else ["standardise inputs (drop --no-standardize)"])
                fix = fixes[0] if len(fixes) == 1 else f"{', '.join(fixes[:-1])} or {fixes[-1]}"
                raise Diverged(f"diverged at epoch {epoch}: {bad}; {fix}", epoch, trained.history)
            _, train_acc = evaluate(client, net, params, train_f) if classes else (None, None)
            test_loss, test_acc = evaluate(client, net, params, test_f, bool(classes))
            record = Epoch(epoch, loss, train_acc, test_loss, test_acc if classes else None, seconds)
            trained.history.append(record)
            if on_epoch:
                on_epoch(record)
            clock[0] = time.perf_counter()

        train_distributed(net, train_f, client, counts=counts, epochs=epochs, lr=lr, batch_size=batch_size,
                          momentum=momentum, seed=seed, shuffle=shuffle, params=params, on_epoch=epoch_done,
                          optimizer=optimizer, **hyperparameters)
        return trained, dataset
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and address.startswith("local:"):
            cluster.close()
