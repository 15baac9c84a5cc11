"""symnet's generated kernels side by side with what a user would pick instead (issues 7 and 16).

    python benchmarks/peers.py [--workload NAME] [--impl NAME] [--threads 1|2] [--dtype float64|float32]
                               [--epochs N] [--write-results]

Every implementation trains the same network from the same initial weights on the same data with the same plain
SGD in the same dtype (float64 unless ``--dtype float32``) — batches in the given order, no shuffling, the last
partial batch included (symnet's ``train_epoch`` contract) — each in its own process with the same thread
count. Per workload it prints seconds per epoch (median of the timed epochs, after one warm-up epoch that
absorbs compilation), the warm-up and setup seconds, the cores the process used over the timed epochs (CPU
time / wall time), the final loss E after the same epochs (judged by one NumPy function on every
implementation's final parameters) and the ratio time_impl / time_symnet. Every row is checked twice (see
``check_lines``): its final E against the NumPy float64 reference, and its parameters after the first epoch
against the NumPy trainer's after one epoch in the run's dtype; a row that fails either, or that did not
compute in the run's dtype, is marked DIFFERS. Then the matmul roofline of ``wide``'s shapes in the run's
dtype and (float64) the symbolic pipeline.

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

from implementations import DTYPES, IMPLEMENTATIONS, SYMNET, NotComparable, Skipped, Unavailable, make  # noqa: E402
from workloads import WORKLOADS, epoch_flops, initial_params, loss, make_data  # noqa: E402

# Every row is checked twice (README, "What makes the comparison fair"). The float32 numbers below were measured
# here: NumPy, torch and symnet in float32 against NumPy, and NumPy trainers altered on purpose.
#: its final loss against the NumPy float64 reference's, relative. float32: correct float32 training ends
#: 1e-8 (digits, deep) to 4e-6 (seed, 31 epochs) from it; lr 0.1 % off ends >= 1.6e-4 away, and lr 1 % off,
#: shuffled batches, a dropped last batch or one epoch fewer >= 1e-3.
FINAL_TOLERANCE = {"float64": 1e-9, "float32": 1e-4}
#: its first (warm-up) epoch's update against the NumPy trainer's first epoch in the run's dtype:
#: ‖θ₁ − θ₁ᴺᵘᵐᴾʸ‖ / ‖θ₁ᴺᵘᵐᴾʸ − θ₀‖ over all parameters. float32: correct implementations differ by <= 2e-6;
#: lr 0.1 % off by >= 3.7e-4, shuffled batches or a dropped last batch by >= 3e-2.
FIRST_EPOCH_TOLERANCE = {"float64": 1e-9, "float32": 1e-5}
#: the first-epoch tolerance for float32 on a workload with ReLU (not ``smooth``): an h that implementations
#: round to opposite sides of 0 parts their trajectories within wide's first epoch (correct float32 rows split
#: into two groups 4.3e-2 apart, as far apart as lr 1 % off: 7.9e-2), so only gross differences can be told
#: from rounding: a skipped epoch (1.0), shuffled batches (0.29). Its final loss is not judged: correct float32
#: rows end up to 8e-2 apart after 11 epochs, as far as one epoch fewer does.
ROUGH_FIRST_EPOCH_TOLERANCE = 0.15


def tolerances(w, dtype: str) -> tuple[float | None, float]:
    """(final loss tolerance or None when not judged, first-epoch tolerance) for a workload in a dtype."""
    if dtype == "float64" or w.smooth:
        return FINAL_TOLERANCE[dtype], FIRST_EPOCH_TOLERANCE[dtype]
    return None, ROUGH_FIRST_EPOCH_TOLERANCE


#: a 1-thread process that used more than this many cores over its timed epochs did not run on one thread
CORES_WARNING = 1.15
#: symnet's speed-up over the fastest peer that issue 16 asks for, per thread count (in float64 and float32
#: alike); on wide everyone's floor is BLAS, so there its target is the matmul roofline instead (one thread)
#: and the fastest peer's speed (two threads)
TARGETS = {1: {"seed": 1.6, "digits": 1.5, "wide": None, "deep": 1.15},
           2: {"seed": 1.6, "digits": 1.5, "wide": 1.0, "deep": 1.0}}
WIDE_ROOFLINE_TARGET = 0.95
#: the 2-thread epoch's speed-up over the 1-thread one that issue 16 asks for, where BLAS does most of the work
SCALING_TARGETS = {"wide": 1.7, "deep": 1.7}
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
               "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
CHILD_TIMEOUT = 900


def results_file(dtype: str) -> Path:
    """Where --write-results writes: RESULTS.md for float64 (issue 7's targets are float64), its own file
    for float32, so that neither run overwrites the other's tables."""
    return HERE / ("RESULTS.md" if dtype == "float64" else f"RESULTS-{dtype}.md")


def notes_file(dtype: str) -> Path:
    """The analysis of the results (what limits each workload, what would close a missed target): appended
    to the results file by --write-results; written by hand from the tables, so it is kept in its own file."""
    return HERE / ("NOTES.md" if dtype == "float64" else f"NOTES-{dtype}.md")


def load_average() -> tuple[float, float, float]:
    return os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3


def _load(la: tuple[float, float, float]) -> str:
    return " / ".join(f"{x:.2f}" for x in la)


# -- the child: one implementation, one workload ---------------------------------------------------

def _float64_copies(params) -> list[np.ndarray]:
    return [np.array(p, dtype=np.float64) for p in params]  # np.array copies: symnet updates θ in place


def child(args) -> None:
    """Train, time, save the parameters after the first and the last epoch; the parent judges them."""
    import gc

    import machine

    w = WORKLOADS[args.workload]
    with np.load(args.data) as f:  # already in the run's dtype: the parent converted them once for everyone
        X, Y = f["X"], f["Y"]
        params0 = [f[f"p{i}"] for i in range(2 * (len(w.layers) - 1))]
    result: dict = {"impl": args.impl, "workload": w.name, "dtype": X.dtype.name}
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
        first = _float64_copies(trainer.params())  # θ after one epoch: the first-epoch check
        times = []
        # as timeit does: collect once, then no collector pauses inside the timed epochs (a collect
        # before each epoch evicts the caches, which costs a 55 µs epoch as much as the epoch itself)
        gc.collect()
        gc.disable()
        try:
            # CPU time of every thread of this process (user + system, as getrusage(RUSAGE_SELF) counts it,
            # at ns resolution) over the wall time of the same epochs: the cores the implementation used
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(args.epochs):
                t = time.perf_counter()
                trainer.epoch()
                times.append(time.perf_counter() - t)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            gc.enable()
        final = trainer.params()
        seen = trainer.dtype_seen() if hasattr(trainer, "dtype_seen") else set()
        result.update(status="ok", times=times, info=getattr(trainer, "info", {}), cpu=cpu, timed_wall=wall,
                      cores=cpu / wall, affinity=machine.thread_cpus(),
                      dtypes=sorted({np.asarray(p).dtype.name for p in final} | set(seen)))
        np.savez(args.out + ".npz", *_float64_copies(final))
        np.savez(args.out + "-first.npz", *first)
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


def _saved_params(path: str) -> list[np.ndarray]:
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


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
        result["params"] = _saved_params(str(out) + ".npz")
        result["first"] = _saved_params(str(out) + "-first.npz")
    return result


def numpy_run(w, X, Y, params0, epochs: int, dtype: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The NumPy trainer's parameters after the first epoch and after the same 1 + epochs epochs, in
    ``dtype``, in this process (untimed); as float64 arrays."""
    trainer = make("numpy", 1)
    trainer.setup(w, X.astype(dtype), Y.astype(dtype), [p.astype(dtype) for p in params0])
    trainer.epoch()
    first = _float64_copies(trainer.params())
    for _ in range(epochs):
        trainer.epoch()
    return first, _float64_copies(trainer.params())


def _blas_threads(threads: int):
    """The parent's reference runs with the children's BLAS thread count: OpenBLAS rounds differently with
    one thread and two, and on wide in float32 that alone parts the trajectories (see
    ROUGH_FIRST_EPOCH_TOLERANCE)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(threads)


def reference(w, X, Y, params0, epochs: int, dtype: str, threads: int) -> dict:
    """What every row is judged against: the NumPy float64 run's final parameters and loss (the reference),
    and the NumPy trainer's first epoch in the run's dtype (the first-epoch check); and, for the table, how
    far NumPy's own final loss in the run's dtype lands from the float64 one."""
    with _blas_threads(threads):
        first, final = numpy_run(w, X, Y, params0, epochs, "float64")
        ref = {"params": final, "loss": loss(w, final, X, Y), "first": first, "own_rel_diff": 0.0}
        if dtype != "float64":
            ref["first"], own = numpy_run(w, X, Y, params0, epochs, dtype)
            ref["own_rel_diff"] = abs(loss(w, own, X, Y) - ref["loss"]) / abs(ref["loss"])
    return ref


def _max_rel_diff(params, ref_params) -> float:
    """max over the arrays of max |Δθ| / max |θ_ref|."""
    return max(float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)) for a, b in zip(params, ref_params))


