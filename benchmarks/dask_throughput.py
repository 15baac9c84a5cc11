"""Throughput of data-parallel training on a local Dask cluster (not a test).

    python benchmarks/dask_throughput.py [--epochs 3] [--batch-sizes 32,256] [--workers 1,2]

Trains 64-32-10 (sigmoid, softmax + cross-entropy) on digits-sized data (scikit-learn's digits, 1797 × 64,
standardised) with ``symnet.train.distributed.train_distributed`` on a ``LocalCluster`` of 1 and 2 worker
processes (one thread each), and, for scale, with the kernel's own fused ``train_epoch`` in this process.
Samples/s counts training rows visited per second after a warm-up epoch (which compiles the kernel on each
worker). Every global batch is one round trip driver → workers → driver, so on data this small the Dask
scheduler's per-task latency, not the kernel, sets the pace; larger batches amortise it.
Needs ``pip install 'symnet[dask,datasets]'``.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-sizes", default="32,256")
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]

    import distributed
    from sklearn.datasets import load_digits

    import symnet
    from symnet.train.distributed import _kernel, chunks_on_cluster, split_for_workers, train_distributed

    X, y = load_digits(return_X_y=True)
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    Y = np.eye(10)[y]
    net = symnet.Network.parse("64-32-10", hidden="sigmoid", output="softmax", loss="cce")
    kernel = _kernel(net)
    rows: list[tuple[str, int, float, float]] = []

    for b in batch_sizes:  # the fused compiled loop in one process, for scale
        params = kernel.init_params(0)
        kernel.train_epoch(params, X, Y, 0.1, b)  # compile
        t = time.perf_counter()
        for _ in range(args.epochs):
            kernel.train_epoch(params, X, Y, 0.1, b)
        s = time.perf_counter() - t
        rows.append(("in-process train_epoch (no Dask)", b, len(X) * args.epochs / s, s / args.epochs))

    for n in worker_counts:
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
        try:
            chunks = split_for_workers(client, X, Y)
            counts = chunks_on_cluster(chunks, client)[1]
            for b in batch_sizes:
                params = kernel.init_params(0)
                train_distributed(net, chunks, client, counts=counts, epochs=1, lr=0.1, batch_size=b,
                                  params=params)  # warm-up: compiles on the workers
                run = train_distributed(net, chunks, client, counts=counts, epochs=args.epochs, lr=0.1,
                                        batch_size=b, params=params)
                rows.append((f"Dask LocalCluster, {n} worker{'s' if n > 1 else ''}", b,
                             run.rows * args.epochs / run.seconds, run.seconds / args.epochs))
        finally:
            client.close()
            cluster.close()

    print(f"64-32-10 on digits ({len(X)} rows × 64), {args.epochs} epochs after a warm-up, "
          f"{os.cpu_count()} CPUs")
    print()
    print("| training | batch | samples/s | s/epoch |")
    print("|---|---:|---:|---:|")
    for name, b, sps, spe in rows:
        print(f"| {name} | {b} | {sps:,.0f} | {spe:.3g} |")


if __name__ == "__main__":
    main()
