"""train_epoch(..., threads=T): the gemm layout's epoch split among T threads (a batch's rows, then every
layer's neurons) computes what the one-thread epoch computes; other layouts run on one thread."""
import ast
import os

import numpy as np
import pytest

import symnet
from symnet.emit.numba.builder import generate
from symnet.spec import Network

CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
two_cpus = pytest.mark.skipif(CPUS < 2, reason="needs two CPUs")

#: 11 rows in batches of 5: the last batch has one row, so one thread gets none; the output layer has
#: 3 neurons, so the threads' shares differ
SOFTMAX_NET = Network.parse("4-7-5-3", hidden="tanh,relu", output="softmax", loss="cce")
#: one output neuron: one of two threads has no neuron of that layer; L2 and Adam: the generic update
#: with the decay's penalty summed over the threads' shares
DECAYED_NET = Network.parse("3-6-1", hidden="sigmoid", output="sigmoid", loss="mse", l2=0.03)
RNG = np.random.default_rng(7)


def data(net: Network, m: int = 11) -> tuple[np.ndarray, np.ndarray]:
    X = RNG.normal(size=(m, net.layers[0]))
    Y = np.eye(net.layers[-1])[RNG.integers(0, net.layers[-1], m)] if net.loss == "cce" else RNG.random((m, 1))
    return X, Y


def split_any_batch(kernel, monkeypatch) -> None:
    """Let these small nets' batches of a few rows be split too, as a large net's are."""
    monkeypatch.setattr(kernel, "MIN_ROWS_PER_THREAD", 1)
    monkeypatch.setattr(kernel, "MIN_PRODUCTS_PER_THREAD", 1)


@pytest.fixture
def softmax_kernel(monkeypatch):
    """SOFTMAX_NET's gemm kernel, splitting batches of any size, and 11 rows of data for it."""
    k = symnet.compile(SOFTMAX_NET, mode="gemm")
    split_any_batch(k, monkeypatch)
    return (k, *data(SOFTMAX_NET))


def functions(source: str) -> dict[str, ast.FunctionDef]:
    return {f.name: f for f in ast.parse(source).body if isinstance(f, ast.FunctionDef)}


