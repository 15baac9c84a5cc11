"""--target cuda: numba.cuda kernels (an epoch in one cooperative launch; forward, loss and gradients one thread per
sample), equal to the CPU kernel in Numba's CUDA simulator, and compiled to PTX for a real GPU."""
import os
import subprocess
import sys
import textwrap

import pytest

from symnet.cli import main
from symnet.emit.numba.gpu import generate_cuda
from symnet.errors import InputError
from symnet.spec import Network

NET = Network.parse("2-3-2", hidden="tanh", output="softmax", loss="cce")


def test_each_sample_adds_its_share_of_the_gradient_atomically():
    source = generate_cuda(NET, output="k.py")
    assert "symnet codegen 2-3-2 --hidden tanh --output softmax --loss cce -o k.py --dtype float64 --target cuda" \
        in source
    assert "cuda.atomic.add(gW1, (i, j), delta1[j]*X[r, i])" in source
    assert "cuda.atomic.add(gb1, j, delta1[j])" in source  # a bare index: numba.cuda lowers no 1-tuple
    assert "h1 = cuda.local.array(N1, numba.float64)" in source
    compile(source, "k.py", "exec")


def test_an_epoch_is_one_launch_whose_threads_share_each_step_of_a_batch():
    source = generate_cuda(NET, output="k.py")
    epoch = source[source.index("def _epoch("):source.index("def init_params(")]
    # W⁽¹⁾'s update: each thread sums its weight's ∂E/∂W over the rows, then moves it by the update rule
    assert """            g = 0.0
            if w < N0 * N1:
                for r in range(n % G, B, G):
                    g += delta1[r, j]*X[start + r, i]
            shares[cuda.threadIdx.x] = g
            cuda.syncthreads()
            if w < N0 * N1 and n % G == 0:
                for lane in range(1, G):
                    g += shares[cuda.threadIdx.x + lane]
                if use_velocity:
                    vW1[i, j] = -lr*g + momentum*vW1[i, j]
                    W1[i, j] = W1[i, j] + vW1[i, j]
                else:
                    W1[i, j] = -lr*g + W1[i, j]""" in epoch
    assert "            h1[r, j] = acc0 + b1[j]\n            a1[r, j] = _tanh(h1[r, j])" in epoch
    # 2L + 1 barriers a batch: two forward steps, the rows' output layer, δ⁽¹⁾, both updates
    assert epoch.count("            grid.sync()\n") == epoch.count("        if one_block:\n") == 5
    assert "atomic" not in epoch.replace("cuda.atomic.add(E_sums, slot, E)", "")
    compile(source, "k.py", "exec")


@pytest.mark.parametrize("net, options, message", [
    (NET, {"optimizer": "adam"}, "--target cuda trains with sgd or momentum so far"),
    (Network.parse("2-3-2", l2=0.01), {}, "--target cuda does not carry --l2 yet"),
    (Network.parse("3-1025-2"), {}, "layers after the input up to 1024 units"),
])
def test_what_the_gpu_kernels_do_not_do_yet_is_refused_in_one_line(net, options, message):
    with pytest.raises(InputError, match=message):
        generate_cuda(net, **options)


