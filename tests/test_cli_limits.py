"""Specs too large to build are refused before anything is built: one line, exit 2, little memory."""
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test compiles a kernel or runs a process

ROOT = Path(__file__).resolve().parents[1]

OVERSIZED = [
    (["derive", "100000-100000-1"], "the scalar form (one symbol each) is built for at most 300,000"),
    (["codegen", "100000-100000-1", "--mode", "unrolled", "-o", "k.py"], "use --mode indexed"),
    (["derive", "2-9223372036854775808-1"], "at most 1,000,000 per layer"),
    (["train", "2-20000-20000-1", "--data", "moons"], "over the 2 GiB a kernel may use"),
    (["gradcheck", "2-60000-60000-1"], "over the 2 GiB a kernel may use"),
    (["codegen", "-".join(["2"] * 52), "-o", "k.py"], "kernels are generated for at most 32"),
    (["train", "-".join(["2"] * 52), "--data", "moons", "--output", "softmax", "--loss", "cce"],
     "kernels are generated for at most 32"),
]


def run_measured(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Run a symnet command in a child that reports its own peak memory (MB) when it exits."""
    rss = cwd / "rss"
    # VmHWM, not ru_maxrss: a forked child's ru_maxrss starts at its parent's (pytest's) peak
    code = ("import atexit, re, sys\n"
            "peak = lambda: re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]\n"
            f"atexit.register(lambda: open({str(rss)!r}, 'w').write(peak()))\n"
            "from symnet.cli import main\n"
            f"sys.exit(main({args!r}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "SYMNET_CACHE": str(cwd / "cache"), "PATH": "/usr/bin:/bin"})
    return out, int(rss.read_text()) / 1024


@pytest.mark.parametrize("args, message", OVERSIZED, ids=[" ".join(a[:2]) for a, _ in OVERSIZED])
def test_an_oversized_spec_is_refused_in_one_line_without_allocating(args, message, tmp_path):
    out, peak_mb = run_measured(args, tmp_path)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert peak_mb < 400  # an interpreter with symnet imported takes about 150


def test_a_claim_on_a_huge_network_is_judged_from_the_slice_it_needs(tmp_path):
    out, peak_mb = run_measured(["check", "100000-100000-1", "--wrt", "W1[1,1]", "--claim", "x1"], tmp_path)
    assert out.returncode == 1 and "the claim is not" in out.stdout + out.stderr
    assert peak_mb < 600