def called(f: ast.FunctionDef) -> set[str]:
    return {n.func.id for n in ast.walk(f) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def test_the_rows_phase_runs_forward_loss_and_deltas_and_the_neurons_phase_the_rest():
    fs = functions(generate(SOFTMAX_NET, mode="gemm"))
    rows, neurons = called(fs["_rows_part"]), called(fs["_neurons_part"])
    assert rows == {"_layer1", "_layer2", "_layer3", "_softmax3", "_sample_losses", "_delta3", "_delta2", "_delta1"}
    assert neurons == {"_update_W1", "_update_W2to3", "_grad_b1to3", "_sgd_b1to3", "_momentum_W1to3", "_momentum_b1to3"}
    part = called(fs["_train_epoch_part"])
    assert {"_rows_part", "_neurons_part", "_barrier"} <= part
    # each thread hands the neurons phase its columns of every layer's W, v, g and δ, its entries of b
    source = ast.unparse(fs["_train_epoch_part"])
    for k in (1, 2, 3):
        for name in (f"W{k}", f"vW{k}", f"delta{k}"):
            assert f"{name}[:, lo{k}:hi{k}]" in source
        assert f"b{k}[lo{k}:hi{k}]" in source and f"gb{k}[lo{k}:hi{k}]" in source


def test_per_sample_layouts_have_no_threaded_epoch():
    for mode in ("unrolled", "loops"):
        fs = functions(generate(Network.parse("2-3-1"), mode=mode))
        assert "_train_epoch_part" not in fs and "_threads" in fs


@pytest.mark.parametrize("threads, message", [
    (0, "threads must be from 1 to"), (CPUS + 1, "threads must be from 1 to"),
    (1.5, "threads must be a whole number or None, got 1.5"), (True, "threads must be a whole number or None")])
def test_threads_outside_the_cpus_or_not_a_whole_number_are_refused_before_any_work(threads, message):
    k = symnet.compile(SOFTMAX_NET, mode="gemm")  # importing compiles nothing; the check runs first
    X, Y = data(SOFTMAX_NET)
    params = k.init_params(0)
    before = [p.copy() for p in params]
    with pytest.raises(ValueError, match=message):
        k.train_epoch(params, X, Y, 0.1, 5, threads=threads)
    assert all(np.array_equal(a, b) for a, b in zip(params, before))


@pytest.mark.slow
@two_cpus
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_two_threads_train_as_one_does(momentum, softmax_kernel):
    k, X, Y = softmax_kernel
    runs = {}
    for threads in (None, 1, 2):
        params = k.init_params(3)
        velocity = [np.zeros_like(p) for p in params]
        losses = [k.train_epoch(params, X, Y, 0.2, 5, momentum, velocity, threads=threads) for _ in range(3)]
        runs[threads] = params, velocity, losses
    for threads in (1, 2):
        params, velocity, losses = runs[threads]
        for mine, ref in zip(params + velocity, runs[None][0] + runs[None][1]):
            np.testing.assert_allclose(mine, ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(losses, runs[None][2], rtol=1e-12)
    assert runs[2][2][2] < runs[2][2][0]  # it trains: the loss falls epoch by epoch
    assert k._POOL and k._POOL[0]._max_workers == 1  # the caller's thread and one of the pool's


@pytest.mark.slow
@two_cpus
@pytest.mark.parametrize("limit", ["rows", "multiply-adds"])
def test_batches_too_small_to_split_run_on_the_callers_thread_alone(limit, monkeypatch):
    k = symnet.compile(Network.parse("5-9-4", hidden="tanh", output="softmax", loss="cce"), mode="gemm")
    monkeypatch.setattr(k, "_POOL", [])
    # batches of 63 rows of a net of 81 weights: two threads' shares would hold 31 rows, 31 × 81 multiply-adds
    monkeypatch.setattr(k, "MIN_ROWS_PER_THREAD", 32 if limit == "rows" else 1)
    monkeypatch.setattr(k, "MIN_PRODUCTS_PER_THREAD", 32 * 81 if limit == "multiply-adds" else 1)
    X, Y = data(Network.parse("5-9-4", output="softmax", loss="cce"), m=100)
    one, two = k.init_params(1), k.init_params(1)
    k.train_epoch(one, X, Y, 0.1, 63, threads=1)
    k.train_epoch(two, X, Y, 0.1, 63, threads=2)
    assert not k._POOL  # no second thread was started
    assert all(np.array_equal(a, b) for a, b in zip(one, two))
    monkeypatch.setattr(k, "MIN_ROWS_PER_THREAD", 31)
    monkeypatch.setattr(k, "MIN_PRODUCTS_PER_THREAD", 31 * 81)
    k.train_epoch(two, X, Y, 0.1, 63, threads=2)
    assert k._POOL  # at the bounds the batch is split


@pytest.mark.slow
@two_cpus
def test_two_threads_apply_adam_and_the_decay_as_one_does(monkeypatch):
    k = symnet.compile(DECAYED_NET, mode="gemm", optimizer="adam")
    split_any_batch(k, monkeypatch)
    X, Y = data(DECAYED_NET, m=9)
    runs = {}
    for threads in (None, 2):
        params, state = k.init_params(5), k.init_state()
        losses = [k.train_epoch(params, X, Y, 0.01, 4, state=state, threads=threads, beta1=0.8) for _ in range(2)]
        runs[threads] = params, state, losses
    params, state, losses = runs[2]
    assert state["t"] == runs[None][1]["t"] == 6  # batches of 4, 4 and 1 rows, twice
    for mine, ref in zip(params + state["m"] + state["s"], runs[None][0] + runs[None][1]["m"] + runs[None][1]["s"]):
        np.testing.assert_allclose(mine, ref, rtol=1e-12, atol=1e-15)
    # each epoch's loss includes the penalty (λ/2)·Σ W², each thread adding its neurons' share
    np.testing.assert_allclose(losses, runs[None][2], rtol=1e-12)


@pytest.mark.slow
@two_cpus
def test_a_forked_child_trains_on_threads_of_its_own(softmax_kernel):
    import multiprocessing

    k, X, Y = softmax_kernel
    start = k.init_params(4)
    k.train_epoch([p.copy() for p in start], X, Y, 0.2, 5, threads=2)  # the parent's pool exists now
    expected = [p.copy() for p in start]
    k.train_epoch(expected, X, Y, 0.2, 5, threads=1)
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def child():
        mine = [p.copy() for p in start]
        k.train_epoch(mine, X, Y, 0.2, 5, threads=2)  # the parent's pool has no threads here
        results.put(mine)

    process = context.Process(target=child)
    process.start()
    got = results.get(timeout=120)
    process.join(30)
    assert process.exitcode == 0
    for mine, ref in zip(got, expected):
        np.testing.assert_allclose(mine, ref, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
@two_cpus
def test_a_thread_that_fails_stops_the_others_instead_of_leaving_them_at_the_barrier(softmax_kernel, monkeypatch):
    import threading

    k, X, Y = softmax_kernel
    compiled = k._train_epoch_part

    def second_thread_fails(t, *args):
        if t == 1:
            raise RuntimeError("thread 1 failed")
        return compiled(t, *args)

    monkeypatch.setattr(k, "_train_epoch_part", second_thread_fails)
    raised = []

    def epoch():
        try:
            k.train_epoch(k.init_params(0), X, Y, 0.2, 5, threads=2)
        except RuntimeError as e:
            raised.append(str(e))

    caller = threading.Thread(target=epoch, daemon=True)
    caller.start()
    caller.join(120)
    assert not caller.is_alive(), "thread 0 is still waiting at the barrier for thread 1"
    assert raised == ["thread 1 failed"]
