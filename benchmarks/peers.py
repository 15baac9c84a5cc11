"""symnet's generated kernels side by side with what a user would pick instead (issue 7).

    python benchmarks/peers.py [--workload NAME] [--impl NAME] [--threads 1|2] [--epochs N] [--write-results]

Every implementation trains the same network from the same initial weights on the same data with the same plain
SGD in float64 — batches in the given order, no shuffling, the last partial batch included (symnet's
``train_epoch`` contract) — each in its own process with the same thread count. Per workload it prints seconds
per epoch (median of the timed epochs, after one warm-up epoch that absorbs compilation), the warm-up and setup
seconds, the final loss E after the same epochs (judged by one NumPy function on every implementation's final
parameters; all must agree with the NumPy reference to 1e-9 relative, or the row is marked DIFFERS) and the
ratio time_impl / time_symnet. Then the float64 matmul roofline of ``wide``'s shapes and the symbolic pipeline.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set on some of these machines for old OpenBLAS builds) slow a current
NumPy; the children run without them (``--keep-openblas-env`` keeps them) and the header says which OpenBLAS
kernel runs. Nothing here is part of the test suite.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(HERE), str(ROOT)):
    if p not in sys.path:
        sys.path.insert(0, p)

from implementations import IMPLEMENTATIONS, SYMNET, NotComparable, Skipped, Unavailable, make  # noqa: E402
from workloads import WORKLOADS, epoch_flops, initial_params, loss, make_data  # noqa: E402

TOLERANCE = 1e-9  # relative agreement of every final loss with the NumPy reference
TARGETS = {  # symnet's speed-up over the fastest peer that the issue asks for
    "seed": 1.5, "digits": 1.3, "wide": 1.2, "deep": 1.0,
}
WIDE_ROOFLINE_TARGET = 0.80
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
               "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
CHILD_TIMEOUT = 900
#: the analysis of the results (what limits each workload, what would close a missed target): appended to
#: RESULTS.md by --write-results; written by hand from the profile tables, so it is kept in its own file
NOTES = HERE / "NOTES.md"


# -- the child: one implementation, one workload ---------------------------------------------------

def child(args) -> None:
    """Train, time, save the final parameters; the parent judges them."""
    import gc

    w = WORKLOADS[args.workload]
    with np.load(args.data) as f:
        X, Y = f["X"], f["Y"]
        params0 = [f[f"p{i}"] for i in range(2 * (len(w.layers) - 1))]
    result: dict = {"impl": args.impl, "workload": w.name}
    trainer = make(args.impl, args.threads)
    try:
        t = time.perf_counter()
        trainer.setup(w, X, Y, [p.copy() for p in params0])
        result["setup"] = time.perf_counter() - t
    except Unavailable as e:
        result.update(status="unavailable", reason=str(e))
    except Skipped as e:
        result.update(status="skipped", reason=str(e))
    except NotComparable as e:
        result.update(status="not comparable", reason=str(e))
    if "status" not in result:
        gc.collect()
        t = time.perf_counter()
        trainer.epoch()
        result["warmup"] = time.perf_counter() - t
        times = []
        # as timeit does: collect once, then no collector pauses inside the timed epochs (a collect
        # before each epoch evicts the caches, which costs a 55 µs epoch as much as the epoch itself)
        gc.collect()
        gc.disable()
        try:
            for _ in range(args.epochs):
                t = time.perf_counter()
                trainer.epoch()
                times.append(time.perf_counter() - t)
        finally:
            gc.enable()
        result.update(status="ok", times=times, info=getattr(trainer, "info", {}))
        np.savez(args.out + ".npz", *[np.asarray(p, dtype=np.float64) for p in trainer.params()])
    try:
        import threadpoolctl

        result["blas"] = [f"{lib.get('internal_api')} {lib.get('version') or ''} "
                          f"{lib.get('architecture') or ''} x{lib.get('num_threads')}".replace("  ", " ")
                          for lib in threadpoolctl.threadpool_info()]
    except ImportError:
        pass
    Path(args.out + ".json").write_text(json.dumps(result))


# -- the parent ------------------------------------------------------------------------------------

def child_env(threads: int, keep_openblas: bool) -> dict:
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    if threads == 1:  # XLA's CPU client: one intra-op thread, no Eigen thread pool
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    if not keep_openblas:
        for var in OPENBLAS_OVERRIDES:
            env.pop(var, None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def cpu_set(threads: int) -> set[int]:
    """The CPUs a benchmark process may run on: ``threads`` of them (the last ones this process may use)."""
    allowed = sorted(os.sched_getaffinity(0))
    return set(allowed[-threads:])


def pinned(threads: int):
    """A ``preexec_fn`` that confines the child (and every thread it starts) to ``threads`` CPUs: the one
    limit every library obeys, whatever its own thread settings do."""
    cpus = cpu_set(threads)
    return lambda: os.sched_setaffinity(0, cpus)


def run_child(workload: str, impl: str, data: Path, epochs: int, threads: int, env: dict, tmp: Path) -> dict:
    out = tmp / f"{workload}-{impl}"
    cmd = [sys.executable, str(HERE / "peers.py"), "--child", "--workload", workload, "--impl", impl,
           "--threads", str(threads), "--epochs", str(epochs), "--data", str(data), "--out", str(out)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT,
                              preexec_fn=pinned(threads))
    except subprocess.TimeoutExpired:
        return {"impl": impl, "status": "failed", "reason": f"timed out after {CHILD_TIMEOUT} s"}
    meta = Path(str(out) + ".json")
    if proc.returncode != 0 or not meta.exists():
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()] or [f"exit {proc.returncode}"]
        return {"impl": impl, "status": "failed", "reason": lines[-1][:300]}
    result = json.loads(meta.read_text())
    if result["status"] == "ok":
        with np.load(str(out) + ".npz") as f:
            result["params"] = [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]
    return result


def reference(w, X, Y, params0, epochs: int) -> list[np.ndarray]:
    """The NumPy trainer's final parameters after the same 1 + epochs epochs, in this process (untimed)."""
    trainer = make("numpy", 1)
    trainer.setup(w, X, Y, [p.copy() for p in params0])
    for _ in range(1 + epochs):
        trainer.epoch()
    return trainer.params()


