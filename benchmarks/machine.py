"""The machine: CPU, BLAS, library versions, the matmul roofline for ``wide``'s shapes (in the run's dtype),
and which CPUs a process's threads may run on.

The roofline is what the machine's BLAS reaches on exactly the matrix products of one ``wide`` batch
(128 rows, 784-256-10): h1 = X W1, h2 = a1 W2, ∂E/∂W2 = a1ᵀ δ2, δ2 W2ᵀ, ∂E/∂W1 = Xᵀ δ1. Their FLOPs over
their best times is the rate an epoch could reach if it did nothing but its matrix products; an epoch's
FLOPs / its time / that rate is the fraction of the roofline it reaches.
"""
from __future__ import annotations

import importlib.metadata as md
import json
import platform
import subprocess
import time

import numpy as np

# (name, shape of A, shape of B, transpose A) for one wide batch of 128 rows
WIDE_GEMMS = [
    ("h1 = X W1", (128, 784), (784, 256), False),
    ("h2 = a1 W2", (128, 256), (256, 10), False),
    ("dW2 = a1' d2", (128, 256), (128, 10), True),
    ("d2 W2'", (128, 10), (256, 10), "B"),
    ("dW1 = X' d1", (128, 784), (128, 256), True),
]

LIBRARIES = ("numpy", "scipy", "numba", "llvmlite", "sympy", "torch", "jax", "jaxlib", "pytensor",
             "scikit-learn", "threadpoolctl")


def _operands(rng, shape_a, shape_b, trans, dtype: str):
    A = rng.standard_normal(shape_a).astype(dtype)
    B = rng.standard_normal(shape_b).astype(dtype)
    if trans is True:
        A = A.T  # a view, as back-propagation uses it
    elif trans == "B":
        B = B.T
    return A, B


def _flops(A, B) -> float:
    return 2.0 * A.shape[0] * A.shape[1] * B.shape[1]


def _best(fn, reps: int, blocks: int = 30) -> float:
    fn()
    best = float("inf")
    for _ in range(blocks):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t) / reps)
    return best


ROOFLINE_LIBRARIES = ("numpy", "numba", "torch")


def roofline(lib: str, dtype: str = "float64") -> dict:
    """GFLOP/s of the wide batch's gemm mix with one BLAS: numpy's OpenBLAS ("numpy"), the BLAS that a
    Numba ``@njit`` np.dot calls, SciPy's OpenBLAS ("numba"), or PyTorch's MKL ("torch"), in ``dtype``
    (dgemm or sgemm: a float32 epoch is measured against the float32 rate). One library per process: two
    OpenBLAS copies in one process keep each other's spinning threads busy. Run in a child whose thread
    variables are set like the benchmark's."""
    import os

    rng = np.random.default_rng(0)
    ops = [(name, *_operands(rng, sa, sb, tr, dtype)) for name, sa, sb, tr in WIDE_GEMMS]
    total_flops = sum(_flops(A, B) for _, A, B in ops)
    per = {}
    if lib == "numpy":
        label = "numpy (OpenBLAS)"
        for name, A, B in ops:
            out = np.empty((A.shape[0], B.shape[1]), dtype=dtype)
            per[name] = _best(lambda A=A, B=B, out=out: np.matmul(A, B, out=out), reps=10)
    elif lib == "numba":
        import numba

        label = "numba @njit np.dot (SciPy's OpenBLAS)"

        @numba.njit(cache=False)
        def nb_dot(A, B, out):
            np.dot(A, B, out)

        for name, A, B in ops:
            out = np.empty((A.shape[0], B.shape[1]), dtype=dtype)
            per[name] = _best(lambda A=A, B=B, out=out: nb_dot(A, B, out), reps=10)
    elif lib == "torch":
        import torch

        label = "torch.mm (MKL)"
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        for name, A, B in ops:
            tA, tB = torch.from_numpy(A), torch.from_numpy(B)  # transposed views keep their strides
            out = torch.empty((A.shape[0], B.shape[1]), dtype=getattr(torch, dtype))
            per[name] = _best(lambda tA=tA, tB=tB, out=out: torch.mm(tA, tB, out=out), reps=10)
    else:
        raise ValueError(lib)
    return {"library": label, "dtype": dtype, "batch_flops": total_flops,
            "gflops": total_flops / sum(per.values()) / 1e9,
            "per_gemm": {n: _flops(A, B) / per[n] / 1e9 for n, A, B in ops}}


def thread_cpus() -> dict:
    """How many threads this process has and the union of the CPUs they may run on (each thread's
    ``Cpus_allowed_list`` in /proc): a library that widened its own threads' affinity beyond the process's
    shows up here, where ``os.sched_getaffinity(0)`` sees only the calling thread. Linux only; {} elsewhere."""
    import os

    cpus: set[int] = set()
    threads = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return {}
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/status") as f:
                line = next(ln for ln in f if ln.startswith("Cpus_allowed_list:"))
        except (OSError, StopIteration):
            continue  # the thread ended meanwhile
        threads += 1
        for part in line.split(":", 1)[1].strip().split(","):
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    return {"threads": threads, "cpus": sorted(cpus)}


def blas_info() -> list[dict]:
    """threadpoolctl's view of the BLAS/OpenMP libraries numpy, scipy.linalg (Numba's BLAS) and torch load."""
    import threadpoolctl

    import scipy.linalg  # noqa: F401 - loads SciPy's own OpenBLAS, the one Numba's np.dot calls

    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    keep = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads")
    return [{k: lib.get(k) for k in keep} | {"file": lib["filepath"].rsplit("/", 1)[-1]}
            for lib in threadpoolctl.threadpool_info()]


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        model = fields.get("Model name", "").strip()
        extra = [f"family {fields[k].strip()}" for k in ("CPU family",) if k in fields]
        extra += [f"model {fields['Model'].strip()}"] if "Model" in fields else []
        cores = fields.get("CPU(s)", "?").strip()
        hyper = fields.get("Hypervisor vendor", "").strip()
        flags = fields.get("Flags", "").split()
        simd = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "SSE")
        return (f"{model} ({', '.join(extra)}), {cores} CPUs, {simd}"
                + (f", under {hyper}" if hyper else ""))
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = md.version(lib)
        except md.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def pytensor_linker() -> str:
    """Which linker PyTensor's default mode picks, and its BLAS flags (empty: NumPy C-API fallback)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pytensor
        from pytensor.compile.mode import get_default_mode

        return (f"default mode linker {type(get_default_mode().linker).__name__}; "
                f"blas__ldflags={pytensor.config.blas__ldflags!r}")


def child_main(what: str) -> None:
    if what.startswith("roofline:"):  # roofline:LIBRARY[:DTYPE]
        print(json.dumps(roofline(*what.split(":")[1:3])))
    elif what == "blas":
        info = {"blas": blas_info()}
        try:
            info["pytensor"] = pytensor_linker()
        except ImportError:
            info["pytensor"] = "not installed"
        try:
            import torch

            info["torch"] = f"{torch.__config__.parallel_info().splitlines()[0]}; " + \
                ", ".join(line.strip(" -") for line in torch.__config__.show().splitlines()
                          if "Math Kernel" in line or "CPU capability" in line)
        except ImportError:
            info["torch"] = "not installed"
        print(json.dumps(info))
    else:
        raise SystemExit(f"unknown: {what}")


if __name__ == "__main__":
    import sys

    child_main(sys.argv[1])
