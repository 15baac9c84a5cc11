"""symnet's GPU kernels (--target cuda) against PyTorch on CUDA, eager and compiled, on the four workloads
plus a large-batch one. Not a test: run it on a machine with an NVIDIA GPU and read the table.

    pip install '.[cuda]' torch      # a CUDA build of torch
    python benchmarks/gpu.py [--epochs N] [--dtype float64 --dtype float32] [--out DIR]

Every implementation starts from the same weights (benchmarks/workloads.py) and takes the same batches in
the same order (no shuffling); each epoch is timed after one warm-up epoch (compilation), the data already on
the GPU for everyone (symnet's train_epoch takes device arrays); symnet's epoch includes copying θ to the GPU
and back, as its NumPy-in, NumPy-out contract does. The ratio columns are torch's seconds per epoch over symnet's: above 1, symnet is faster. Equal work
is checked twice: symnet's parameters after one epoch on the GPU against hand-written NumPy back-propagation's
after the same epoch in float64 (``|Δθ|``, the largest difference relative to the largest parameter), and every implementation's
final loss, side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np

if not hasattr(np, "row_stack"):
    # numba-cuda 0.30.4 registers an overload of np.row_stack, which NumPy 2.5 removed: on such an image
    # (seen on the GPU machine: numpy 2.5.2) no kernel compiles. symnet's [cuda] extra keeps numpy < 2.5;
    # the harness runs on whatever the machine has, so it restores the alias
    np.row_stack = np.vstack

sys.path.insert(0, str(Path(__file__).resolve().parent))
from implementations import NumPy  # noqa: E402
from workloads import WORKLOADS, initial_params, loss, make_data  # noqa: E402

import symnet  # noqa: E402
import symnet.errors  # noqa: E402

LARGE = replace(WORKLOADS["digits"], name="digits-large-batch", batch_size=1024)
ALL = {**WORKLOADS, LARGE.name: LARGE}


def network(w) -> symnet.Network:
    return symnet.Network.build(list(w.layers), list(w.hidden), w.output, w.loss)


def time_symnet(w, X, Y, epochs: int, dtype: str, variant: tuple[int, int] | None = None) -> dict:
    """``variant``: (at most this many blocks, threads a block) instead of the module's defaults."""
    net = network(w)
    t0 = time.perf_counter()
    kernel = symnet.compile(net, target="cuda", dtype=dtype)
    generate = time.perf_counter() - t0
    defaults = kernel.MAX_BLOCKS, kernel.THREADS
    try:
        if variant:
            kernel.MAX_BLOCKS, kernel.THREADS = variant
        return _time_symnet(w, X, Y, epochs, dtype, kernel, generate)
    finally:
        kernel.MAX_BLOCKS, kernel.THREADS = defaults


def _time_symnet(w, X, Y, epochs: int, dtype: str, kernel, generate: float) -> dict:
    params = [p.astype(dtype) for p in initial_params(w)]
    from numba import cuda

    dX, dY = cuda.to_device(X), cuda.to_device(Y)  # on the GPU once, as torch's tensors are
    t0 = time.perf_counter()
    kernel.train_epoch(params, dX, dY, w.lr, w.batch_size)  # warm-up: compiles the kernels
    first = time.perf_counter() - t0
    # equal work: one epoch on the GPU against hand-written NumPy back-propagation's in float64, from the
    # same weights (NumPy rather than the CPU kernel: no compile on the GPU machine's time)
    reference = NumPy()
    reference.setup(w, X.astype(np.float64), Y.astype(np.float64), initial_params(w))
    reference.epoch()
    on_cpu = reference.params()
    scale = max(float(np.max(np.abs(p))) for p in on_cpu)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(params, on_cpu)) / scale
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        kernel.train_epoch(params, dX, dY, w.lr, w.batch_size)
        times.append(time.perf_counter() - t0)
    return {"seconds": float(np.median(times)), "loss": loss(w, [p.astype(np.float64) for p in params],
                                                               X.astype(np.float64), Y.astype(np.float64)),
            "vs_cpu": diff, "generate_s": generate, "first_epoch_s": first,
            "max_blocks_threads": [kernel.MAX_BLOCKS, kernel.THREADS]}


def time_torch(w, X, Y, epochs: int, compiled: bool, dtype: str) -> dict:
    import torch

    dev = torch.device("cuda")
    acts = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}
    params = [torch.tensor(p.astype(dtype), device=dev, requires_grad=True) for p in initial_params(w)]
    Xd, Yd = torch.tensor(X, device=dev), torch.tensor(Y, device=dev)

    def step(xb, yb):
        a = xb
        for k, act in enumerate(w.activations):
            h = a @ params[2 * k] + params[2 * k + 1]
            a = h if act == "softmax" else acts[act](h)
        if w.loss == "cce":
            e = -(yb * torch.log_softmax(h, dim=1)).sum(dim=1).mean()
        else:
            e = 0.5 * ((a - yb) ** 2).sum(dim=1).mean()
        grads = torch.autograd.grad(e, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= w.lr * g
        return e

    fn = torch.compile(step) if compiled else step

    def epoch():
        for s in range(0, len(X), w.batch_size):
            fn(Xd[s:s + w.batch_size], Yd[s:s + w.batch_size])
        torch.cuda.synchronize()

    t0 = time.perf_counter()
    epoch()
    first = time.perf_counter() - t0
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - t0)
    return {"seconds": float(np.median(times)), "first_epoch_s": first,
            "loss": loss(w, [p.detach().cpu().numpy().astype(np.float64) for p in params],
                         X.astype(np.float64), Y.astype(np.float64))}