def judge(w, result: dict, X, Y, ref_params, ref_loss: float) -> None:
    if result["status"] != "ok":
        return
    p = result.pop("params")
    result["loss"] = loss(w, p, X, Y)
    result["rel_diff"] = abs(result["loss"] - ref_loss) / abs(ref_loss)
    result["param_diff"] = max(float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))
                               for a, b in zip(p, ref_params))
    result["agrees"] = bool(result["rel_diff"] <= TOLERANCE)
    result["median"] = statistics.median(result["times"])


def run_workload(name: str, impls: list[str], epochs: int, threads: int, env: dict, tmp: Path,
                 log=print) -> dict:
    w = WORKLOADS[name]
    epochs = epochs or w.epochs
    X, Y = make_data(w)
    params0 = initial_params(w)
    data = tmp / f"{name}.npz"
    np.savez(data, X=X, Y=Y, **{f"p{i}": p for i, p in enumerate(params0)})
    ref_params = reference(w, X, Y, params0, epochs)
    ref_loss = loss(w, ref_params, X, Y)
    rows = []
    for impl in impls:
        t = time.perf_counter()
        r = run_child(name, impl, data, epochs, threads, env, tmp)
        judge(w, r, X, Y, ref_params, ref_loss)
        r["wall"] = time.perf_counter() - t
        log(f"  {name:<7} {impl:<16} {r['status']:<15} "
            + (f"{r['median']:.4g} s/epoch, loss {r['loss']:.12g}{'' if r['agrees'] else '  DIFFERS'}"
               if r["status"] == "ok" else r.get("reason", "")) + f"  ({r['wall']:.1f} s)")
        rows.append(r)
    return {"workload": name, "describe": w.describe(), "epochs": epochs, "samples": len(X),
            "flops": epoch_flops(w, len(X)), "initial_loss": loss(w, params0, X, Y), "reference_loss": ref_loss,
            "rows": rows}