def test_train_epoch_refuses_what_it_cannot_update_in_place_before_touching_anything(tmp_path):
    import importlib.util

    import numpy as np

    path = tmp_path / "gpu_kernel.py"
    path.write_text(generate_cuda(NET))
    found = importlib.util.spec_from_file_location("gpu_refusals", path)
    gpu = importlib.util.module_from_spec(found)
    found.loader.exec_module(gpu)  # numba.cuda compiles lazily: no GPU needed to get this far
    X, Y = np.zeros((4, 2)), np.eye(2)[[0, 1, 0, 1]]
    params = gpu.init_params(0)
    velocity = [np.zeros_like(p) for p in params]
    velocity[0] = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"velocity\[0\] has shape \(3, 2\), expected \(2, 3\)"):
        gpu.train_epoch(params, X, Y, 0.1, 2, 0.9, velocity)
    with pytest.raises(ValueError, match=r"velocity\[0\] must be a writeable C-contiguous float64 array"):
        gpu.train_epoch(params, X, Y, 0.1, 2, 0.9, [np.zeros_like(p, dtype=np.float32) for p in params])
    params[2].flags.writeable = False
    before = [p.copy() for p in params]
    with pytest.raises(ValueError, match=r"params\[2\] must be a writeable C-contiguous float64 array"):
        gpu.train_epoch(params, X, Y, 0.1, 2)
    assert all((a == b).all() for a, b in zip(params, before))


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", reason="the simulator provides a device")
def test_training_on_a_machine_without_a_gpu_says_so(capsys):
    from numba import cuda

    if cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["train", "2-3-2", "--data", "xor", "--target", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symnet: --target cuda needs an NVIDIA GPU") and err.count("\n") == 1


SIMULATED = textwrap.dedent("""
    import importlib.util, sys
    import numpy as np
    import symnet
    from symnet.emit.numba.gpu import generate_cuda
    from symnet.numeric.finite_differences import targets

    worst = 0.0
    # the simulator runs every thread in Python: small nets cover softmax, an element-wise output,
    # the complements of softmax + bce
    # the complements of softmax + bce, and three layers: δ⁽¹⁾ shares its step with W⁽³⁾'s update
    for spec, options in [("2-3-2", dict(hidden="tanh", output="softmax", loss="bce")),
                          ("3-4-1", dict(hidden="relu", output="sigmoid", loss="bce")),
                          ("3-5-4-2", dict(hidden="tanh,relu", output="softmax", loss="cce"))]:
        net = symnet.Network.parse(spec, **options)
        path = sys.argv[1]
        open(path, "w").write(generate_cuda(net))
        found = importlib.util.spec_from_file_location("gpu", path)
        gpu = importlib.util.module_from_spec(found)
        found.loader.exec_module(gpu)
        cpu = symnet.compile(net)
        rng = np.random.default_rng(0)
        X, Y = rng.normal(size=(7, net.layers[0])), targets(net.loss, net.layers[-1], 7, rng)
        p = cpu.init_params(1)
        assert all((a == b).all() for a, b in zip(p, gpu.init_params(1)))
        worst = max(worst, float(np.max(np.abs(gpu.forward(p, X) - cpu.forward(p, X)))),
                    abs(gpu.loss(p, X, Y) - cpu.loss(p, X, Y)),
                    max(float(np.max(np.abs(a - b))) for a, b in zip(gpu.gradients(p, X, Y), cpu.gradients(p, X, Y))))
        # an epoch in one cooperative launch; the simulator runs one block, whose size the host reads at each
        # launch: 32 threads for more threads than items, where rows a lane 1 (read at run time here, compiled
        # in on a GPU) lets two threads share each parameter's sum over a batch's 3 rows (_lanes); 2 threads for
        # more items than threads (each thread then takes every second row, unit or weight of a step)
        for threads, momentum, rows_a_lane in [(32, 0.9, 1), (2, 0.0, 8)]:
            gpu.THREADS, gpu.ROWS_A_LANE = threads, rows_a_lane
            p1, p2 = cpu.init_params(2), cpu.init_params(2)
            v1, v2 = [np.zeros_like(a) for a in p1], [np.zeros_like(a) for a in p2]
            l1 = gpu.train_epoch(p1, X, Y, 0.1, 3, momentum, v1 if momentum else None)
            l2 = cpu.train_epoch(p2, X, Y, 0.1, 3, momentum, v2 if momentum else None)
            worst = max(worst, abs(l1 - l2), max(float(np.max(np.abs(a - b))) for a, b in zip(p1, p2)),
                        max(float(np.max(np.abs(a - b))) for a, b in zip(v1, v2)))
            assert all(float(np.max(np.abs(a - b))) > 0 for a, b in zip(p1, cpu.init_params(2)))
        # X and Y already on the GPU: used where they are, with the same result
        from numba import cuda
        p3 = cpu.init_params(2)
        l3 = gpu.train_epoch(p3, cuda.to_device(X), cuda.to_device(Y), 0.1, 3)
        # (the batches' losses are added atomically, in any order: equal to rounding)
        assert abs(l3 - l1) < 1e-12 and all((a == b).all() for a, b in zip(p3, p1))
        try:
            gpu.train_epoch(p3, cuda.to_device(X.astype(np.float32)), cuda.to_device(Y), 0.1, 3)
        except ValueError as e:
            assert "X on the GPU must be a C-contiguous float64 array" in str(e)
        else:
            raise AssertionError("float32 X on the GPU accepted by a float64 kernel")
    # float32: the same kernels in single precision, against the CPU's float32 kernel
    net = symnet.Network.parse("2-3-2", hidden="tanh", output="softmax", loss="cce")
    open(path, "w").write(generate_cuda(net, "float32"))
    found = importlib.util.spec_from_file_location("gpu32", path)
    gpu = importlib.util.module_from_spec(found)
    found.loader.exec_module(gpu)
    cpu = symnet.compile(net, dtype="float32")
    X, Y = rng.normal(size=(7, 2)).astype(np.float32), targets("cce", 2, 7, rng).astype(np.float32)
    p1, p2 = cpu.init_params(3), cpu.init_params(3)
    single = max(float(np.max(np.abs(a - b))) for a, b in zip(gpu.gradients(p1, X, Y), cpu.gradients(p1, X, Y)))
    gpu.THREADS = 8
    l1, l2 = gpu.train_epoch(p1, X, Y, 0.1, 3), cpu.train_epoch(p2, X, Y, 0.1, 3)
    single = max(single, abs(l1 - l2), max(float(np.max(np.abs(a - b))) for a, b in zip(p1, p2)))
    assert all(p.dtype == np.float32 for p in p1)
    print(worst, single)
""")


@pytest.mark.slow
def test_in_the_simulator_the_gpu_kernels_equal_the_cpu_kernel(tmp_path):
    # the simulator must be chosen before Numba is imported: a process of its own
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, "-c", SIMULATED, str(tmp_path / "gpu_kernel.py")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    double, single = map(float, proc.stdout.split()[-2:])
    assert double < 1e-12
    assert single < 1e-5


def _kernel_types(module, name: str) -> tuple:
    """The Numba types of a kernel's arguments as train_epoch, forward and gradients pass them."""
    import inspect
    import re

    import numba

    f = getattr(numba, module.DTYPE.__name__)
    matrix, vector = f[:, ::1], f[::1]
    types = {"X": matrix, "Y": matrix, "out": matrix, "E_sums": vector, "E_sum": vector, "lr": f, "momentum": f,
             "inv_m": f, "use_velocity": numba.boolean, "with_gradients": numba.boolean}
    out = []
    for arg in inspect.signature(getattr(module, name).py_func).parameters:
        if arg in types:
            out.append(types[arg])
        elif arg in ("batch_size", "start", "stop", "slot"):
            out.append(numba.int64)
        else:  # W1, gb2, vW3, h1, delta2, lse2, …: a vector if a bias or one number per row
            out.append(vector if re.fullmatch(r"[gv]?b\d+|lse\d+", arg) else matrix)
    return tuple(out)


@pytest.mark.slow
@pytest.mark.parametrize("spec, options, dtype", [
    ("2-2-1", {}, "float64"),
    ("2-3-2", dict(hidden="tanh", output="softmax", loss="bce"), "float64"),
    ("3-5-4-2", dict(hidden="tanh,relu", output="softmax", loss="cce"), "float32"),
])
def test_every_gpu_kernel_compiles_for_a_real_gpu(spec, options, dtype, tmp_path, monkeypatch):
    # The simulator runs kernels as Python: it accepted code that numba.cuda cannot lower for a GPU (a
    # 1-tuple index into a 1-D array, NumPy's ufuncs on scalars). Compiling each kernel to PTX for a Hopper
    # GPU (compute capability 9.0) needs NVIDIA's NVVM and NVRTC libraries but no GPU.
    cuda = pytest.importorskip("numba.cuda")
    from numba.cuda.cudadrv.error import CudaSupportError, NvvmSupportError

    import numba.cuda.dispatcher
    from types import SimpleNamespace

    # grid.sync() compiles a device function for the current GPU's compute capability: say which
    monkeypatch.setattr(numba.cuda.dispatcher, "get_current_device", lambda: SimpleNamespace(compute_capability=(9, 0)))
    path = tmp_path / "gpu_kernel.py"
    path.write_text(generate_cuda(Network.parse(spec, **options), dtype))
    import importlib.util

    found = importlib.util.spec_from_file_location(f"gpu_{spec.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    for name in ("_epoch", "_batch", "_forward"):
        try:
            ptx, _ = cuda.compile_ptx(getattr(module, name).py_func, _kernel_types(module, name), cc=(9, 0))
        except (NvvmSupportError, CudaSupportError) as e:
            pytest.skip(f"NVIDIA's NVVM/NVRTC libraries are not installed (pip install '.[ptx]'): {e}")
        assert ".entry" in ptx
        if dtype == "float32" and name == "_epoch":
            # single precision throughout: no double-precision arithmetic in the epoch
            assert [line for line in ptx.splitlines() if ".f64" in line and not line.lstrip().startswith("//")] == []
