"""Where symnet's epoch goes: the whole epoch against its matrix products alone.

    python benchmarks/epoch_profile.py [--workload NAME] [--threads 1|2] [--dtype float32]
    # or as part of: python benchmarks/peers.py

For a workload whose kernel is in the gemm layout, one process (pinned to ``threads`` CPUs, like the peers)
times, as the median of 10 rounds after a warm-up, each round one of each (alternating, so that the
machine's drift falls on both alike):
- ``epoch``: symnet's ``train_epoch`` (``symnet.compile(net, mode="auto", dtype=dtype)``);
- ``matrix products``: the same epoch's BLAS calls alone, through the kernel's own ``_gemm`` — the same
  shapes, order, operands' layouts, α and β (∂E/∂W written into W with β = 1), the same batch rows of X,
  on operands holding numbers of the epoch's size — and their rate;
- ``the rest`` = epoch − matrix products: everything a kernel adds to its BLAS calls (bias, activation
  and its derivative, softmax and loss, bias gradients, the SGD update, the call from Python);
- the element counts of each elementwise pass, so the rest can be read per element.
The unrolled kernel of ``seed`` has no matrix product: its epoch is all "rest" (per-sample straight-line code).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(HERE), str(ROOT)):
    if p not in sys.path:
        sys.path.insert(0, p)

from workloads import WORKLOADS, epoch_flops, initial_params, make_data  # noqa: E402


def _products(kernel):
    import numba

    gemm, N, T = kernel._gemm, kernel.NOTRANS, kernel.TRANS

    @numba.njit(cache=False)
    def products(X, Ws, hs, ds, gs, batch_size, lr):
        """The gemm kernel's matrix products of one epoch, as it calls them: forward h_k = a_{k-1} W_k,
        backward δ_{k-1} = δ_k W_kᵀ (k ≥ 2), the updates C_k ← C_k − lr·a_{k-1}ᵀ δ_k (into copies of W, so
        that the same operands, epoch after epoch, do not grow the products' numbers without bound)."""
        m = X.shape[0]
        L = len(Ws)
        for start in range(0, m, batch_size):
            stop = min(start + batch_size, m)
            B = stop - start
            gemm(N, N, X[start:stop], Ws[0], hs[0][:B], 1.0, 0.0)
            for k in range(1, L):
                gemm(N, N, hs[k - 1][:B], Ws[k], hs[k][:B], 1.0, 0.0)
            for k in range(L - 1, 0, -1):
                gemm(N, T, ds[k][:B], Ws[k], ds[k - 1][:B], 1.0, 0.0)
            for k in range(L - 1, 0, -1):
                gemm(T, N, hs[k - 1][:B], ds[k][:B], gs[k], -lr, 1.0)
            gemm(T, N, X[start:stop], ds[0][:B], gs[0], -lr, 1.0)

    return products


def measure_here(name: str, dtype: str = "float64", rounds: int = 10) -> dict:
    import numba  # noqa: F401
    from numba.typed import List

    import symnet

    w = WORKLOADS[name]
    X, Y = (a.astype(dtype) for a in make_data(w))
    net = symnet.Network.parse(w.spec, hidden=",".join(w.hidden), output=w.output, loss=w.loss)
    kernel = symnet.compile(net, mode="auto", dtype=dtype)
    layout = symnet.emit.numba.builder.choose_layout(net, "auto")
    params = [p.astype(dtype) for p in initial_params(w)]
    lr = np.dtype(dtype).type(w.lr)
    threads = int(os.environ["OMP_NUM_THREADS"]) if os.environ.get("OMP_NUM_THREADS") else None  # as the peers'
    jobs = {"epoch": lambda: kernel.train_epoch(params, X, Y, lr, w.batch_size, threads=threads)}
    sizes = w.layers
    out = {"workload": name, "layout": layout, "dtype": dtype,
           "elements": len(X) * sum(sizes[1:])}  # h, a, δ: one entry per sample and neuron
    if layout == "gemm":
        b, rng = w.batch_size, np.random.default_rng(0)
        # operands of the sizes an epoch has (activations ~1, δ ~1/B, weights from the workload's start):
        # never denormal or NaN, which would slow BLAS down and make the products unlike the epoch's
        Ws = List([p.copy() for p in params[0::2]])
        hs = List([rng.uniform(-1, 1, (b, n)).astype(dtype) for n in sizes[1:]])
        ds = List([(rng.uniform(-1, 1, (b, n)) / b).astype(dtype) for n in sizes[1:]])
        gs = List([W.copy() for W in Ws])
        products = _products(kernel)
        jobs["products"] = lambda: products(X, Ws, hs, ds, gs, b, lr)
        out["flops"] = epoch_flops(w, len(X))
    for job in jobs.values():
        job()  # compiled and warm
    times: dict[str, list[float]] = {key: [] for key in jobs}
    for _ in range(rounds):
        for key, job in jobs.items():
            t = time.perf_counter()
            job()
            times[key].append(time.perf_counter() - t)
    out.update({key: statistics.median(ts) for key, ts in times.items()})
    return out


def measure(name: str, threads: int, env: dict | None = None, preexec_fn=None, dtype: str = "float64") -> dict:
    """``measure_here`` in a child process with the benchmark's environment and CPU set."""
    proc = subprocess.run([sys.executable, str(Path(__file__)), "--child", "--workload", name,
                           "--threads", str(threads), "--dtype", dtype], capture_output=True, text=True, env=env,
                          timeout=900, preexec_fn=preexec_fn)
    if proc.returncode:
        return {"workload": name, "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ms(x: float) -> str:
    return f"{x * 1e3:.3g} ms" if x >= 1e-3 else f"{x * 1e6:.3g} µs"


def table(profiles: list[dict]) -> list[str]:
    lines = ["| workload | layout | epoch | matrix products | their GFLOP/s | the rest | rest per h/a/δ element | "
             "products' share |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for p in profiles:
        if "error" in p:
            lines.append(f"| {p['workload']} | failed: {p['error']} | | | | | | |")
            continue
        prod = p.get("products")
        rest = p["epoch"] - (prod or 0.0)
        lines.append(
            f"| {p['workload']} | {p['layout']} | {_ms(p['epoch'])} | {_ms(prod) if prod else '—'} | "
            f"{p['flops'] / prod / 1e9:.1f} |" if prod else
            f"| {p['workload']} | {p['layout']} | {_ms(p['epoch'])} | — | — |")
        lines[-1] += (f" {_ms(rest)} | {rest / p['elements'] * 1e9:.2f} ns | "
                      f"{(prod or 0.0) / p['epoch'] * 100:.0f} % |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", action="append", choices=list(WORKLOADS))
    ap.add_argument("--threads", type=int, choices=(1, 2), default=1)
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(measure_here(args.workload[0], args.dtype)))
        return 0
    import peers

    env = peers.child_env(args.threads, keep_openblas=False)
    profiles = [measure(n, args.threads, env, peers.pinned(args.threads), args.dtype)
                for n in args.workload or list(WORKLOADS)]
    print("\n".join(table(profiles)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
