"""Data-parallel training on a Dask cluster equals the single-process loop over the same global batches."""
import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

import symnet
from symnet.train.distributed import _kernel, chunks_on_cluster, train_distributed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    # processes=True: two real worker processes, as on a cluster (they start in a few seconds)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _reference(kernel, params, X, Y, *, epochs, lr, batch_size, momentum, seed, steps):
    """The single-process loop: the same global batches, kernel.gradients on the whole batch, the same update."""
    params = [p.copy() for p in params]
    velocity = [np.zeros_like(p) for p in params]
    rng = np.random.default_rng(seed)
    done = 0
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            b = order[start:start + batch_size]
            g = kernel.gradients(params, np.ascontiguousarray(X[b]), np.ascontiguousarray(Y[b]))
            for k, (p, gk) in enumerate(zip(params, g)):
                if momentum:
                    velocity[k][...] = momentum * velocity[k] - lr * gk
                    p += velocity[k]
                else:
                    p[...] = p - lr * gk
            done += 1
            if done == steps:
                return params
    return params


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_two_workers_equal_the_single_process_loop(client, momentum):
    net = symnet.Network.parse("6-5-3", hidden="tanh", output="softmax", loss="cce")
    kernel = _kernel(net)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(203, 6))
    Y = np.eye(3)[rng.integers(0, 3, 203)]
    # uneven chunks over the two workers: a batch's rows fall in one, two or three chunks
    bounds = [0, 37, 120, 203]
    chunks = [(X[a:b], Y[a:b]) for a, b in zip(bounds, bounds[1:])]
    start = kernel.init_params(3)
    steps = 20  # over two epochs of 13 batches (the last one 203 - 12*16 = 11 rows)
    futures, counts = chunks_on_cluster(chunks, client)
    assert counts == [37, 83, 83]
    holders = {w for ws in client.who_has(futures).values() for w in ws}
    assert len(holders) == 2  # the chunks lie on both workers
    run = train_distributed(net, futures, client, counts=counts, epochs=2, lr=0.3, batch_size=16,
                            momentum=momentum, seed=7, params=[p.copy() for p in start], max_steps=steps)
    assert run.steps == steps
    want = _reference(kernel, start, X, Y, epochs=2, lr=0.3, batch_size=16, momentum=momentum, seed=7,
                      steps=steps)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(run.params, want))
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(run.params, start))
    print(f"momentum {momentum}: max abs difference {diff:.3g} after {steps} steps (parameters moved {moved:.3g})")
    assert moved > 1e-2
    assert diff <= 1e-12


def test_dask_arrays_stay_chunked(client, monkeypatch):
    da = pytest.importorskip("dask.array")
    monkeypatch.setattr("symnet.train.distributed.BROADCAST_BYTES", 0)  # θ scattered to the workers every step
    net = symnet.Network.parse("4-3-1", hidden="sigmoid", output="sigmoid", loss="bce")
    kernel = _kernel(net)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 4))
    y = (X[:, 0] > 0).astype(float)
    dX, dy = da.from_array(X, chunks=(30, 4)), da.from_array(y, chunks=25)  # y is rechunked to X's rows
    start = kernel.init_params(0)
    run = train_distributed(net, (dX, dy), client, epochs=1, lr=0.5, batch_size=10, seed=4,
                            params=[p.copy() for p in start])
    want = _reference(kernel, start, X, y.reshape(-1, 1), epochs=1, lr=0.5, batch_size=10, momentum=0.0, seed=4,
                      steps=None)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(run.params, want)) <= 1e-12


@pytest.mark.parametrize("optimizer", ["adam"])  # the rules are one table: one with a state and a step count
def test_an_optimiser_with_a_state_equals_its_kernel_over_the_same_batches(client, optimizer):
    net = symnet.Network.parse("6-5-3", hidden="tanh", output="softmax", loss="cce", l2=0.001)
    kernel = symnet.compile(net, optimizer=optimizer)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 6))
    Y = np.eye(3)[rng.integers(0, 3, 90)]
    start = kernel.init_params(5)
    want, state, order_rng = [p.copy() for p in start], kernel.init_state(), np.random.default_rng(7)
    for _ in range(2):  # the distributed loop's global order: the k-th permutation drawn from the seed
        order = order_rng.permutation(len(X))
        kernel.train_epoch(want, X[order], Y[order], 0.01, 16, state=state)
    futures, counts = chunks_on_cluster([(X[:40], Y[:40]), (X[40:], Y[40:])], client)
    run = train_distributed(net, futures, client, counts=counts, epochs=2, lr=0.01, batch_size=16, seed=7,
                            params=[p.copy() for p in start], optimizer=optimizer)
    assert run.steps == state["t"] == 12
    assert sorted(run.state) == sorted(kernel.STATE)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(run.params, want))
    assert diff <= 1e-12