def _update_diff(params, ref_params, params0) -> float:
    """‖θ − θ_ref‖ / ‖θ_ref − θ₀‖ over all parameters (2-norms): how far an epoch's update is from the
    reference's, relative to that update — a measure that does not shrink with the step size."""
    flat = [np.concatenate([np.ravel(p) for p in ps]) for ps in (params, ref_params, params0)]
    return float(np.linalg.norm(flat[0] - flat[1]) / max(np.linalg.norm(flat[1] - flat[2]), 1e-300))


def judge(w, result: dict, X, Y, params0, ref: dict, dtype: str, threads: int) -> None:
    """The row's checks: final loss against the float64 reference (where judged), first epoch against NumPy
    in the same dtype, the dtype it computed in; and its thread use."""
    if result["status"] != "ok":
        return
    final_tol, first_tol = tolerances(w, dtype)
    p = result.pop("params")
    result["loss"] = loss(w, p, X, Y)
    result["rel_diff"] = abs(result["loss"] - ref["loss"]) / abs(ref["loss"])
    result["param_diff"] = _max_rel_diff(p, ref["params"])
    result["first_diff"] = _update_diff(result.pop("first"), ref["first"], params0)
    result["final_ok"] = bool(result["rel_diff"] <= final_tol) if final_tol is not None else None
    result["first_ok"] = bool(result["first_diff"] <= first_tol)
    result["dtype_ok"] = result["dtypes"] == [dtype]
    result["agrees"] = result["final_ok"] is not False and result["first_ok"] and result["dtype_ok"]
    result["median"] = statistics.median(result["times"])
    result["warnings"] = thread_warnings(result, threads)