def launch_shape(text: str) -> tuple[str, int]:
    """--variant's BLOCKSxTHREADS: BLOCKS a number, sm or 2sm; THREADS a number (a usage error otherwise)."""
    blocks, _, threads = text.partition("x")
    if not (blocks in ("sm", "2sm") or blocks.isdigit() and int(blocks) > 0) or not threads.isdigit() or int(threads) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not BLOCKSxTHREADS (e.g. 1x256, smx128, 2smx256)")
    return blocks, int(threads)


def cuda_multiprocessors() -> int:
    from numba import cuda

    return cuda.get_current_device().MULTIPROCESSOR_COUNT


def gpu_name() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("CUDA_VISIBLE_DEVICES", "default device")


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("numba", "numba-cuda", "cupy-cuda13x", "cupy-cuda12x", "torch", "numpy"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs (their median is reported)")
    parser.add_argument("--workload", action="append", choices=list(ALL), help="repeat for several (default all)")
    parser.add_argument("--dtype", action="append", choices=["float64", "float32"], help="repeat for both")
    parser.add_argument("--no-compiled", action="store_true", help="skip torch.compile (its compile takes minutes)")
    parser.add_argument("--variant", action="append", default=[], metavar="BLOCKSxTHREADS", type=launch_shape,
                        help="also time symnet's epoch with at most BLOCKS blocks (a number, sm: one a "
                             "multiprocessor, 2sm: two) of THREADS threads, e.g. 1x1024 (repeat); the main "
                             "table uses the module's defaults (one block a multiprocessor, THREADS)")
    parser.add_argument("--out", default=None, help="a folder: GPU.md (the table) and gpu.json (every number)")
    opts = parser.parse_args()
    header = ["| dtype | workload | symnet s/epoch | torch eager | torch.compile | eager/symnet | compiled/symnet | "
              "symnet vs NumPy float64, 1 epoch, max |Δθ| / max |θ| | final losses (symnet, eager, compiled) |", "|---|---|---|---|---|---|---|---|---|"]
    rows, raw = list(header), []
    for dtype in opts.dtype or ["float64"]:
        for name in opts.workload or list(ALL):
            w = ALL[name]
            X, Y = (A.astype(dtype) for A in make_data(WORKLOADS["digits"] if w is LARGE else w))
            record = {"dtype": dtype, "workload": name}
            try:
                record["symnet"] = s = time_symnet(w, X, Y, opts.epochs, dtype)
            except symnet.errors.InputError as e:  # e.g. a layer wider than one thread keeps
                rows.append(f"| {dtype} | {name} | not generated: {e} | | | | | | |")
                print(rows[-1], flush=True)
                continue
            except Exception:  # noqa: BLE001 — report and go on to the next workload
                traceback.print_exc()
                rows.append(f"| {dtype} | {name} | failed (see log) | | | | | | |")
                continue
            for blocks, threads in opts.variant:
                most = {"sm": cuda_multiprocessors(), "2sm": 2 * cuda_multiprocessors()}.get(blocks) or int(blocks)
                try:
                    record[f"symnet, at most {most}x{threads}"] = time_symnet(w, X, Y, opts.epochs, dtype,
                                                                               (most, threads))
                except Exception:  # noqa: BLE001 — e.g. a cooperative grid too large to be resident
                    traceback.print_exc()
            record["eager"] = e = time_torch(w, X, Y, opts.epochs, False, dtype)
            c = None
            if not opts.no_compiled:
                try:
                    record["compiled"] = c = time_torch(w, X, Y, opts.epochs, True, dtype)
                except Exception:  # noqa: BLE001
                    traceback.print_exc()
            raw.append(record)
            cs = f"{c['seconds']:.4g}" if c else "—"
            cr = f"{c['seconds'] / s['seconds']:.2f}" if c else "—"
            cl = f"{c['loss']:.6g}" if c else "—"
            rows.append(f"| {dtype} | {name} | {s['seconds']:.4g} | {e['seconds']:.4g} | {cs} | "
                        f"{e['seconds'] / s['seconds']:.2f} | {cr} | {s['vs_cpu']:.1e} | "
                        f"{s['loss']:.6g}, {e['loss']:.6g}, {cl} |")
            print(rows[-1], flush=True)
    sweep = [f"| {r['dtype']} | {r['workload']} | {r['symnet']['seconds']:.4g} | " + ", ".join(
        f"{key.split('at most ')[1]}: {value['seconds']:.4g}" for key, value in r.items() if key.startswith("symnet, "))
        + " |" for r in raw if any(key.startswith("symnet, ") for key in r)]
    if sweep:
        rows += ["", "symnet's epoch (s) by the most blocks a launch may have x the threads of a block:", "",
                 "| dtype | workload | default (one a multiprocessor) | others |", "|---|---|---|---|", *sweep]
    text = (f"GPU: {gpu_name()}; {versions()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"median of {opts.epochs} epochs after a warm-up\n\n" + "\n".join(rows) + "\n")
    print(text)
    if opts.out:
        out = Path(opts.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "GPU.md").write_text(text)
        (out / "gpu.json").write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
