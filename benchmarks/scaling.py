"""How symnet's cost grows with the network: cold generate + compile time and seconds per epoch against
width (one hidden layer of 16 → 1024 units) and depth (1 → 30 hidden layers of 32), next to the work an
epoch does (multiply-adds), so that one can see whether either grows faster than the work (issue 16).
Not a test: run it on an idle machine and read the table.

    python benchmarks/scaling.py [--widths 16,64,256,1024] [--depths 1,2,4,8,16,30] [--out FILE.md]

Each network is compiled in a fresh process with an empty kernel cache (cold: derivation, generation and
Numba's compilation of init_params, loss, forward, gradients and train_epoch on first use), then a second
process imports it from the cache (the cached start).  Epochs: 4,096 random rows, batch 64, float64, tanh
hidden layers, softmax + cross-entropy over 10 classes, one thread.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import symnet
layers = json.loads(sys.argv[1])
net = symnet.Network.build(layers, "tanh", "softmax", "cce")
rng = np.random.default_rng(0)
X = rng.normal(size=(4096, layers[0]))
Y = np.eye(layers[-1])[rng.integers(0, layers[-1], 4096)]
k = symnet.compile(net)
params = k.init_params(0)
k.train_epoch(params, X[:64], Y[:64], 0.01, 64)
k.loss(params, X[:64], Y[:64]); k.forward(params, X[:64]); k.gradients(params, X[:64], Y[:64])
start = time.perf_counter() - t0
epochs = []
for _ in range(3):
    t = time.perf_counter()
    k.train_epoch(params, X, Y, 0.01, 64)
    epochs.append(time.perf_counter() - t)
print(json.dumps({"start": start, "epoch": min(epochs)}))
"""


def run(layers: list[int], cache: str) -> dict:
    env = dict(os.environ, SYMNET_CACHE=cache, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(layers)], env=env, capture_output=True, text=True,
                         check=True, timeout=3600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="16,64,256,1024")
    ap.add_argument("--depths", default="1,2,4,8,16,30")
    ap.add_argument("--out", default=None, help="also write the table (Markdown) here")
    opts = ap.parse_args()
    nets = [[64, w, 10] for w in map(int, opts.widths.split(","))]
    nets += [[64, *([32] * d), 10] for d in map(int, opts.depths.split(","))]
    rows = ["| network | multiply-adds per sample | cold start (s) | cached start (s) | s / epoch | "
            "µs / epoch / kMAC |", "|---|---:|---:|---:|---:|---:|"]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for layers in nets:
        macs = sum(a * b for a, b in zip(layers, layers[1:]))
        with tempfile.TemporaryDirectory() as cache:
            cold = run(layers, cache)
            warm = run(layers, cache)
        spec = "-".join(map(str, layers)) if len(layers) <= 6 else f"64-32×{len(layers) - 2}-10"
        rows.append(f"| {spec} | {macs:,} | {cold['start']:.2f} | {warm['start']:.2f} | {warm['epoch']:.4g} | "
                    f"{warm['epoch'] * 1e6 / (macs * 4096 / 1000):.3g} |")
        print(rows[-1], flush=True)
    if opts.out:
        with open(opts.out, "w") as f:
            f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