def thread_warnings(result: dict, threads: int) -> list[str]:
    """What says the row did not run on ``threads`` threads: more cores used than that, or threads allowed
    on CPUs outside the process's set (a library that widened its own affinity)."""
    out = []
    if result["cores"] > CORES_WARNING * threads:
        out.append(f"{result['impl']} used {result['cores']:.2f} cores over its timed epochs in a "
                   f"{threads}-thread run")
    allowed = set(result.get("affinity", {}).get("cpus", []))
    if allowed and allowed != cpu_set(threads):
        out.append(f"{result['impl']}'s threads may run on CPU(s) {','.join(map(str, sorted(allowed)))}, "
                   f"not just {','.join(map(str, sorted(cpu_set(threads))))}")
    return out


def _verdict(r: dict) -> str:
    """Why a row is marked DIFFERS ("" when it agrees)."""
    why = []
    if not r["dtype_ok"]:
        why.append(f"computed in {', '.join(r['dtypes'])}")
    if r["final_ok"] is False:
        why.append("final loss")
    if not r["first_ok"]:
        why.append("first epoch")
    return ", ".join(why)


def run_workload(name: str, impls: list[str], epochs: int, threads: int, dtype: str, env: dict, tmp: Path,
                 log=print) -> dict:
    w = WORKLOADS[name]
    epochs = epochs or w.epochs
    X, Y = make_data(w)
    params0 = initial_params(w)
    data = tmp / f"{name}.npz"
    np.savez(data, X=X.astype(dtype), Y=Y.astype(dtype), **{f"p{i}": p.astype(dtype) for i, p in enumerate(params0)})
    ref = reference(w, X, Y, params0, epochs, dtype, threads)
    final_tol, first_tol = tolerances(w, dtype)
    final = "not judged" if final_tol is None else f"≤ {final_tol:g} from NumPy float64's"
    log(f"  checks: final loss {final}, first epoch's update ≤ {first_tol:g} from NumPy {dtype}'s"
        + (f"; NumPy {dtype} itself ends {ref['own_rel_diff']:.1e} from float64" if dtype != "float64" else ""))
    rows = []
    for impl in impls:
        t = time.perf_counter()
        r = run_child(name, impl, data, epochs, threads, env, tmp)
        judge(w, r, X, Y, params0, ref, dtype, threads)
        r["wall"] = time.perf_counter() - t
        log(f"  {name:<7} {impl:<16} {r['status']:<15} "
            + (f"{r['median']:.4g} s/epoch, {r['cores']:.2f} cores, loss {r['loss']:.12g} (rel. diff "
               f"{r['rel_diff']:.1e}, epoch 1 update diff {r['first_diff']:.1e})"
               + ("" if r["agrees"] else f"  DIFFERS ({_verdict(r)})")
               if r["status"] == "ok" else r.get("reason", "")) + f"  ({r['wall']:.1f} s)")
        for warning in r.get("warnings", []):
            log(f"  warning: {warning}")
        rows.append(r)
    return {"workload": name, "describe": w.describe(), "epochs": epochs, "samples": len(X), "dtype": dtype,
            "flops": epoch_flops(w, len(X)), "initial_loss": loss(w, params0, X, Y), "reference_loss": ref["loss"],
            "own_rel_diff": ref["own_rel_diff"], "final_tolerance": final_tol, "first_tolerance": first_tol,
            "rows": rows}


