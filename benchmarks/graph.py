"""A graph's kernel against the layer list's: seconds per epoch, side by side (the computational-graph issue).

    python benchmarks/graph.py [--epochs 200] [--batch-size 32] [--momentum 0.9]

Trains digits (1,797 rows, 64 inputs, 10 classes; standardised) with the kernel ``symnet train`` compiles for

* ``dense``: 64-32-32-10, ReLU hidden layers, softmax and cross-entropy (the layer list's gemm layout), and
* ``residual``: the same layers with a skip connection around the second hidden layer,
  ``a2 = relu(dense(a1, 32) + a1)`` (the graph's batch layout),

one epoch of each in turn on the same data, and prints the median epoch of each and their ratio.  Not a
test: the machines are shared and noisy, so the figure is a ratio measured in one run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESIDUAL = {"a1": "relu(dense(x, 32))", "a2": "relu(dense(a1, 32) + a1)", "yhat": "softmax(dense(a2, 10))",
            "loss": "cce(yhat, y)"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    args = parser.parse_args(argv)
    os.environ.setdefault("SYMNET_CACHE", tempfile.mkdtemp(prefix="symnet-bench-"))

    import numpy as np
    from sklearn.datasets import load_digits

    import symnet
    from symnet.spec import Graph

    digits = load_digits()
    X = (digits.data - digits.data.mean(axis=0)) / np.maximum(digits.data.std(axis=0), 1e-12)
    Y = np.eye(10)[digits.target]
    X, Y = (np.ascontiguousarray(a, dtype=args.dtype) for a in (X, Y))
    kernels = {
        "dense": symnet.compile(symnet.Network.parse("64-32-32-10", hidden="relu", output="softmax", loss="cce"),
                                dtype=args.dtype),
        "residual": symnet.compile(Graph.build(64, RESIDUAL, title="residual"), dtype=args.dtype),
    }
    state = {}
    for name, k in kernels.items():
        params = k.init_params(0)
        velocity = [np.zeros_like(p) for p in params] if args.momentum else None
        k.train_epoch(params, X, Y, args.lr, args.batch_size, args.momentum, velocity)  # compiles
        state[name] = (params, velocity)
    times: dict[str, list[float]] = {name: [] for name in kernels}
    losses: dict[str, float] = {}
    rng = np.random.default_rng(0)
    for _ in range(args.epochs):
        order = rng.permutation(len(X))
        Xe, Ye = np.ascontiguousarray(X[order]), np.ascontiguousarray(Y[order])
        for name, k in kernels.items():
            params, velocity = state[name]
            t = time.perf_counter()
            losses[name] = k.train_epoch(params, Xe, Ye, args.lr, args.batch_size, args.momentum, velocity)
            times[name].append(time.perf_counter() - t)
    dense, residual = (statistics.median(times[n]) for n in ("dense", "residual"))
    print(f"digits, batch {args.batch_size}, lr {args.lr}, momentum {args.momentum}, {args.dtype}, "
          f"median of {args.epochs} epochs each, alternating:")
    # a diverged run (lr 0.1 with momentum 0.9 here) saturates softmax and times other arithmetic: the losses say
    print(f"  dense 64-32-32-10 (layer list, gemm)   {dense * 1e3:8.3f} ms/epoch  last epoch's loss {losses['dense']:.3g}")
    print(f"  residual (graph, batch layout)        {residual * 1e3:8.3f} ms/epoch  last epoch's loss {losses['residual']:.3g}")
    print(f"  residual / dense                      {residual / dense:8.3f}")


if __name__ == "__main__":
    main()
