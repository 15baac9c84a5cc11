"""``symnet example``: the numbers of a hand calculation as a terminal table or JSON.

Everything printed comes from :class:`symnet.numeric.worked.WorkedExample`, the engine behind the
write-up's worked example too, so the two can never disagree.
"""
from __future__ import annotations

import json
import math


from symnet.numeric.worked import WorkedExample, fmt


def _d(f) -> str:
    return f"d{f.of}/d{f.wrt}"


def as_text(ex: WorkedExample) -> str:
    """Sections in the order of a hand calculation: forward pass, error, chains, gradients, update."""
    net = ex.derivation.net
    lines = [f"Worked example: {net.describe()}", ""]

    def table(title: str, rows: list[tuple[str, ...]], numbers: bool = True) -> None:
        """Names left-aligned; numbers right-aligned so their digits line up."""
        lines.append(title)
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        for r in rows:
            lines.append("  " + "  ".join(cell.rjust(w) if c and numbers else cell.ljust(w)
                                          for c, (cell, w) in enumerate(zip(r, widths))).rstrip())
        lines.append("")

    table("Forward pass", [(str(s), fmt(v)) for s, v in ex.inputs + ex.forward] + [(str(s), fmt(v)) for s, v in ex.targets])
    table("Error (one sample)", [("E", fmt(ex.error)), ("loss", net.loss)])
    rows = []
    for c in ex.chains:
        if c.paths is not None:
            for n, path in enumerate(c.paths, start=1):
                label = f"dE/d{c.param}" + (f" path {n}" if len(c.paths) > 1 else "")
                rows.append((label, " * ".join(f"{_d(f)} = {fmt(v)}" for f, v in path)))
        else:
            f, v = c.local
            rows.append((f"dE/d{c.param}", f"{_d(f)} = {fmt(v)} * delta = {fmt(c.delta)}"))
    table("Chain factors (local derivatives in chain order)", rows, numbers=False)
    table("Deltas (dE/dh, shared by back-propagation)", [(str(dl.symbol), fmt(v)) for dl, v in ex.deltas])
    table("Gradients", [(f"dE/d{c.param}", fmt(c.gradient)) for c in ex.chains])
    alpha = ex.values.learning_rate
    table(f"Update θ ← θ − α ∂E/∂θ with α = {fmt(alpha)}",
          [("parameter", "before", "gradient", "after")]
          + [(str(u.param), fmt(u.before), fmt(u.gradient), fmt(u.after)) for u in ex.updates])
    return "\n".join(lines).rstrip() + "\n"


def as_json(ex: WorkedExample) -> str:
    """The same numbers for machines (full float precision)."""

    def factor(f, v) -> dict:
        return {"of": str(f.of), "wrt": str(f.wrt), "expression": str(f.compact), "value": v}

    doc = {
        "spec": ex.derivation.net.describe(),
        "learning_rate": ex.values.learning_rate,
        "forward": {str(s): v for s, v in ex.inputs + ex.forward + ex.targets},
        "E": ex.error,
        "deltas": {str(dl.symbol): {"expression": str(dl.expr), "value": v} for dl, v in ex.deltas},
        "chains": {
            str(c.param): {
                "paths": None if c.paths is None else [[factor(f, v) for f, v in p] for p in c.paths],
                "gradient": c.gradient,
            }
            for c in ex.chains
        },
        "updated": {str(u.param): {"before": u.before, "gradient": u.gradient, "after": u.after} for u in ex.updates},
    }
    return json.dumps(_finite(doc), indent=2, allow_nan=False) + "\n"


def _finite(doc: object) -> object:
    """JSON has no inf or nan: such a number is written as the string "inf", "-inf" or "nan"."""
    if isinstance(doc, dict):
        return {k: _finite(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_finite(v) for v in doc]
    if isinstance(doc, float) and not math.isfinite(doc):
        return str(doc)
    return doc


__all__ = ["as_json", "as_text"]
