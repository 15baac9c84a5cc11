"""symnet's GPU kernels (--target cuda) against PyTorch on CUDA, eager and compiled, on the four workloads
plus a large-batch one. Not a test: run it on a machine with an NVIDIA GPU and read the table.

    pip install '.[cuda]' torch      # a CUDA build of torch
    python benchmarks/gpu.py [--epochs N] [--out benchmarks/GPU.md]

Every implementation starts from the same weights (benchmarks/workloads.py) and takes the same batches in
the same order (no shuffling); each epoch is timed after one warm-up epoch (compilation, transfers of the
data). The ratio column is torch's seconds per epoch over symnet's: above 1, symnet is faster. The final
losses are printed side by side so that equal work can be checked.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import WORKLOADS, initial_params, loss, make_data  # noqa: E402

import symnet  # noqa: E402
import symnet.errors  # noqa: E402

LARGE = replace(WORKLOADS["digits"], name="digits-large-batch", batch_size=1024)


def time_symnet(w, X, Y, epochs: int) -> tuple[float, float]:
    net = symnet.Network.build(list(w.layers), list(w.hidden), w.output, w.loss)
    kernel = symnet.compile(net, target="cuda")
    params = [p.copy() for p in initial_params(w)]
    kernel.train_epoch(params, X, Y, w.lr, w.batch_size)  # warm-up: compiles the kernels
    t0 = time.perf_counter()
    for _ in range(epochs):
        kernel.train_epoch(params, X, Y, w.lr, w.batch_size)
    return (time.perf_counter() - t0) / epochs, loss(w, params, X, Y)


def time_torch(w, X, Y, epochs: int, compiled: bool) -> tuple[float, float]:
    import torch

    dev = torch.device("cuda")
    acts = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}
    params = [torch.tensor(p, device=dev, requires_grad=True) for p in initial_params(w)]
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

    epoch()
    t0 = time.perf_counter()
    for _ in range(epochs):
        epoch()
    seconds = (time.perf_counter() - t0) / epochs
    return seconds, loss(w, [p.detach().cpu().numpy() for p in params], X, Y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default=None, help="also write the table (Markdown) here")
    opts = parser.parse_args()
    rows = ["| workload | symnet s/epoch | torch eager | torch.compile | eager/symnet | compiled/symnet | "
            "final losses (symnet, eager, compiled) |", "|---|---|---|---|---|---|---|"]
    for w in [*WORKLOADS.values(), LARGE]:
        X, Y = make_data(w)
        try:
            s, ls = time_symnet(w, X, Y, opts.epochs)
        except symnet.errors.InputError as e:  # e.g. a layer wider than one thread keeps
            rows.append(f"| {w.name} | not generated: {e} | | | | | |")
            print(rows[-1], flush=True)
            continue
        e, le = time_torch(w, X, Y, opts.epochs, compiled=False)
        c, lc = time_torch(w, X, Y, opts.epochs, compiled=True)
        rows.append(f"| {w.name} | {s:.4g} | {e:.4g} | {c:.4g} | {e / s:.2f} | {c / s:.2f} | "
                    f"{ls:.6g}, {le:.6g}, {lc:.6g} |")
        print(rows[-1], flush=True)
    text = f"GPU: {os.environ.get('CUDA_VISIBLE_DEVICES', 'default device')}, {time.strftime('%Y-%m-%d')}\n\n" + \
        "\n".join(rows) + "\n"
    print(text)
    if opts.out:
        Path(opts.out).write_text(text)


if __name__ == "__main__":
    main()
