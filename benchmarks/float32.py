"""symnet's float32 kernels next to its float64 ones, side by side in one run: seconds per epoch and how far
the float32 training lands from the float64 one (issue 16: "accuracy of the float32 kernels vs float64
stated"). Not a test: run it on an idle machine.

    python benchmarks/float32.py [--epochs N]

Both start from the same weights (benchmarks/workloads.py) and take the same batches; the final losses are
computed in float64 by the workloads' reference loss, so they compare the parameters each dtype reached.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# one thread, on one CPU, for both dtypes (BLAS would otherwise spread over the machine, and a neighbour's
# load lands on one of them): set before NumPy loads its BLAS
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import WORKLOADS, initial_params, loss, make_data  # noqa: E402

import symnet  # noqa: E402


def train(w, X, Y, dtype: str, epochs: int) -> tuple[float, list[np.ndarray]]:
    net = symnet.Network.build(list(w.layers), list(w.hidden), w.output, w.loss)
    k = symnet.compile(net, dtype=dtype)
    params = [p.astype(dtype) for p in initial_params(w)]
    Xd, Yd = X.astype(dtype), Y.astype(dtype)
    k.train_epoch(params, Xd, Yd, w.lr, w.batch_size)  # compiles; counted as the first epoch of training
    best = float("inf")
    for _ in range(epochs - 1):
        t = time.perf_counter()
        k.train_epoch(params, Xd, Yd, w.lr, w.batch_size)
        best = min(best, time.perf_counter() - t)
    return best, [p.astype(np.float64) for p in params]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    opts = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {opts.epochs} epochs each")
    print("| workload | float64 s/epoch | float32 s/epoch | speed-up | final loss float64 | final loss float32 | "
          "max abs parameter difference |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for w in WORKLOADS.values():
        X, Y = make_data(w)
        t64, p64 = train(w, X, Y, "float64", opts.epochs)
        t32, p32 = train(w, X, Y, "float32", opts.epochs)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(p64, p32))
        print(f"| {w.name} | {t64:.4g} | {t32:.4g} | {t64 / t32:.2f} | {loss(w, p64, X, Y):.6g} | "
              f"{loss(w, p32, X, Y):.6g} | {diff:.2g} |", flush=True)


if __name__ == "__main__":
    main()
