"""Generated Numba kernels: they compute the derivation's gradients, train, and stay finite.

Numba compile time is this file's budget: every network is tiny, and each (network, layout, dtype)
is compiled once per session through ``symnet.compile``'s cache and shared by the tests.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symnet
from symnet import Network, derive
from symnet.emit.numba.builder import choose_layout, generate
from symnet.errors import InputError
from symnet.functions.losses import LOSSES
from symnet.numeric.evaluate import Evaluator
from symnet.numeric.finite_differences import Comparison, finite_differences, gradcheck

from tests.conftest import HIDDEN, OUTPUT_LOSSES, point_away_from_kinks

ROOT = Path(__file__).resolve().parents[3]
LAYOUTS = ["unrolled", "loops", "gemm"]


@pytest.fixture(scope="session", autouse=True)
def kernel_cache(tmp_path_factory):
    """One kernel cache for the session: each module is generated and compiled once."""
    path = tmp_path_factory.mktemp("symnet-cache")
    old = os.environ.get("SYMNET_CACHE")
    os.environ["SYMNET_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SYMNET_CACHE", None)
    else:
        os.environ["SYMNET_CACHE"] = old


def pair(output: str, loss: str) -> int:
    """The index of an (output, loss) pair, for net_for."""
    return OUTPUT_LOSSES.index((output, loss))


def net_for(n: int) -> Network:
    """The n-th (output, loss) pair behind two hidden layers; the hidden activations rotate, so
    the nets use every hidden activation in both positions."""
    out, loss = OUTPUT_LOSSES[n]
    return Network.build([2, 3, 2, 2], [HIDDEN[(2 * n) % len(HIDDEN)], HIDDEN[(2 * n + 1) % len(HIDDEN)]], out, loss)


def normwise(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """max |a − b| over every entry, relative to the largest |b|."""
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b)) / max(float(np.max(np.abs(y))) for y in b)


def lively_point(d, seed: int):
    """A point away from the kinks where every parameter array has a nonzero gradient (a ReLU
    output can be dead at every sample, and a check of zeros against zeros checks nothing)."""
    for s in range(seed, seed + 1000, 7):
        params, X, Y = point_away_from_kinks(d, m=4, seed=s)
        symbolic = Evaluator(d).gradients(params, X, Y)
        if all(np.abs(g).max() > 1e-3 for g in symbolic):
            return params, X, Y, symbolic
    raise AssertionError("no point with live gradients")


def check_against_derivation(net: Network, layout: str, seed: int = 0) -> None:
    d = derive(net)
    params, X, Y, symbolic = lively_point(d, seed)
    kernel = symnet.compile(net, layout)
    grads = kernel.gradients(params, X, Y)
    assert normwise(grads, symbolic) < 1e-12
    assert kernel.loss(params, X, Y) == pytest.approx(Evaluator(d).loss(params, X, Y), rel=1e-13)
    numeric = finite_differences(lambda p: kernel.loss(p, X, Y), params)
    assert Comparison(grads, numeric).max_relative_error < 1e-7


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n", range(len(OUTPUT_LOSSES)), ids=[f"{o}-{l}" for o, l in OUTPUT_LOSSES])
def test_gradients_equal_the_derivation_and_finite_differences(n, layout):
    check_against_derivation(net_for(n), layout)


@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    widths=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    hidden=st.lists(st.sampled_from(HIDDEN), min_size=3, max_size=3),
    pair=st.sampled_from(OUTPUT_LOSSES),
    layout=st.sampled_from(["loops", "gemm"]),
)
@pytest.mark.slow
def test_random_architectures_up_to_three_hidden_layers(widths, hidden, pair, layout):
    out, loss = pair
    outputs = 2 if out == "softmax" or LOSSES[loss].one_hot else 1
    net = Network.build([2, *widths, outputs], hidden[: len(widths)], out, loss)
    check_against_derivation(net, layout, seed=3)


# -- training --------------------------------------------------------------------------------
def step_by_step(kernel, params, X, Y, lr, batch_size, momentum):
    """DESIGN.md's update, one batch at a time from the module's own gradients and loss."""
    params = [p.copy() for p in params]
    velocity = [np.zeros_like(p) for p in params]
    losses = []
    for start in range(0, len(X), batch_size):
        Xb, Yb = X[start:start + batch_size], Y[start:start + batch_size]
        losses.append(kernel.loss(params, Xb, Yb))
        for p, v, g in zip(params, velocity, kernel.gradients(params, Xb, Yb)):
            v[...] = momentum * v - lr * g
            p += v
    return params, velocity, float(np.mean(losses))


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_train_epoch_equals_the_update_step_by_step(layout, momentum):
    net = net_for(pair("softmax", "cce"))  # softmax + cross-entropy
    kernel = symnet.compile(net, layout)
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(11, 2)), np.eye(2)[rng.integers(0, 2, 11)]
    params = kernel.init_params(1)
    expected, expected_velocity, expected_loss = step_by_step(kernel, params, X, Y, 0.3, 4, momentum)
    velocity = [np.zeros_like(p) for p in params] if momentum else None
    loss = kernel.train_epoch(params, X, Y, 0.3, 4, momentum=momentum, velocity=velocity)
    assert loss == pytest.approx(expected_loss, rel=1e-13)  # batches of 4, 4 and the partial 3
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p, e, rtol=1e-12, atol=1e-14)
    if momentum:
        for v, e in zip(velocity, expected_velocity):
            np.testing.assert_allclose(v, e, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_train_epoch_is_fused_and_does_not_allocate_per_sample():
    from numba.core.runtime import _nrt_python, rtsys

    kernel = symnet.compile(net_for(pair("softmax", "cce")), "loops")
    rng = np.random.default_rng(0)
    params = kernel.init_params(0)

    def allocations(m: int) -> int:
        X, Y = rng.normal(size=(m, 2)), np.eye(2)[rng.integers(0, 2, m)]
        kernel.train_epoch(params, X, Y, 0.1, 1)  # compiled before counting
        _nrt_python.memsys_enable_stats()
        before = rtsys.get_allocation_stats().alloc
        kernel.train_epoch(params, X, Y, 0.1, 1, momentum=0.5)
        return rtsys.get_allocation_stats().alloc - before

    assert allocations(10) == allocations(1000)  # the same fixed number, none per sample


@pytest.mark.slow
def test_float32_kernels_agree_with_float64_to_float32_precision():
    net = net_for(pair("softmax", "cce"))
    d = derive(net)
    params, X, Y = point_away_from_kinks(d, m=6, seed=2)
    for layout in ("unrolled", "gemm"):
        k64, k32 = symnet.compile(net, layout, "float64"), symnet.compile(net, layout, "float32")
        g64, g32 = k64.gradients(params, X, Y), k32.gradients(params, X, Y)
        assert all(g.dtype == np.float32 for g in g32)
        assert normwise(g32, g64) < 1e-5
        assert k32.loss(params, X, Y) == pytest.approx(k64.loss(params, X, Y), rel=1e-6)
        for momentum in (0.0, 0.9):  # gemm: BLAS writes ∂C/∂W into W (β = 1) or into the velocity (β = μ)
            p32 = [p.astype(np.float32) for p in params]
            p64 = [p.copy() for p in params]
            v32, v64 = [np.zeros_like(p) for p in p32], [np.zeros_like(p) for p in p64]
            k32.train_epoch(p32, X, Y, 0.1, 2, momentum, v32 if momentum else None)
            k64.train_epoch(p64, X, Y, 0.1, 2, momentum, v64 if momentum else None)
            assert normwise(p32, p64) < 1e-5
            assert momentum == 0.0 or normwise(v32, v64) < 1e-5


def test_float32_kernels_write_every_number_as_a_float32_and_keep_integer_powers():
    from symnet.emit.numba.printer import KernelPrinter

    x = sp.Symbol("x", real=True)
    exprs = [1 - x / 2, x**2, 3 / x**2, sp.Piecewise((x, x > 0), (0, True))]
    single, double = (KernelPrinter(names={x: "x"}, dtype=dt) for dt in ("float32", "float64"))
    assert [single.doprint(e) for e in exprs] == [
        "F(1) - F(0.5)*x", "x**2", "F(3)/x**2", "((x) if (x > F(0)) else (F(0)))"]
    assert [double.doprint(e) for e in exprs] == ["1 - 0.5*x", "x**2", "3/x**2", "((x) if (x > 0) else (0))"]


@pytest.mark.slow
@pytest.mark.parametrize("layout,optimizer,loss,l2", [("unrolled", "sgd", "cce", 0.01), ("loops", "sgd", "bce", 0.01),
                                                     ("gemm", "sgd", "bce", 0.0), ("loops", "adam", "cce", 0.01)])
def test_a_float32_kernel_computes_in_float32(layout, optimizer, loss, l2, tmp_path, monkeypatch):
    """No number of the kernel promotes its float32 sums to float64: only the loss accumulators are doubles."""
    monkeypatch.setenv("SYMNET_CACHE", str(tmp_path))  # compiled here, so Numba keeps the types it inferred
    net = Network.parse("2-3-2", hidden="tanh", output="softmax", loss=loss, l2=l2)
    k = symnet.compile(net, layout, "float32", optimizer=optimizer)
    rng = np.random.default_rng(0)
    X, Y = rng.random((8, 2)), np.eye(2)[np.arange(8) % 2]
    k.train_epoch(k.init_params(0), X, Y, 0.1, 4)
    (overload,) = k._train_epoch.overloads.values()
    doubles = {name.split(".")[0] for name, t in overload.type_annotation.typemap.items()
               if str(t) == "float64" and not name.startswith("$")}
    assert doubles == ({"E", "total", "penalty"} if l2 else {"E", "total"})


# -- numerical stability ------------------------------------------------------------------------
_EXACT = {}


def largest_logit(net, params, X) -> float:
    from symnet.functions.activations import ACTIVATION_CLASSES

    a, largest = X, 0.0
    for k, act in enumerate(net.activations):
        h = a @ params[2 * k] + params[2 * k + 1]
        largest = max(largest, float(np.abs(h).max()))
        a = ACTIVATION_CLASSES[act].numpy_function()(h) if act in ACTIVATION_CLASSES else h
    return largest


def exact(d, params, X, Y):
    """Loss and gradients from the derivation's expressions in arbitrary precision: enough digits
    that 1 − σ(h) and e^{h}/Σ e^{h} keep 50 significant digits at the largest logit."""
    digits = 50 + int(largest_logit(d.net, params, X) / 2.3)
    m = d.model
    grads = [np.zeros(np.shape(p)) for p in params]
    total = 0
    for x, y in zip(X, Y):
        env = {s: sp.Float(float(v), digits) for arr, p in zip(m.param_arrays(), params)
               for s, v in zip(_flat(arr), np.ravel(p))}
        env.update({s: sp.Float(float(v), digits) for s, v in zip(m.x, x)})
        env.update({s: sp.Float(float(v), digits) for s, v in zip(m.y, y)})
        for sym, definition in m.definitions.items():
            env[sym] = definition.xreplace(env).evalf(digits)
        total += m.loss.xreplace(env).evalf(digits)
        for delta in d.all_deltas():
            env[delta.symbol] = delta.expr.xreplace(env).evalf(digits)
        for g, arr in zip(grads, m.param_arrays()):
            flat = g.reshape(-1)
            for n, s in enumerate(_flat(arr)):
                flat[n] += float(d.chain(s).via_delta.xreplace(env).evalf(digits)) / len(X)
    return float(total) / len(X), grads


def _flat(arr):
    return [s for row in arr for s in row] if isinstance(arr[0], list) else list(arr)


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n", [pair("softmax", "cce"), pair("sigmoid", "bce"), pair("tanh", "mse")],
                         ids=["softmax-cce", "sigmoid-bce", "tanh-mse"])
def test_inputs_of_size_1e3_give_finite_exact_losses_and_gradients(n, layout):
    # sigmoid and tanh hidden layers saturate to values float64 still holds exactly (SiLU's would underflow)
    out, loss_name = OUTPUT_LOSSES[n]
    net = Network.build([2, 3, 2, 2], ["sigmoid", "tanh"], out, loss_name)
    d = derive(net)
    params, X, Y = point_away_from_kinks(d, m=3, seed=4)
    X = X * 1e3  # saturates every sigmoid and tanh, and the output logits reach ~1e3
    kernel = symnet.compile(net, layout)
    loss, grads = kernel.loss(params, X, Y), kernel.gradients(params, X, Y)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads)
    if n not in _EXACT:  # the same point for every layout
        _EXACT[n] = exact(d, params, X, Y)
    exact_loss, exact_grads = _EXACT[n]
    assert loss == pytest.approx(exact_loss, rel=1e-12)
    # relative to the largest exact gradient; where every gradient is far below the loss (a saturated
    # tanh output: 1 − tanh² is 1e-53 exactly and 0 in float64), to the loss's scale instead
    scale = max(max(float(np.abs(g).max()) for g in exact_grads), 1e-6 * abs(exact_loss))
    assert max(float(np.abs(g - e).max()) for g, e in zip(grads, exact_grads)) < 1e-12 * scale


@pytest.mark.slow
def test_saturated_logits_give_the_cross_entropy_of_the_logits():
    net = Network.parse("1-3", output="softmax", loss="cce")
    kernel = symnet.compile(net, "loops")
    params = [np.array([[1.0, -1.0, 0.0]]), np.zeros(3)]
    X, Y = np.array([[800.0]]), np.array([[0.0, 1.0, 0.0]])
    # logits (800, -800, 0): E = lse − h₂ = 800 + log(1 + e⁻⁸⁰⁰ + e⁻¹⁶⁰⁰) + 800 = 1600 exactly in float64
    assert kernel.loss(params, X, Y) == 1600.0
    gW, gb = kernel.gradients(params, X, Y)
    np.testing.assert_array_equal(gb, [1.0, -1.0, 0.0])  # ŷ − y with ŷ = (1, 0, 0)
    np.testing.assert_array_equal(gW, [[800.0, -800.0, 0.0]])


@pytest.mark.slow
def test_digits_train_to_over_90_percent_test_accuracy():
    from sklearn.datasets import load_digits

    digits = load_digits()
    X, Y = digits.data / 16.0, np.eye(10)[digits.target]
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:1400], order[1400:]
    net = Network.parse("64-32-10", hidden="sigmoid", output="softmax", loss="cce")
    kernel = symnet.compile(net)
    assert choose_layout(net) == "gemm"
    params = kernel.init_params(0)
    first = kernel.loss(params, X[train], Y[train])
    for _ in range(30):
        kernel.train_epoch(params, X[train], Y[train], 0.5, 32, momentum=0.5)
    assert kernel.loss(params, X[train], Y[train]) < first / 5
    accuracy = np.mean(kernel.forward(params, X[test]).argmax(axis=1) == digits.target[test])
    assert accuracy > 0.9


# -- the module -------------------------------------------------------------------------------
CONTRACT = {"LAYERS", "ACTIVATIONS", "LOSS", "init_params", "forward", "loss", "gradients", "train_epoch"}


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
def test_module_has_the_contract_imports_numpy_numba_and_blas_only_and_names_its_origin(layout):
    net = net_for(pair("softmax", "cce"))
    source = generate(net, layout)
    tree = ast.parse(source)
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    imported_from = {(node.module, a.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                     for a in node.names}
    if layout == "gemm":  # SciPy's BLAS, found in its Cython module, registered with LLVM, its arguments passed
        # by reference from the stack; a pool of threads for train_epoch's threads (threadpoolctl, imported
        # on first use, holds BLAS to one thread each)
        assert imported == {"numpy", "numba", "llvmlite.binding", "llvmlite.ir", "ctypes", "importlib.machinery",
                            "importlib.util", "os", "sys", "concurrent.futures", "threading"}
        assert imported_from == {("numba.extending", "intrinsic"), ("numba.core", "cgutils"),
                                 ("threadpoolctl", "ThreadpoolController")}
    else:
        assert imported == {"numpy", "numba"} and not imported_from
    assert f"symnet {symnet.__version__}" in source.splitlines()[0]
    assert f"symnet codegen {net.describe()} -o OUT.py --mode {layout} --dtype float64" in source
    kernel = symnet.compile(net, layout)
    functions = {name for name, value in vars(kernel).items() if not name.startswith("_")
                 and callable(value) and getattr(value, "__module__", None) == kernel.__name__}
    assert functions == {"init_params", "forward", "loss", "gradients", "train_epoch"}
    assert CONTRACT <= set(vars(kernel))
    assert (kernel.LAYERS, kernel.ACTIVATIONS, kernel.LOSS) == (net.layers, net.activations, net.loss)
    params = kernel.init_params(0)
    assert kernel.PARAMS == ("W1", "b1", "W2", "b2", "W3", "b3")
    assert [p.shape for p in params] == list(kernel.SHAPES) == [(2, 3), (3,), (3, 2), (2,), (2, 2), (2,)]
    assert kernel.forward(params, np.zeros((5, 2))).shape == (5, 2)


def test_every_block_says_which_derivative_it_computes():
    source = generate(Network.parse("2-3-2", hidden="tanh", output="softmax", loss="cce"), "loops")
    assert "# δ⁽²⁾ⱼ = ∂E/∂h⁽²⁾ⱼ, the output layer (softmax + cce): delta2[j] = -y[j] + yhat[j]" in source
    assert "# δ⁽¹⁾ⱼ = ∂E/∂h⁽¹⁾ⱼ, back through W⁽²⁾: delta1[j] = (1 - a1[j]**2)*Sum(W2[j, l]*delta2[l], (l, 1, n2))" in source
    assert "# ∂E/∂W⁽¹⁾ᵢⱼ: dE/dW1[i, j] = delta1[j]*x[i]" in source
    # and the statement under it is that rule, printed: 1 − a² from the derivation, not typed
    assert "delta1[j] = acc" in source and "(1 - a1[j]**2)" in source


@pytest.mark.slow
def test_init_params_scale_to_the_activation_and_are_deterministic():
    net = Network.parse("400-300-300-10", hidden="relu,tanh", output="softmax", loss="cce")
    kernel = symnet.compile(net, "gemm")  # init_params is plain NumPy: nothing is compiled here
    W1, b1, W2, b2, W3, b3 = kernel.init_params(7)
    assert np.std(W1) == pytest.approx(np.sqrt(2 / 400), rel=0.02)  # He for relu
    limit = np.sqrt(6 / 600)
    assert np.abs(W2).max() <= limit and np.std(W2) == pytest.approx(limit / np.sqrt(3), rel=0.02)  # Glorot
    assert not b1.any() and not b2.any() and not b3.any()
    assert all(np.array_equal(a, b) for a, b in zip(kernel.init_params(7), kernel.init_params(7)))
    assert not np.array_equal(kernel.init_params(8)[0], W1)


@pytest.mark.slow
def test_generating_twice_gives_the_same_bytes_in_any_process():
    net = Network.build([2, 3, 2, 2], ["leaky_relu", "softplus"], "softmax", "cce")
    code = ("import sys, symnet; net = symnet.Network.build([2, 3, 2, 2], ['leaky_relu', 'softplus'],"
            " 'softmax', 'cce'); sys.stdout.write(symnet.generate(net, sys.argv[1]))")
    for layout in ("unrolled", "gemm"):
        ours = generate(net, layout)
        assert ours == generate(net, layout)
        env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(ROOT))
        theirs = subprocess.run([sys.executable, "-c", code, layout], capture_output=True, text=True,
                                env=env, check=True).stdout
        assert theirs == ours


def test_a_spec_that_tries_to_inject_code_is_rejected(tmp_path):
    spec = tmp_path / "evil.toml"
    spec.write_text('layers = [2, 2, 1]\noutput = "sigmoid\\nimport os; os.system(\'touch pwned\')"\n')
    with pytest.raises(InputError, match="unknown activation"):
        generate(Network.load(str(spec)))
    net = Network.parse("2-2-1")
    object.__setattr__(net, "loss", "mse'\nimport os\n#")  # past the validator
    with pytest.raises(InputError, match="invalid network"):
        generate(net)
    object.__setattr__(net, "loss", "mse")
    object.__setattr__(net, "layers", (2, "2); import os; (", 1))
    with pytest.raises(InputError, match="invalid network"):
        generate(net)


def test_unknown_mode_and_dtype_are_input_errors():
    with pytest.raises(InputError, match="unknown mode 'fast'"):
        generate(Network.parse("2-2-1"), "fast")
    with pytest.raises(InputError, match="unknown dtype 'float16'"):
        generate(Network.parse("2-2-1"), dtype="float16")


def test_auto_picks_unrolled_only_for_small_nets():
    assert choose_layout(Network.parse("2-2-1")) == "unrolled"
    assert choose_layout(Network.parse("2-16-3", hidden="relu", output="softmax", loss="cce")) == "loops"
    assert choose_layout(Network.parse("784-256-10", hidden="relu", output="softmax", loss="cce")) == "gemm"
    assert choose_layout(Network.parse("2-2-1"), "indexed") == "loops"
    assert choose_layout(Network.parse("64-32-10"), "indexed") == "gemm"


@pytest.mark.slow
def test_a_second_process_imports_the_cached_kernel_without_writing_it_again(kernel_cache):
    net = net_for(0)
    first = symnet.compile(net, "loops")
    path = Path(first.__file__)
    assert path.parent == kernel_cache
    assert symnet.compile(net, "loops") is first
    before = path.stat()
    code = ("import symnet, symnet.emit.numba.cache as c; c.write_atomic = None; "
            f"net = symnet.Network.build({list(net.layers)}, {list(net.hidden)}, {net.output!r}, {net.loss!r}); "
            "print(symnet.compile(net, 'loops').__file__)")
    env = dict(os.environ, SYMNET_CACHE=str(kernel_cache), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == first.__file__
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.slow
def test_verify_gradcheck_reports_the_kernels_error():
    kernel = symnet.compile(net_for(pair("softmax", "cce")), "loops")
    result = gradcheck(kernel)
    assert result.max_relative_error < 1e-8
    assert sum(a.size for a in result.analytic) == net_for(pair("softmax", "cce")).n_params


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["unrolled", "loops", "gemm"])
def test_softmax_with_binary_cross_entropy_stays_finite_when_a_logit_saturates(mode):
    from scipy.special import logsumexp

    kernel = symnet.compile(Network.parse("2-3-3", hidden="tanh", output="softmax", loss="bce"), mode)
    params = kernel.init_params(0)
    params[2][:] = 0.0
    params[3][:] = [300.0, 0.0, 0.0]  # ŷ₁ rounds to 1 and 1 − ŷ₁ to 0 in floating point
    X = np.array([[1.0, 2.0], [0.3, -1.0]])
    Y = np.array([[0.2, 0.5, 0.9], [0.0, 1.0, 0.3]])
    H = np.tanh(X @ params[0] + params[1]) @ params[2] + params[3]
    lse = logsumexp(H, axis=1, keepdims=True)
    log_rest = np.stack([logsumexp(np.delete(H, j, axis=1), axis=1) for j in range(3)], axis=1) - lse
    expected = np.mean(np.sum(-(Y * (H - lse) + (1 - Y) * log_rest), axis=1))
    assert kernel.loss(params, X, Y) == pytest.approx(expected, rel=1e-12)
    # at this gap δⱼ = ŷⱼ − yⱼ + Σ_{q≠j} (y_q − ŷ_q) ŷⱼ/(1 − ŷ_q) is, to e^-300, (2.2, -0.9, -1.3) and (2.3, -1.5, -0.8)
    assert np.allclose(kernel.gradients(params, X, Y)[3], [2.25, -1.2, -1.05], rtol=1e-12, atol=0)
