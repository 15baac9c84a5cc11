"""Generated kernels: compile time, speed per layout, and seconds per epoch (issues 4 and 7).

    python benchmarks/kernels.py                 # both tables
    python benchmarks/kernels.py --crossover     # compile time and speed per layout, growing nets
    python benchmarks/kernels.py --workloads     # issue 7's four workloads, mode auto

Not a test: run it and read the tables.  Every compile is timed in a fresh process with an empty
kernel cache, so Numba's on-disk cache cannot flatter it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CROSSOVER = [
    ("2-2-1", dict(hidden="sigmoid", output="sigmoid", loss="mse")),
    ("2-4-2", dict(hidden="tanh", output="softmax", loss="cce")),
    ("2-8-3", dict(hidden="relu", output="softmax", loss="cce")),
    ("4-8-3", dict(hidden="relu", output="softmax", loss="cce")),
    ("2-16-3", dict(hidden="relu", output="softmax", loss="cce")),
    ("2-8-8-3", dict(hidden="relu", output="softmax", loss="cce")),
    ("8-16-4", dict(hidden="tanh", output="softmax", loss="cce")),
    ("16-16-4", dict(hidden="tanh", output="softmax", loss="cce")),
    ("64-32-10", dict(hidden="sigmoid", output="softmax", loss="cce")),
]

WORKLOADS = {
    "seed": ("2-2-1", dict(hidden="sigmoid", output="sigmoid", loss="mse"), 1, 0.5),
    "digits": ("64-32-10", dict(hidden="sigmoid", output="softmax", loss="cce"), 32, 0.1),
    "wide": ("784-256-10", dict(hidden="relu", output="softmax", loss="cce"), 128, 0.05),
    "deep": ("64-128-128-128-10", dict(hidden="tanh", output="softmax", loss="cce"), 64, 0.05),
}

CHILD = r"""
import json, sys, time
import numpy as np
t0 = time.perf_counter()
import symnet
net = symnet.Network.parse({spec!r}, **{opts!r})
t1 = time.perf_counter()
mod = symnet.compile(net, {mode!r})
t2 = time.perf_counter()
X, Y = {data}
params = mod.init_params(0)
t3 = time.perf_counter()
mod.train_epoch(params, X[:{batch}], Y[:{batch}], {lr}, {batch})   # compiles the training path
t4 = time.perf_counter()
times = []
for _ in range({epochs}):
    s = time.perf_counter()
    loss = mod.train_epoch(params, X, Y, {lr}, {batch})
    times.append(time.perf_counter() - s)
print(json.dumps(dict(generate=t2 - t1, compile=t4 - t3, epoch=sorted(times)[len(times) // 2],
                      samples=len(X), layout=mod.__doc__ and "", loss=loss, import_s=t1 - t0)))
"""

DATA = {
    "random": "(lambda rng: (rng.normal(size=({m}, net.layers[0])), np.eye(net.layers[-1])[rng.integers(0, net.layers[-1], {m})] if net.loss == 'cce' else rng.uniform(size=({m}, net.layers[-1]))))(np.random.default_rng(0))",
    "seed": "(lambda rng: (lambda X: (X, (X[:, :1] * X[:, 1:] > 0).astype(float)))(rng.normal(size=(1000, 2))))(np.random.default_rng(0))",
    "digits": "(lambda d: (d.data / 16.0, np.eye(10)[d.target]))(__import__('sklearn.datasets', fromlist=['load_digits']).load_digits())",
    "synthetic": "(lambda rng: (rng.normal(size=(8192, net.layers[0])), np.eye(net.layers[-1])[rng.integers(0, net.layers[-1], 8192)]))(np.random.default_rng(0))",
}


def run(spec: str, opts: dict, mode: str, data: str, batch: int, lr: float, epochs: int) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SYMNET_CACHE=cache, PYTHONPATH=str(ROOT))
        code = CHILD.format(spec=spec, opts=opts, mode=mode, data=data, batch=batch, lr=lr, epochs=epochs)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1800)
        if out.returncode:
            raise RuntimeError(out.stderr)
        return json.loads(out.stdout.strip().splitlines()[-1])


def crossover(layouts: list[str]) -> None:
    print("Compile time (first train_epoch, fresh process) and ns per sample, 4,096 random samples")
    print(f"{'network':<10} {'params':>6}  " + "  ".join(f"{m + ' compile':>16} {'ns/sample':>9}" for m in layouts)
          + "  auto")
    import symnet
    from symnet.emit.numba.builder import choose_layout

    for spec, opts in CROSSOVER:
        net = symnet.Network.parse(spec, **opts)
        cells = []
        for layout in layouts:
            if layout == "unrolled" and net.n_params > 400:
                cells.append(f"{'(minutes)':>16} {'':>9}")
                continue
            for batch in (1, 32):
                r = run(spec, opts, layout, DATA["random"].format(m=4096), batch, 0.01, 5)
                if batch == 1:
                    first = r
            ns1, ns32 = (first["epoch"] / first["samples"] * 1e9, r["epoch"] / r["samples"] * 1e9)
            cells.append(f"{first['compile']:>15.2f}s {ns1:>5.0f}/{ns32:<4.0f}")
        print(f"{spec:<10} {net.n_params:>6}  " + "  ".join(cells) + f"  {choose_layout(net, 'auto')}", flush=True)
    print("ns/sample: batch 1 / batch 32")


def workloads(names: list[str], mode: str) -> None:
    print(f"Seconds per epoch of the generated kernel (mode {mode}; median of 7 epochs after a warm-up)")
    print(f"{'workload':<8} {'network':<20} {'layout':<9} {'batch':>5} {'s/epoch':>10} {'compile s':>9} "
          f"{'generate s':>10}")
    import symnet
    from symnet.emit.numba.builder import choose_layout

    for name in names:
        spec, opts, batch, lr = WORKLOADS[name]
        net = symnet.Network.parse(spec, **opts)
        data = DATA["seed"] if name == "seed" else DATA["digits"] if name == "digits" else DATA["synthetic"]
        r = run(spec, opts, mode, data, batch, lr, 7)
        print(f"{name:<8} {spec:<20} {choose_layout(net, mode):<9} {batch:>5} {r['epoch']:>10.5f} "
              f"{r['compile']:>9.2f} {r['generate']:>10.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crossover", action="store_true")
    parser.add_argument("--workloads", action="store_true")
    parser.add_argument("--layouts", default="unrolled,loops,gemm")
    parser.add_argument("--workload", default="seed,digits,wide,deep")
    parser.add_argument("--mode", default="auto")
    args = parser.parse_args()
    both = not (args.crossover or args.workloads)
    if args.crossover or both:
        crossover(args.layouts.split(","))
    if args.workloads or both:
        workloads(args.workload.split(","), args.mode)


if __name__ == "__main__":
    main()
