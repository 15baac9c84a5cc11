"""How long the symbolic derivation takes (issue: foundation). Not a test: run it and read the table.

    python benchmarks/derivation.py

Scalar form: every parameter's chain with its simplified delta (what kernels and write-ups read).
Layer form: the index rules of every layer, which do not depend on the widths.
"""
from __future__ import annotations

import subprocess
import sys
import time

CASES = [
    ("2-2-1", dict(hidden="sigmoid", output="sigmoid", loss="mse"), True),
    ("4-8-3", dict(hidden="sigmoid", output="softmax", loss="cce"), True),
    ("64-32-10", dict(hidden="sigmoid", output="softmax", loss="cce"), True),
    ("784-256-10", dict(hidden="relu", output="softmax", loss="cce"), False),
]

CHILD = """
import sys, time
t0 = time.perf_counter()
import symnet
from symnet.derivation.layer_form import layer_rule
t1 = time.perf_counter()
net = symnet.Network.parse({spec!r}, **{opts!r})
if {scalar}:
    d = symnet.derive(net)
    for p in d.model.params:
        d.chain(p)
    d.all_deltas()
t2 = time.perf_counter()
for k in range(1, net.depth + 1):
    layer_rule(net, k)
t3 = time.perf_counter()
print(net.n_params, t2 - t1 if {scalar} else float('nan'), t3 - t2)
"""


def main() -> None:
    print(f"{'network':<12} {'params':>8} {'scalar form (s)':>16} {'layer form (s)':>15}  target")
    for spec, opts, scalar in CASES:
        # a fresh process each: SymPy's caches would flatter the second case
        out = subprocess.run([sys.executable, "-c", CHILD.format(spec=spec, opts=opts, scalar=scalar)],
                             capture_output=True, text=True, check=True).stdout.split()
        n, t_scalar, t_layer = int(out[0]), float(out[1]), float(out[2])
        target = "scalar < 30 s" if n > 1000 else "scalar < 2 s"
        scalar_s = f"{t_scalar:16.2f}" if t_scalar == t_scalar else f"{'(not asked)':>16}"
        print(f"{spec:<12} {n:>8} {scalar_s} {t_layer:15.3f}  {target if scalar else ''}; layer < 2 s")


if __name__ == "__main__":
    main()
