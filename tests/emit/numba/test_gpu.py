"""--target cuda: numba.cuda kernels, one thread per sample, equal to the CPU kernel in Numba's simulator."""
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
    assert "cuda.atomic.add(gW1, (i, j,), delta1[j]*X[r, i])" in source
    assert "h1 = cuda.local.array(N1, numba.float64)" in source
    assert "theta[k] = -lr*g[k] + theta[k]" in source  # the update rule, printed from symnet.derivation.update
    compile(source, "k.py", "exec")


@pytest.mark.parametrize("net, options, message", [
    (NET, {"optimizer": "adam"}, "--target cuda trains with sgd or momentum so far"),
    (Network.parse("2-3-2", l2=0.01), {}, "--target cuda does not carry --l2 yet"),
    (Network.parse("300-3-2"), {}, "layers up to 256 units"),
])
def test_what_the_gpu_kernels_do_not_do_yet_is_refused_in_one_line(net, options, message):
    with pytest.raises(InputError, match=message):
        generate_cuda(net, **options)


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
    # the simulator runs every thread in Python: two small nets cover softmax, an element-wise output and
    # the complements of softmax + bce
    for spec, options in [("2-3-2", dict(hidden="tanh", output="softmax", loss="bce")),
                          ("3-4-1", dict(hidden="relu", output="sigmoid", loss="bce"))]:
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
        # an epoch in one launch (θ in shared memory; these nets fit) and in a launch per batch
        assert gpu.ONE_LAUNCH
        for one_launch, momentum in [(True, 0.0), (True, 0.9), (False, 0.0), (False, 0.9)]:
            gpu.ONE_LAUNCH = one_launch
            p1, p2 = cpu.init_params(2), cpu.init_params(2)
            v1, v2 = [np.zeros_like(a) for a in p1], [np.zeros_like(a) for a in p2]
            l1 = gpu.train_epoch(p1, X, Y, 0.1, 3, momentum, v1 if momentum else None)
            l2 = cpu.train_epoch(p2, X, Y, 0.1, 3, momentum, v2 if momentum else None)
            worst = max(worst, abs(l1 - l2), max(float(np.max(np.abs(a - b))) for a, b in zip(p1, p2)),
                        max(float(np.max(np.abs(a - b))) for a, b in zip(v1, v2)))
        # more samples in a batch than threads in the block: each thread takes every THREADS-th sample (the
        # simulator reads THREADS when it runs, so two threads stand for a batch larger than a block)
        gpu.THREADS = 2
        for one_launch in (True, False):
            gpu.ONE_LAUNCH = one_launch
            p1, p2 = cpu.init_params(4), cpu.init_params(4)
            l1, l2 = gpu.train_epoch(p1, X, Y, 0.1, 5), cpu.train_epoch(p2, X, Y, 0.1, 5)
            worst = max(worst, abs(l1 - l2), max(float(np.max(np.abs(a - b))) for a, b in zip(p1, p2)))
            assert all(float(np.max(np.abs(a - b))) > 0 for a, b in zip(p1, cpu.init_params(4)))
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
