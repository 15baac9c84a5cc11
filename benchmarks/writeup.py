"""How long `symnet derive SPEC` takes and how much memory it peaks at, wide against narrow, side by side in
one run (issue 12: 784-256-10 within 2x of 2-2-1, under 200 MB). Not a test: run it on an idle machine.

    python benchmarks/writeup.py [--repeat 3]

Each case runs the command in a fresh process (import, derivation, document) and reads its peak resident
memory from the kernel (getrusage of the child).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

CASES = [
    ["2-2-1"],
    ["784-256-10", "--hidden", "relu", "--output", "softmax", "--loss", "cce"],
    ["64-128-128-128-10", "--hidden", "relu", "--output", "softmax", "--loss", "cce"],
]


def run(args: list[str], out: str) -> tuple[float, float]:
    """Wall seconds and peak MB of one `symnet derive` process."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child becomes the command: its own rusage is then the command's alone
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.execvp(sys.executable, [sys.executable, "-m", "symnet", "derive", *args, "-o", out])
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"symnet derive {' '.join(args)} failed")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the fastest is reported")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for args in CASES:
            runs = [run(args, os.path.join(tmp, "out.tex")) for _ in range(opts.repeat)]
            rows.append((" ".join(args), min(s for s, _ in runs), max(mb for _, mb in runs)))
    base = rows[0][1]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; fastest of {opts.repeat} runs each")
    print(f"{'symnet derive':<62} {'seconds':>8} {'x 2-2-1':>8} {'peak MB':>8}")
    for spec, seconds, mb in rows:
        print(f"{spec:<62} {seconds:8.2f} {seconds / base:8.2f} {mb:8.0f}")


if __name__ == "__main__":
    main()
