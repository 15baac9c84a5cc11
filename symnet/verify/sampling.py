"""Random points of a network, and the numeric comparison of a claim with the truth at them.

A point is drawn as exact two-digit decimals (parameters, inputs, valid targets, m), so that a person can
redo a counterexample by hand and it can be recomputed at any precision; the forward quantities are then
computed from it in 50-digit mpmath.  Only what the compared expressions read is drawn and computed,
and points where a ReLU-type kink is near are skipped.  A disagreement counts only if it survives being
recomputed at three times the precision.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable

import mpmath
import sympy as sp

from symnet.functions.losses import LOSSES
from symnet.derivation.model import Model, flat
from symnet.functions.layers import kind
from symnet.spec import Network
from symnet.derivation.names import parse_name
from symnet.errors import InputError
from symnet.functions.activations import Activation
from symnet.verify.evaluation import DIGITS, Point, Undefined, close, value
from symnet.verify.grammar import M

KINK_MARGIN = 0.05  # a ReLU-type argument closer than this to 0 makes a point unusable
# drawn values above which a point is costly enough to compare fewer of them, and the budget in all
_WORK_PER_POINT = 2000
_WORK_IN_ALL = 50_000

Draw = dict[sp.Symbol, str]  # drawn values as exact decimals, by symbol


class Sampler:
    """Draws points at which ``reads`` (the claim, the truth, the chain's factors) can be evaluated."""

    def __init__(self, model: Model, reads: Iterable[sp.Expr], seed: int):
        self.model = model
        self.rng = random.Random(seed)
        defs = model.definitions
        reads = list(reads)
        read = set().union(*(e.free_symbols for e in reads))
        self.needed = _closure(defs, read)
        self.drawn = set().union(read, *(defs[s].free_symbols for s in self.needed)) - set(defs)
        self.kinks = set().union(*(kink_arguments(e) for e in reads),
                                 *(kink_arguments(defs[s]) for s in self.needed))

    def affordable(self, points: int) -> int:
        """How many of ``points`` to compare: in a wide net each point costs thousands of 50-digit products."""
        if len(self.drawn) > _WORK_PER_POINT:
            return max(6, min(points, _WORK_IN_ALL // len(self.drawn)))
        return points

    def point(self) -> Point | None:
        """A random point at the working precision, or None where a kink is too close."""
        return self.at(self.draw())

    def draw(self) -> Draw:
        """Random parameters, inputs, targets (and m) as exact decimals of two significant digits."""
        r, m, net = self.rng, self.model, self.model.net
        base: Draw = {}

        def nonzero(scale: float = 1.0) -> str:
            return f"{r.choice((-1, 1)) * r.uniform(0.1, 1.5) * scale:.2g}"

        # weights scaled by 1/√fan-in past 4 inputs, so that wide layers do not saturate every unit
        for s in m.x:
            if s in self.drawn:
                base[s] = nonzero()
        g = m.graph
        for node in g.nodes:
            if not kind(node.kind).reads(node):
                continue
            scale = min(1.0, 2 / g.widths[node.inputs[0]] ** 0.5)
            for p in kind(node.kind).parameters(node, [g.widths[i] for i in node.inputs]):
                for s in flat(m.arrays[p.name]):
                    if s in self.drawn:
                        base[s] = nonzero(scale)
        if LOSSES[net.loss].one_hot:
            while True:
                raw = [r.uniform(0.05, 1) for _ in m.y]
                parts = [Decimal(f"{v / sum(raw):.2f}") for v in raw[:-1]]
                last = 1 - sum(parts)
                if last > Decimal("0.01") and all(p > 0 for p in parts):
                    break
            base.update(zip(m.y, map(str, [*parts, last])))
        elif LOSSES[net.loss].unit_interval:
            base.update((s, f"{r.uniform(0.05, 0.95):.2f}") for s in m.y)
        else:
            base.update((s, nonzero()) for s in m.y)
        base[M] = str(r.randint(3, 64))
        return base

    def at(self, base: Draw) -> Point | None:
        """The drawn values and the forward quantities at the current precision; None near a kink."""
        env: Point = {s: mpmath.mpf(v) for s, v in base.items()}
        try:
            for s in self.needed:
                env[s] = self._forward(s, env)
            if any(abs(value(k, env)) < KINK_MARGIN for k in self.kinks):
                return None
        except Undefined:
            return None
        return env

    def _forward(self, s: sp.Symbol, env: Point) -> mpmath.mpf:
        name = parse_name(s.name)
        if name.kind == "h" and isinstance(self.model.spec, Network):
            # h = Σ W a + b as one dot product: the bulk of the work in a wide layer
            k, j = name.layer, name.index[0] - 1
            m = self.model
            return mpmath.fdot([env[row[j]] for row in m.W[k]], [env[a] for a in m.a[k - 1]]) + env[m.b[k][j]]
        return value(self.model.definitions[s], env)


@dataclass
class Comparison:
    """The points where claim and truth agreed, and the first where they did not (with both values;
    ``claimed`` is None where the claim has no value)."""

    agreed: list[Point] = field(default_factory=list)
    counterexample: Point | None = None
    claimed: mpmath.mpf | None = None
    true: mpmath.mpf | None = None
    skipped: int = 0  # drawn points where the derivative itself has no value (not compared)


def compare(claim: sp.Expr, truth: sp.Expr, sampler: Sampler, points: int) -> Comparison:
    """Claim and truth at up to ``points`` random points where the truth is defined, stopping at the first
    disagreement.  Raises InputError when no point qualifies."""
    out = Comparison()
    tries = 0
    with mpmath.workdps(DIGITS):
        while len(out.agreed) < points and tries < 50 * points:
            tries += 1
            base = sampler.draw()
            env = sampler.at(base)
            if env is None:
                continue
            try:
                true = value(truth, env)
            except Undefined:
                out.skipped += 1
                continue
            try:
                claimed = value(claim, env)
            except Undefined:
                out.counterexample, out.true = env, true
                return out
            if not close(claimed, true) and not _close_when_precise(claim, truth, sampler, base):
                out.counterexample, out.claimed, out.true = env, claimed, true
                return out
            out.agreed.append(env)
    if not out.agreed:
        raise InputError("could not find a point where the derivative is defined and away from ReLU kinks")
    return out


def _close_when_precise(claim: sp.Expr, truth: sp.Expr, sampler: Sampler, base: Draw) -> bool:
    """Whether a disagreement was rounding: a claim that cancels large terms (s⁴⁰ − s⁴⁰ written two ways)
    loses digits, so the point is recomputed with three times as many before it counts."""
    with mpmath.workdps(3 * DIGITS):
        env = sampler.at(base)
        try:
            return env is not None and close(value(claim, env), value(truth, env))
        except Undefined:
            return False


def kink_arguments(expr: sp.Expr) -> set[sp.Expr]:
    """Where expr is not smooth: the arguments of ReLU-type functions and steps, the sides of conditions."""
    out: set[sp.Expr] = set()
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Heaviside, sp.Abs)) or (isinstance(node, Activation) and node.kinked()):
            out.add(node.args[0])
        elif isinstance(node, sp.core.relational.Relational):
            out.add(node.lhs - node.rhs)
    return {k for k in out if not k.is_number}


def _closure(definitions: dict[sp.Symbol, sp.Expr], read: set[sp.Symbol]) -> list[sp.Symbol]:
    """The forward quantities in ``read`` and what those read, in forward order."""
    need, stack = set(), [s for s in read if s in definitions]
    while stack:
        s = stack.pop()
        if s not in need:
            need.add(s)
            stack += [t for t in definitions[s].free_symbols if t in definitions]
    return [s for s in definitions if s in need]