def machine_children(threads: int, env: dict) -> dict:
    def run(what):
        proc = subprocess.run([sys.executable, str(HERE / "machine.py"), what], capture_output=True, text=True,
                              env=env, timeout=600, preexec_fn=pinned(threads))
        if proc.returncode:
            return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
        return json.loads(proc.stdout.strip().splitlines()[-1])

    import machine

    roof = {}
    for lib in machine.ROOFLINE_LIBRARIES:
        roof[lib] = run(f"roofline:{lib}")
    ok = {k: v for k, v in roof.items() if "gflops" in v}
    peak = max(ok.values(), key=lambda v: v["gflops"]) if ok else None
    return {"roofline": roof, "peak": peak, "blas": run("blas"), "cpu": machine.cpu_model(),
            "versions": machine.versions()}


# -- tables ----------------------------------------------------------------------------------------

def _fmt_s(x: float) -> str:
    if x >= 100:
        return f"{x:.0f}"
    if x >= 1:
        return f"{x:.2f}"
    if x >= 0.001:
        return f"{x * 1e3:.3g} ms"
    return f"{x * 1e6:.3g} µs"


def workload_table(res: dict, peak_gflops: float | None) -> list[str]:
    rows = res["rows"]
    sym = next((r for r in rows if r["impl"] == "symnet" and r["status"] == "ok"), None)
    wide = res["workload"] == "wide" and peak_gflops
    head = "| implementation | s / epoch (median) | min – max | warm-up | setup | GFLOP/s |"
    head += " % roofline |" if wide else ""
    head += " final loss E | rel. diff | max rel. Δθ | ratio to symnet |"
    lines = [f"### {res['describe']}", "",
             f"{res['samples']:,} samples, {res['epochs']} timed epochs after 1 warm-up; initial E = "
             f"{res['initial_loss']:.12g}, NumPy reference E = {res['reference_loss']:.12g} after "
             f"{res['epochs'] + 1} epochs; {res['flops'] / 1e9:.3g} GFLOP of matrix products per epoch.", "",
             head, "|---|" + "---:|" * (head.count("|") - 2)]
    for r in rows:
        if r["status"] != "ok":
            why = r.get("reason", "")
            lines.append(f"| {r['impl']} | {r['status']}: {why} |" + " |" * (head.count("|") - 3))
            continue
        med = r["median"]
        gflops = res["flops"] / med / 1e9
        kernel_mode = (r.get("info") or {}).get("kernel mode")
        label = r["impl"] + (f" (kernel: {kernel_mode})" if kernel_mode and r["impl"] == "symnet" else "")
        cells = [label, _fmt_s(med), f"{_fmt_s(min(r['times']))} – {_fmt_s(max(r['times']))}",
                 _fmt_s(r["warmup"]), _fmt_s(r["setup"]), f"{gflops:.3g}"]
        if wide:
            cells.append(f"{100 * gflops / peak_gflops:.0f} %")
        mark = "" if r["agrees"] else " **DIFFERS**"
        cells += [f"{r['loss']:.12g}{mark}", f"{r['rel_diff']:.1e}", f"{r['param_diff']:.1e}",
                  f"{med / sym['median']:.2f}×" if sym else "n/a"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    peers = [r for r in rows if r["status"] == "ok" and r["impl"] not in SYMNET and r["agrees"]]
    if peers:
        best = min(peers, key=lambda r: r["median"])
        line = f"Fastest peer: **{best['impl']}** ({_fmt_s(best['median'])} / epoch)."
        if sym:
            speedup = best["median"] / sym["median"]
            target = TARGETS[res["workload"]]
            verdict = "met" if speedup >= target and sym["agrees"] else "MISSED"
            line += (f" symnet: {_fmt_s(sym['median'])} / epoch, {speedup:.2f}× the fastest peer's speed "
                     f"(target ≥ {target}×: {verdict}).")
            if wide:
                frac = res["flops"] / sym["median"] / 1e9 / peak_gflops
                line += (f" symnet reaches {100 * frac:.0f} % of the roofline (target ≥ "
                         f"{100 * WIDE_ROOFLINE_TARGET:.0f} %: {'met' if frac >= WIDE_ROOFLINE_TARGET else 'MISSED'}).")
        else:
            line += " symnet: not measured (see its rows)."
        lines.append(line)
    bad = [r["impl"] for r in rows if r["status"] == "ok" and not r["agrees"]]
    if bad:
        lines.append(f"**Correctness check failed** for {', '.join(bad)}: final loss differs from the NumPy "
                     f"reference by more than {TOLERANCE:g} relative — their timings compare different work.")
    lines.append("")
    return lines


def roofline_table(mach: dict) -> list[str]:
    import machine

    names = [n for n, *_ in machine.WIDE_GEMMS]
    lines = ["| BLAS | " + " | ".join(names) + " | the batch's mix |", "|---|" + "---:|" * (len(names) + 1)]
    for lib, v in mach["roofline"].items():
        if "gflops" not in v:
            lines.append(f"| {lib} | unavailable: {v.get('error', '')} |" + " |" * len(names))
            continue
        lines.append(f"| {v['library']} | " + " | ".join(f"{v['per_gemm'][n]:.1f}" for n in names)
                     + f" | **{v['gflops']:.1f}** |")
    return lines


def machine_lines(mach: dict, threads: int, keep_openblas: bool) -> list[str]:
    v = mach["versions"]
    blas = mach["blas"]
    lines = [f"- CPU: {mach['cpu']}",
             f"- threads: {threads} for every implementation (OMP/MKL/OPENBLAS/NUMBA_NUM_THREADS, "
             f"torch.set_num_threads{', XLA --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1' if threads == 1 else ''}), "
             f"and each process confined to CPU(s) {','.join(map(str, sorted(cpu_set(threads))))} (sched_setaffinity)",
             f"- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: {'kept as set' if keep_openblas else 'unset for the benchmark processes'}"]
    if "blas" in blas:
        for lib in blas["blas"]:
            lines.append(f"- {lib['user_api']}: {lib['internal_api']} {lib['version'] or ''} "
                         f"({lib['file']}), kernel {lib['architecture'] or '—'}, {lib['threading_layer'] or ''} "
                         f"{lib['num_threads']} threads".replace("  ", " "))
        lines.append(f"- torch: {blas.get('torch')}")
        lines.append(f"- pytensor: {blas.get('pytensor')} (empty BLAS flags: PyTensor's C back end calls BLAS "
                     f"through NumPy's C API)")
    lines.append("- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    return lines


def summary_lines(results: list[dict]) -> list[str]:
    """One line per workload: the fastest peer and symnet's ratio."""
    lines = ["| workload | fastest peer | its s / epoch | symnet s / epoch | symnet speed-up | target |",
             "|---|---|---:|---:|---:|---:|"]
    for res in results:
        rows = res["rows"]
        peers = [r for r in rows if r["status"] == "ok" and r["impl"] not in SYMNET and r["agrees"]]
        sym = next((r for r in rows if r["impl"] == "symnet" and r["status"] == "ok"), None)
        if not peers:
            continue
        best = min(peers, key=lambda r: r["median"])
        ratio = f"{best['median'] / sym['median']:.2f}×" if sym else "—"
        lines.append(f"| {res['workload']} | {best['impl']} | {_fmt_s(best['median'])} | "
                     f"{_fmt_s(sym['median']) if sym else '—'} | {ratio} | ≥ {TARGETS[res['workload']]}× |")
    return lines


# -- main ------------------------------------------------------------------------------------------

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", action="append", choices=list(WORKLOADS),
                    help="a workload (repeat for several; default: all)")
    ap.add_argument("--impl", action="append", choices=list(IMPLEMENTATIONS),
                    help="an implementation (repeat for several; default: all)")
    ap.add_argument("--threads", type=int, choices=(1, 2), action="append",
                    help="threads for every implementation (default 2; repeat for both: --threads 1 --threads 2)")
    ap.add_argument("--epochs", type=int, default=0,
                    help="timed epochs after the warm-up epoch (>= 5; default per workload: "
                         + ", ".join(f"{w.name} {w.epochs}" for w in WORKLOADS.values()) + ")")
    ap.add_argument("--no-pipeline", action="store_true", help="skip the symbolic pipeline timing")
    ap.add_argument("--no-roofline", action="store_true", help="skip the matmul roofline")
    ap.add_argument("--no-profile", action="store_true", help="skip the profile of symnet's epoch")
    ap.add_argument("--keep-openblas-env", action="store_true",
                    help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the benchmark processes")
    ap.add_argument("--write-results", action="store_true", help="write benchmarks/RESULTS.md")
    ap.add_argument("--json", metavar="FILE", help="also save the raw results as JSON")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        args.workload, args.impl, args.threads = args.workload[0], args.impl[0], args.threads[0]
        return args
    if args.epochs and args.epochs < 5:
        ap.error("--epochs must be at least 5 (the median of at least 5 timed epochs)")
    return args


def target_lines(results: list[dict], threads: int, peak: float | None, profiles: dict) -> list[str]:
    """Each target of issue 7 at this thread count: met or missed, and by how much."""
    lines = []
    for res in results:
        rows = res["rows"]
        peers = [r for r in rows if r["status"] == "ok" and r["impl"] not in SYMNET and r["agrees"]]
        sym = next((r for r in rows if r["impl"] == "symnet" and r["status"] == "ok" and r["agrees"]), None)
        if not peers or not sym:
            continue
        best = min(peers, key=lambda r: r["median"])
        name, target = res["workload"], TARGETS[res["workload"]]
        ratio = best["median"] / sym["median"]
        verdict = "met" if ratio >= target else (
            f"**missed** by {(target / ratio - 1) * 100:.0f} % (needs ≤ {_fmt_s(best['median'] / target)} / epoch)")
        lines.append(f"| {name} | {threads} | ≥ {target}× the fastest peer ({best['impl']}) | {ratio:.2f}× | {verdict} |")
        if name == "wide" and peak:
            share = res["flops"] / sym["median"] / 1e9 / peak
            floor = res["flops"] / peak / 1e9
            verdict = "met" if share >= WIDE_ROOFLINE_TARGET else f"**missed** by {(WIDE_ROOFLINE_TARGET - share) * 100:.0f} points"
            lines.append(f"| wide | {threads} | ≥ {WIDE_ROOFLINE_TARGET:.0%} of the matmul roofline "
                         f"({peak:.1f} GFLOP/s: {_fmt_s(floor)} / epoch) | {share:.0%} | {verdict} |")
            prof = profiles.get("wide", {})
            if ratio < target and prof.get("products"):
                lines.append(f"| | | | | why: the epoch's matrix products alone take {_fmt_s(prof['products'])} "
                             f"({res['flops'] / prof['products'] / 1e9:.0f} GFLOP/s, {prof['products'] / sym['median']:.0%} "
                             f"of symnet's epoch; the roofline alone is {_fmt_s(floor)}): {target}× "
                             f"{best['impl']} needs {_fmt_s(best['median'] / target)} |")
    return lines


def run_threads(args, threads: int, workloads: list[str], impls: list[str]) -> dict:
    """Every selected workload and implementation at one thread count, the roofline and symnet's profile."""
    env = child_env(threads, args.keep_openblas_env)
    load_before = os.getloadavg()
    print(f"\n# {threads} thread(s)", flush=True)
    if load_before[0] > 0.5:
        print(f"warning: the machine is busy (load average {load_before[0]:.2f} over the last minute); "
              "timings will be noisy — run on a quiet machine for numbers to publish", flush=True)
    mach = machine_children(threads, env) if not args.no_roofline else {}
    if mach:
        print("\n".join(machine_lines(mach, threads, args.keep_openblas_env)), flush=True)
    peak = mach.get("peak", {}).get("gflops") if mach else None
    results = []
    with tempfile.TemporaryDirectory(prefix="symnet-bench-") as tmp:
        for name in workloads:
            print(f"\n== {WORKLOADS[name].describe()}", flush=True)
            results.append(run_workload(name, impls, args.epochs, threads, env, Path(tmp),
                                        log=lambda s: print(s, flush=True)))
    profiles = {}
    if "symnet" in impls and not args.no_profile:
        import epoch_profile

        print("\n== where symnet's epoch goes", flush=True)
        for name in workloads:
            profiles[name] = epoch_profile.measure(name, threads, env, pinned(threads))
    body = [f"# {threads} thread(s)", ""]
    if len(results) > 1:
        body += ["## Summary", ""] + summary_lines(results) + [""]
    body += ["## Training: seconds per epoch", ""]
    for res in results:
        body += workload_table(res, peak)
    if profiles:
        import epoch_profile

        body += ["## Where symnet's epoch goes", "",
                 "symnet's `train_epoch` against the same epoch's matrix products alone (the same BLAS calls, "
                 "shapes and batch rows, from `@njit` code; `benchmarks/epoch_profile.py`), median of 10 epochs, "
                 "one process per workload. \"The rest\" is everything the kernel adds to its BLAS calls: bias, "
                 "activation and derivative passes, softmax and loss, bias gradients, the SGD update, the call "
                 "from Python.", ""]
        body += epoch_profile.table(list(profiles.values())) + [""]
    if mach:
        body += ["## Matmul roofline: float64 GFLOP/s for wide's shapes (one 128-row batch, 784-256-10)", "",
                 "Best of 30 blocks of 10 calls into a preallocated output, each BLAS in its own process, "
                 f"{threads} thread(s).", ""]
        body += roofline_table(mach)
        if peak:
            body += ["", f"Roofline used for wide's % column: **{mach['peak']['gflops']:.1f} GFLOP/s** "
                         f"({mach['peak']['library']})."]
        body.append("")
    load = f"load average {load_before[0]:.2f} before the run, {os.getloadavg()[0]:.2f} after (1 min)"
    body += [f"Machine load during the {threads}-thread run: {load}.", ""]
    return {"threads": threads, "machine": mach, "results": results, "profiles": profiles, "body": body,
            "targets": target_lines(results, threads, peak, profiles), "env": env}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        child(args)
        return 0
    workloads = args.workload or list(WORKLOADS)
    impls = args.impl or list(IMPLEMENTATIONS)
    thread_counts = sorted(set(args.threads or [2]))
    started = time.perf_counter()
    date = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print(f"symnet vs peers — {date}, {' and '.join(map(str, thread_counts))} thread(s), float64, plain SGD",
          flush=True)
    runs = [run_threads(args, n, workloads, impls) for n in thread_counts]
    pipe = None
    if not args.no_pipeline and any(i in SYMNET for i in impls):
        import pipeline

        print("\n== symbolic pipeline", flush=True)
        pipe = pipeline.measure(runs[0]["env"], preexec_fn=pinned(thread_counts[0]))
    body = []
    targets = [line for run in runs for line in run["targets"]]
    if targets:
        body += ["## Targets (issue 7)", "",
                 "Ratios in one run, float64, the same thread count for everyone: the fastest peer's seconds per "
                 "epoch over symnet's (> 1: symnet is faster).", "",
                 "| workload | threads | target | measured | verdict |", "|---|---:|---|---:|---|"] + targets + [""]
    for run in runs:
        body += run["body"]
    if pipe is not None:
        import pipeline

        body += ["## Symbolic pipeline (seconds)", "", f"{thread_counts[0]} thread(s).", ""] + pipeline.table(pipe) + [""]
    elapsed = time.perf_counter() - started
    print("\n" + "\n".join(body))
    print(f"(whole run: {elapsed / 60:.1f} min)")
    if args.json:
        Path(args.json).write_text(json.dumps({"date": date, "runs": [{k: v for k, v in r.items() if k not in ("body", "env")}
                                                                      for r in runs], "pipeline": pipe},
                                              indent=1, default=str))
    if args.write_results:
        results = [res for run in runs for res in run["results"]]
        missing = [r["impl"] for res in results for r in res["rows"]
                   if r["impl"] == "symnet" and r["status"] != "ok"]
        if "symnet" not in impls or missing:
            why = "; ".join(sorted({r.get("reason", "") for res in results for r in res["rows"]
                                    if r["impl"] == "symnet" and r["status"] != "ok"})) or "not selected"
            print(f"not writing RESULTS.md: the symnet rows are missing or unavailable ({why})", file=sys.stderr)
            return 2
        header = ["# symnet vs peers: results", "",
                  f"Produced by `python benchmarks/peers.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` "
                  f"on {date} (whole run {elapsed / 60:.1f} min). Float64, plain SGD, same data, same initial "
                  "weights, same batch order (no shuffling, last partial batch included) for everyone; each "
                  "implementation in its own process. Not part of the test suite.", "", "## Machine", ""]
        mach = runs[-1]["machine"]
        notes = NOTES.read_text(encoding="utf-8").strip().splitlines() + [""] if NOTES.exists() else []
        text = "\n".join(header + (machine_lines(mach, thread_counts[-1], args.keep_openblas_env) if mach else [])
                         + [""] + body + notes) + "\n"
        (HERE / "RESULTS.md").write_text(text, encoding="utf-8")
        print(f"wrote {HERE / 'RESULTS.md'}")
    return 0 if all(r.get("agrees", True) for run in runs for res in run["results"] for r in res["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