def machine_children(threads: int, env: dict, dtype: str) -> dict:
    def run(what):
        proc = subprocess.run([sys.executable, str(HERE / "machine.py"), what], capture_output=True, text=True,
                              env=env, timeout=600, preexec_fn=pinned(threads))
        if proc.returncode:
            return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
        return json.loads(proc.stdout.strip().splitlines()[-1])

    import machine

    roof = {}
    for lib in machine.ROOFLINE_LIBRARIES:
        roof[lib] = run(f"roofline:{lib}:{dtype}")
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


def check_lines(res: dict) -> list[str]:
    """How this workload's rows were checked, with the tolerances (they depend on the dtype and workload)."""
    dtype, final_tol, first_tol = res["dtype"], res["final_tolerance"], res["first_tolerance"]
    final = (f"final E within {final_tol:g} relative of the NumPy float64 reference's (\"rel. diff\")"
             if final_tol is not None else
             f"final E *not judged* (ReLU in {dtype}: correct implementations' trajectories part once one rounds "
             "an h near 0 to the other side; \"rel. diff\" is shown for information)")
    line = (f"Checks ({dtype}): {final}; the first (warm-up) epoch's update within {first_tol:g} of the NumPy "
            f"trainer's first {dtype} epoch (\"epoch 1 update diff\" = ‖θ₁ − θ₁ᴺᵘᵐᴾʸ‖ / ‖θ₁ᴺᵘᵐᴾʸ − θ₀‖ over all "
            "parameters"
            + (", a coarse bound that catches only gross differences: a skipped epoch, shuffled batches)"
               if final_tol is None else ")")
            + f"; every gradient and parameter in {dtype}. \"max rel. Δθ\": final θ against the float64 "
            "reference, for information.")
    if dtype != "float64":
        line += f" NumPy's own {dtype} run ends {res['own_rel_diff']:.1e} from the float64 reference."
    return [line, ""]


def workload_table(res: dict, peak_gflops: float | None, threads: int) -> list[str]:
    rows = res["rows"]
    dtype = res["dtype"]
    sym = next((r for r in rows if r["impl"] == "symnet" and r["status"] == "ok"), None)
    wide = res["workload"] == "wide" and peak_gflops
    head = "| implementation | s / epoch (median) | min – max | warm-up | setup | cores used | GFLOP/s |"
    head += " % roofline |" if wide else ""
    judged = "not judged" if res["final_tolerance"] is None else f"≤ {res['final_tolerance']:g}"
    head += (f" final loss E | rel. diff ({judged}) | max rel. Δθ |"
             f" epoch 1 update diff (≤ {res['first_tolerance']:g}) | ratio to symnet |")
    lines = [f"### {res['describe']}", "",
             f"{res['samples']:,} samples, {dtype}, {res['epochs']} timed epochs after 1 warm-up; initial E = "
             f"{res['initial_loss']:.12g}, NumPy float64 reference E = {res['reference_loss']:.12g} after "
             f"{res['epochs'] + 1} epochs; {res['flops'] / 1e9:.3g} GFLOP of matrix products per epoch.", ""]
    lines += check_lines(res)
    lines += [head, "|---|" + "---:|" * (head.count("|") - 2)]
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
                 _fmt_s(r["warmup"]), _fmt_s(r["setup"]), f"{r['cores']:.2f}" + (" ⚠" if r["warnings"] else ""),
                 f"{gflops:.3g}"]
        if wide:
            cells.append(f"{100 * gflops / peak_gflops:.0f} %")
        mark = "" if r["agrees"] else f" **DIFFERS** ({_verdict(r)})"
        cells += [f"{r['loss']:.12g}{mark}", f"{r['rel_diff']:.1e}", f"{r['param_diff']:.1e}",
                  f"{r['first_diff']:.1e}", f"{med / sym['median']:.2f}×" if sym else "n/a"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    warnings = [w for r in rows if r["status"] == "ok" for w in r["warnings"]]
    if warnings:
        lines += ["**Thread check failed** (⚠): " + "; ".join(warnings) + ". Their timings do not compare "
                  "the same thread count.", ""]
    peers = [r for r in rows if r["status"] == "ok" and r["impl"] not in SYMNET and r["agrees"]]
    if peers:
        best = min(peers, key=lambda r: r["median"])
        line = f"Fastest peer: **{best['impl']}** ({_fmt_s(best['median'])} / epoch)."
        if sym:
            speedup = best["median"] / sym["median"]
            target = TARGETS[threads][res["workload"]]
            line += f" symnet: {_fmt_s(sym['median'])} / epoch, {speedup:.2f}× the fastest peer's speed"
            if target is not None:
                line += f" (target ≥ {target}×: {'met' if speedup >= target and sym['agrees'] else 'MISSED'})"
            line += "."
            if wide:
                frac = res["flops"] / sym["median"] / 1e9 / peak_gflops
                line += (f" symnet reaches {100 * frac:.0f} % of the roofline (target ≥ "
                         f"{100 * WIDE_ROOFLINE_TARGET:.0f} %: {'met' if frac >= WIDE_ROOFLINE_TARGET else 'MISSED'}).")
        else:
            line += " symnet: not measured (see its rows)."
        lines.append(line)
    bad = [f"{r['impl']} ({_verdict(r)})" for r in rows if r["status"] == "ok" and not r["agrees"]]
    if bad:
        lines.append(f"**Correctness check failed** for {', '.join(bad)}: see the checks above — their timings "
                     "compare different work.")
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


def summary_lines(results: list[dict], threads: int) -> list[str]:
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
                     f"{_fmt_s(sym['median']) if sym else '—'} | {ratio} | {_target_text(res['workload'], threads)} |")
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
    ap.add_argument("--dtype", choices=DTYPES, default="float64",
                    help="the dtype every implementation trains in (default float64); --write-results writes "
                         "float32 runs to RESULTS-float32.md")
    ap.add_argument("--epochs", type=int, default=0,
                    help="timed epochs after the warm-up epoch (>= 5; default per workload: "
                         + ", ".join(f"{w.name} {w.epochs}" for w in WORKLOADS.values()) + ")")
    ap.add_argument("--no-pipeline", action="store_true", help="skip the symbolic pipeline timing")
    ap.add_argument("--no-roofline", action="store_true", help="skip the matmul roofline")
    ap.add_argument("--no-profile", action="store_true", help="skip the profile of symnet's epoch")
    ap.add_argument("--keep-openblas-env", action="store_true",
                    help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the benchmark processes")
    ap.add_argument("--write-results", action="store_true",
                    help="write benchmarks/RESULTS.md (float64) or benchmarks/RESULTS-float32.md (float32)")
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
    """Each target of issue 16 at this thread count: met or missed, and by how much."""
    lines = []
    for res in results:
        rows = res["rows"]
        peers = [r for r in rows if r["status"] == "ok" and r["impl"] not in SYMNET and r["agrees"]]
        sym = next((r for r in rows if r["impl"] == "symnet" and r["status"] == "ok" and r["agrees"]), None)
        if not peers or not sym:
            continue
        best = min(peers, key=lambda r: r["median"])
        name, target = res["workload"], TARGETS[threads][res["workload"]]
        ratio = best["median"] / sym["median"]
        if target is not None:
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
            if share < WIDE_ROOFLINE_TARGET and prof.get("products"):
                lines.append(f"| | | | | why: the epoch's matrix products alone take {_fmt_s(prof['products'])} "
                             f"({res['flops'] / prof['products'] / 1e9:.0f} GFLOP/s, {prof['products'] / sym['median']:.0%} "
                             f"of symnet's epoch; the roofline alone is {_fmt_s(floor)}) |")
    return lines


def _target_text(workload: str, threads: int) -> str:
    target = TARGETS[threads][workload]
    return f"≥ {target}×" if target is not None else f"≥ {WIDE_ROOFLINE_TARGET:.0%} of the roofline"


def scaling_lines(runs: list[dict]) -> list[str]:
    """symnet's 2-thread epoch against its 1-thread one, where both thread counts ran."""
    by = {run["threads"]: {res["workload"]: next((r for r in res["rows"] if r["impl"] == "symnet"
                                                   and r["status"] == "ok"), None) for res in run["results"]}
          for run in runs}
    lines = []
    for name, target in SCALING_TARGETS.items():
        one, two = by.get(1, {}).get(name), by.get(2, {}).get(name)
        if one and two:
            ratio = one["median"] / two["median"]
            verdict = "met" if ratio >= target else f"**missed** by {(target / ratio - 1) * 100:.0f} %"
            lines.append(f"| {name} | 1 → 2 | symnet's 2-thread epoch ≥ {target}× faster than its 1-thread one | "
                         f"{ratio:.2f}× | {verdict} |")
    return lines


def thread_check_lines(results: list[dict], threads: int) -> list[str]:
    """The thread check of one thread count: every warning, or that there was none."""
    warnings = [w for res in results for r in res["rows"] if r["status"] == "ok" for w in r["warnings"]]
    if warnings:
        return [f"**Thread check ({threads} thread(s)) failed**: " + "; ".join(warnings) + ".", ""]
    return [f"Thread check: no implementation used more than {CORES_WARNING * threads:.2f} cores (CPU time of "
            f"all its threads / wall time, over its timed epochs: column \"cores used\"), and every thread "
            f"of each could run only on the run's {threads} CPU(s).", ""]


def run_threads(args, threads: int, workloads: list[str], impls: list[str]) -> dict:
    """Every selected workload and implementation at one thread count, the roofline and symnet's profile."""
    env = child_env(threads, args.keep_openblas_env)
    load_before = load_average()
    print(f"\n# {threads} thread(s), {args.dtype}; each process confined to CPU(s) "
          f"{','.join(map(str, sorted(cpu_set(threads))))}", flush=True)
    if load_before[0] > 0.5:
        print(f"warning: the machine is busy (load average {load_before[0]:.2f} over the last minute); "
              "timings will be noisy — run on a quiet machine for numbers to publish", flush=True)
    mach = machine_children(threads, env, args.dtype) if not args.no_roofline else {}
    if mach:
        print("\n".join(machine_lines(mach, threads, args.keep_openblas_env)), flush=True)
    peak = mach.get("peak", {}).get("gflops") if mach else None
    results = []
    with tempfile.TemporaryDirectory(prefix="symnet-bench-") as tmp:
        for name in workloads:
            print(f"\n== {WORKLOADS[name].describe()}", flush=True)
            results.append(run_workload(name, impls, args.epochs, threads, args.dtype, env, Path(tmp),
                                        log=lambda s: print(s, flush=True)))
    profiles = {}
    if "symnet" in impls and not args.no_profile:
        import epoch_profile

        print("\n== where symnet's epoch goes", flush=True)
        for name in workloads:
            profiles[name] = epoch_profile.measure(name, threads, env, pinned(threads), args.dtype)
    body = [f"# {threads} thread(s)", ""]
    if len(results) > 1:
        body += ["## Summary", ""] + summary_lines(results, threads) + [""]
    body += ["## Training: seconds per epoch", ""] + thread_check_lines(results, threads)
    for res in results:
        body += workload_table(res, peak, threads)
    if profiles:
        import epoch_profile

        body += ["## Where symnet's epoch goes", "",
                 f"symnet's {args.dtype} `train_epoch` against the same epoch's matrix products alone (the same "
                 "BLAS calls through the kernel's own `_gemm`, with the same shapes, α, β and batch rows; "
                 "`benchmarks/epoch_profile.py`), median of 10 rounds of one epoch and one epoch's products, "
                 "one process per workload. \"The rest\" is everything the kernel adds to its BLAS calls: bias, "
                 "activation and derivative passes, softmax and loss, bias gradients, the SGD update, the call "
                 "from Python.", ""]
        body += epoch_profile.table(list(profiles.values())) + [""]
    if mach:
        body += [f"## Matmul roofline: {args.dtype} GFLOP/s for wide's shapes (one 128-row batch, 784-256-10)", "",
                 "Best of 30 blocks of 10 calls into a preallocated output, each BLAS in its own process, "
                 f"{threads} thread(s).", ""]
        body += roofline_table(mach)
        if peak:
            body += ["", f"Roofline used for wide's % column: **{mach['peak']['gflops']:.1f} GFLOP/s** "
                         f"({mach['peak']['library']})."]
        body.append("")
    load = f"load average {load_before[0]:.2f} before the run, {load_average()[0]:.2f} after (1 min)"
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
    load_start = load_average()
    print(f"symnet vs peers — {date}, {' and '.join(map(str, thread_counts))} thread(s), {args.dtype}, plain SGD; "
          f"load average (1 / 5 / 15 min) {_load(load_start)} on {os.cpu_count()} CPUs", flush=True)
    runs = [run_threads(args, n, workloads, impls) for n in thread_counts]
    pipe = None
    if not args.no_pipeline and any(i in SYMNET for i in impls):
        if args.dtype == "float64":
            import pipeline

            print("\n== symbolic pipeline", flush=True)
            pipe = pipeline.measure(runs[0]["env"], preexec_fn=pinned(thread_counts[0]))
        else:  # derivation and generation do not depend on the dtype; the float64 run reports them
            print("\n(no symbolic pipeline timing: pipeline.py compiles float64 kernels; see RESULTS.md)", flush=True)
    body = []
    targets = [line for run in runs for line in run["targets"]] + scaling_lines(runs)
    if targets:
        stated = ("" if args.dtype == "float64" else
                  f" (issue 16 asks for the same targets in {args.dtype} against the peers in {args.dtype})")
        body += ["## Targets (issue 16)", "",
                 f"Ratios in one run, {args.dtype}, the same thread count for everyone: the fastest peer's seconds "
                 f"per epoch over symnet's (> 1: symnet is faster){stated}.", "",
                 "| workload | threads | target | measured | verdict |", "|---|---:|---|---:|---|"] + targets + [""]
    for run in runs:
        body += run["body"]
    if pipe is not None:
        import pipeline

        body += ["## Symbolic pipeline (seconds)", "", f"{thread_counts[0]} thread(s).", ""] + pipeline.table(pipe) + [""]
    elapsed = time.perf_counter() - started
    load_end = load_average()
    loads = f"Load average (1 / 5 / 15 min): {_load(load_start)} at the start, {_load(load_end)} at the end"
    print("\n" + "\n".join(body))
    print(f"{loads} ({os.cpu_count()} CPUs).")
    print(f"(whole run: {elapsed / 60:.1f} min)")
    if args.json:
        Path(args.json).write_text(json.dumps({"date": date, "dtype": args.dtype, "load_start": load_start,
                                               "load_end": load_end,
                                               "runs": [{k: v for k, v in r.items() if k not in ("body", "env")}
                                                        for r in runs], "pipeline": pipe},
                                              indent=1, default=str))
    if args.write_results:
        results = [res for run in runs for res in run["results"]]
        missing = [r["impl"] for res in results for r in res["rows"]
                   if r["impl"] == "symnet" and r["status"] != "ok"]
        if "symnet" not in impls or missing:
            why = "; ".join(sorted({r.get("reason", "") for res in results for r in res["rows"]
                                    if r["impl"] == "symnet" and r["status"] != "ok"})) or "not selected"
            print(f"not writing {results_file(args.dtype).name}: the symnet rows are missing or unavailable "
                  f"({why})", file=sys.stderr)
            return 2
        header = [f"# symnet vs peers: results{'' if args.dtype == 'float64' else ', ' + args.dtype}", "",
                  f"Produced by `python benchmarks/peers.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` "
                  f"on {date} (whole run {elapsed / 60:.1f} min). {args.dtype.capitalize()}, plain SGD, same data, "
                  "same initial weights, same batch order (no shuffling, last partial batch included) for everyone; "
                  "each implementation in its own process. Not part of the test suite.", "",
                  f"{loads}, on {os.cpu_count()} CPUs.", "", "## Machine", ""]
        mach = runs[-1]["machine"]
        notes_path = notes_file(args.dtype)
        notes = notes_path.read_text(encoding="utf-8").strip().splitlines() + [""] if notes_path.exists() else []
        text = "\n".join(header + (machine_lines(mach, thread_counts[-1], args.keep_openblas_env) if mach else [])
                         + [""] + body + notes) + "\n"
        results_file(args.dtype).write_text(text, encoding="utf-8")
        print(f"wrote {results_file(args.dtype)}")
    return 0 if all(r.get("agrees", True) for run in runs for res in run["results"] for r in res["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
