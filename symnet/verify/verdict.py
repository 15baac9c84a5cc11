"""Checking hand calculus: is a claimed ∂of/∂wrt the derivative the derivation gives, and if not, why not.

The truth is the derivation's own derivative (``d.derivative(of, wrt)``), never re-derived here.  A claim
(parsed safely by :mod:`symnet.verify.grammar`) may use the forward quantities h, a, ŷ or write them out; both are
compared as functions of x, y and the parameters:

* **numerically** — at random points (parameters, inputs, valid targets, and m for a batch) in 50-digit
  mpmath arithmetic, with ReLU-type kinks kept at a distance; any disagreement is a counterexample;
* **symbolically** — under a time limit: the claim is folded back into the forward quantities and the
  difference cancelled, then activations are written out as exponentials and cancelled again, then
  everything is written down to x and the parameters and simplified.  A proof is reported as such; a
  claim that agrees at every point but resists simplification in time is reported as checked numerically.

When the claim is wrong and the chain is a product (or a sum of products over paths), the claim's factors
are matched against the chain's: which factor is missing, extra or wrong, a flipped sign, a forgotten 1/m.
"""
from __future__ import annotations

import random
import signal
import threading
from contextlib import contextmanager
from decimal import Decimal
from dataclasses import dataclass, field
from itertools import islice
from typing import Iterator

import mpmath
import sympy as sp

from symnet.derivation.activations import Activation, LeakyReLU, ReLU, expand_definitions
from symnet.verify.grammar import M, Names, latex_to_claim, parse_claim
from symnet.derivation.chains import E, Derivation, Factor, derive
from symnet.errors import InputError
from symnet.derivation.names import parse_name
from symnet.spec import Network

DIGITS = 50  # working precision of the numeric comparison
TOLERANCE = mpmath.mpf(10) ** -30  # relative; 20 digits of headroom for cancellation inside a claim
_NOISE = mpmath.mpf(10) ** -48
KINK_MARGIN = 0.05  # a ReLU-type argument closer than this to 0 makes a point unusable
_FINGERPRINT_POINTS = 4  # points at which factors are compared when matching a claim's factors to the chain's

_GLYPH = {"sigmoid": "σ", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "LReLU", "softplus": "softplus",
          "identity": "id"}


@dataclass
class Verdict:
    """Whether ``claim`` is ∂of/∂wrt, with the evidence either way.

    ``truth`` is the correct expression (the derivation's, in the forward quantities); ``chain`` its
    chain-rule factors in order (∂E/∂ŷ first) when there is one path.  An incorrect verdict carries a
    ``counterexample`` (the point's values by name), the ``claimed_value`` and ``true_value`` there and a
    ``diagnosis``; ``proved`` says whether the equality (or the claim's correctness) was shown symbolically.
    """

    correct: bool
    of: str
    wrt: str
    claim: sp.Expr
    truth: sp.Expr
    chain: tuple[tuple[str, sp.Expr], ...] = ()
    proved: bool = False
    points: int = 0
    counterexample: dict[str, float] | None = None
    claimed_value: float | None = None
    true_value: float | None = None
    diagnosis: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    source: str = ""  # the claim as written, when it was given as text

    @property
    def claim_text(self) -> str:
        return self.source or text(self.claim)

    def __bool__(self) -> bool:
        return self.correct

    @property
    def derivative(self) -> str:
        return f"∂{self.of}/∂{self.wrt}"

    @property
    def chain_text(self) -> str:
        """The chain-rule product in order: ``(yhat - y) · yhat*(1 - yhat) · W2[1,1] · …``."""
        return " · ".join(_paren(e) for _, e in self.chain if e != 1)

    def report(self) -> str:
        """A few readable lines: the verdict, the correct expression, and why."""
        lines = []
        if self.correct:
            lines.append(f"correct: {self.derivative} = {self.claim_text}")
            how = ("proved symbolically (the difference simplifies to 0) and confirmed"
                   if self.proved else "equal (not proved symbolically in the time allowed)")
            lines.append(f"  {how} at {self.points} random points, {DIGITS} digits")
        else:
            lines.append(f"incorrect: the claim is not {self.derivative}")
            lines.append(f"  claim:      {self.claim_text}")
            lines.append(f"  correct:    {text(self.truth)}")
            if self.chain and len(self.chain) > 1:
                lines.append(f"  chain rule: {self.chain_text}")
            for d in self.diagnosis:
                lines.append(f"  diagnosis:  {d}")
            if self.counterexample is not None:
                lines.append(f"  counterexample: {_point_text(self.counterexample)}")
                claimed = "undefined" if self.claimed_value is None else _fmt(self.claimed_value)
                lines.append(f"    claimed value {claimed}, true value {_fmt(self.true_value)}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def check(
    net: Network | Derivation | str,
    wrt: str,
    claim: str | sp.Expr,
    of: str = "E",
    *,
    latex: bool = False,
    batch: bool = False,
    points: int = 24,
    seed: int = 0,
    time_limit: float = 4.0,
) -> Verdict:
    """Check a hand-derived ∂of/∂wrt: ``symnet.check(net, wrt="W1[1,1]", claim="(yhat - y)*…")``.

    ``claim`` is text in the claim grammar (or LaTeX with ``latex=True``); ``batch`` says that E is the
    mean over m samples and the claim is one sample's term of the sum (so it carries the 1/m) — implied
    when the claim uses ``m``.  ``time_limit`` bounds the symbolic work, in seconds.
    """
    d = net if isinstance(net, Derivation) else derive(net)
    names = Names(d.net, d.model)
    of_s = _quantity(d, names, of, "--of")
    wrt_s = _quantity(d, names, wrt, "--wrt")
    if of_s != E and of_s not in d.model.definitions:
        raise InputError(f"--of {of} is not a computed quantity; use E, h<k>[j], a<k>[j] or yhat")
    if d.count_paths(of_s, wrt_s) == 0:
        raise InputError(f"{of_s} does not depend on {wrt_s} (the derivative is 0); did you swap --of and --wrt?")
    if isinstance(claim, sp.Basic):
        expr = sp.sympify(claim)
        unknown = expr.free_symbols - set(names.symbols.values())
        if unknown:
            raise InputError(f"unknown name {sorted(map(str, unknown))[0]!r} in the claim; the "
                             f"{d.net.compact} network has {names.summary()}")
    else:
        claim = latex_to_claim(claim, d.net) if latex else claim
        expr = parse_claim(claim, names)
    batch = batch or M in expr.free_symbols
    if batch and of_s != E:
        raise InputError("m and --batch belong to derivatives of E, the mean over the m samples")
    verdict = _Check(d, of_s, wrt_s, expr, batch, points, seed, time_limit).verdict()
    if isinstance(claim, str):
        verdict.source = " ".join(claim.split())
    return verdict


def text(expr: sp.Expr) -> str:
    """An expression in the claim grammar, terms in their natural order (``yhat - y``)."""
    return sp.sstr(expr, order="none")


# -- the check ------------------------------------------------------------------------------


class _Undefined(Exception):
    """The expression has no real value at this point (log of a negative, division by zero)."""


class _Timeout(Exception):
    pass


class _Check:
    def __init__(self, d: Derivation, of: sp.Symbol, wrt: sp.Symbol, claim: sp.Expr, batch: bool,
                 points: int, seed: int, time_limit: float):
        self.d, self.of, self.wrt, self.claim, self.batch = d, of, wrt, claim, batch
        self.n_points, self.time_limit = points, time_limit
        self.rng = random.Random(seed)
        self.model = d.model
        truth = d.expand_deltas(d.derivative(of, wrt))
        self.truth = truth / M if batch else truth
        self.notes: list[str] = []
        # one-hot (or soft) targets sum to 1: the derivation used it for softmax + cce, so the claim may too
        self.simplex = d.net.loss == "cce"
        self.y_rule: dict[sp.Symbol, sp.Expr] = {}
        if self.simplex and (self.truth.free_symbols | claim.free_symbols) & set(self.model.y):
            ys = self.model.y
            self.y_rule = {ys[-1]: 1 - sp.Add(*ys[:-1])}
            self.notes.append(f"targets sum to 1 ({' + '.join(map(str, ys))} = 1), as for one-hot labels")
        if batch:
            self.notes.append("E is the mean over m samples: the claim is one sample's term of the sum over them")
        self.kinks = _kink_arguments(self.claim) | _kink_arguments(self.truth)
        self.links = self._links()
        self.needed = self._needed_definitions()
        defs = self.model.definitions
        self.drawn = set().union(*(defs[s].free_symbols for s in self.needed), self._read) - set(defs)
        if len(self.drawn) > 2000:
            # a wide net: each point costs thousands of 50-digit products
            self.n_points = max(6, min(points, 50_000 // len(self.drawn)))
        for s in self.needed:
            self.kinks |= _kink_arguments(self.model.definitions[s])
        if self.kinks:
            self.notes.append(f"ReLU-type kinks avoided: every point keeps its kink arguments at least "
                              f"{KINK_MARGIN} away from 0")

    # -- verdict ---------------------------------------------------------------------------
    def verdict(self) -> Verdict:
        with mpmath.workdps(DIGITS):
            points, counter = self._compare()
        chain = self._single_chain()
        common = dict(of=str(self.of), wrt=str(self.wrt), claim=self.claim, truth=self.truth, chain=chain)
        if counter is None:
            proved = self._prove()
            return Verdict(True, proved=proved, points=len(points), notes=tuple(self.notes), **common)
        point, claimed, true = counter
        with mpmath.workdps(DIGITS):
            diagnosis = self._diagnose([point, *points])
        shown = self._shown(point)
        return Verdict(False, proved=False, points=len(points) + 1, counterexample=shown,
                       claimed_value=None if claimed is None else float(claimed), true_value=float(true),
                       diagnosis=tuple(diagnosis), notes=tuple(self.notes), **common)

    def _compare(self) -> tuple[list[dict], tuple[dict, mpmath.mpf | None, mpmath.mpf] | None]:
        """Points where claim and truth agree, or the first counterexample."""
        agreed: list[dict] = []
        tries = 0
        while len(agreed) < self.n_points and tries < 50 * self.n_points:
            tries += 1
            base = self._draw()
            env = self._environment(base)
            if env is None:
                continue
            try:
                true = _value(self.truth, env)
            except _Undefined:
                continue
            try:
                claimed = _value(self.claim, env)
            except _Undefined:
                return agreed, (env, None, true)
            if not _close(claimed, true) and not self._close_when_precise(base):
                return agreed, (env, claimed, true)
            agreed.append(env)
        if not agreed:
            raise InputError("could not find a point where the derivative is defined and away from ReLU kinks")
        return agreed, None

    def _close_when_precise(self, base: dict[sp.Symbol, str]) -> bool:
        """Whether a disagreement was rounding: a claim that cancels large terms (s⁴⁰ − s⁴⁰ written
        two ways) loses digits, so the point is recomputed with three times as many before it counts."""
        with mpmath.workdps(3 * DIGITS):
            env = self._environment(base)
            try:
                return env is not None and _close(_value(self.claim, env), _value(self.truth, env))
            except _Undefined:
                return False

    # -- random points ---------------------------------------------------------------------
    def _needed_definitions(self) -> list[sp.Symbol]:
        """The forward quantities the claim and the truth read, and what those read, in forward order."""
        defs = self.model.definitions
        self._read = self.claim.free_symbols | self.truth.free_symbols
        for path in self.links or []:
            self._read |= set().union(*(link.expr.free_symbols for link in path))
        need, stack = set(), [s for s in self._read if s in defs]
        while stack:
            s = stack.pop()
            if s not in need:
                need.add(s)
                stack += [t for t in defs[s].free_symbols if t in defs]
        return [s for s in defs if s in need]

    def _point(self) -> dict[sp.Symbol, mpmath.mpf] | None:
        """A random point at the working precision, or None where a kink is too close."""
        return self._environment(self._draw())

    def _draw(self) -> dict[sp.Symbol, str]:
        """Random parameters, inputs, targets (and m) as exact decimals of two significant digits, so
        that a person can redo a counterexample by hand and it can be recomputed at any precision."""
        r, m, net = self.rng, self.model, self.d.net
        base: dict[sp.Symbol, str] = {}

        def nonzero(scale: float = 1.0) -> str:
            return f"{r.choice((-1, 1)) * r.uniform(0.1, 1.5) * scale:.2g}"

        # only what the claim, the truth and the chain read (a 784-input net has 25,000 parameters);
        # weights scaled by 1/√fan-in past 4 inputs, so that wide layers do not saturate every unit
        for s in m.x:
            if s in self.drawn:
                base[s] = nonzero()
        for k in range(1, net.depth + 1):
            scale = min(1.0, 2 / net.layers[k - 1] ** 0.5)
            for s in [*(w for row in m.W[k] for w in row), *m.b[k]]:
                if s in self.drawn:
                    base[s] = nonzero(scale)
        if net.loss == "cce":
            while True:
                raw = [r.uniform(0.05, 1) for _ in m.y]
                parts = [Decimal(f"{v / sum(raw):.2f}") for v in raw[:-1]]
                last = 1 - sum(parts)
                if last > Decimal("0.01") and all(p > 0 for p in parts):
                    break
            base.update(zip(m.y, map(str, [*parts, last])))
        elif net.loss == "bce":
            base.update((s, f"{r.uniform(0.05, 0.95):.2f}") for s in m.y)
        else:
            base.update((s, nonzero()) for s in m.y)
        base[M] = str(r.randint(3, 64))
        return base

    def _environment(self, base: dict[sp.Symbol, str]) -> dict[sp.Symbol, mpmath.mpf] | None:
        """The drawn values and the forward quantities at the current precision; None near a kink."""
        env: dict[sp.Symbol, mpmath.mpf] = {s: mpmath.mpf(v) for s, v in base.items()}
        try:
            for s in self.needed:
                env[s] = self._forward(s, env)
            if any(abs(_value(k, env)) < KINK_MARGIN for k in self.kinks):
                return None
        except _Undefined:
            return None
        return env

    def _forward(self, s: sp.Symbol, env: dict) -> mpmath.mpf:
        name = parse_name(s.name)
        if name.kind == "h":
            # h = Σ W a + b as one dot product: the bulk of the work in a wide layer
            k, j = name.layer, name.index[0] - 1
            m = self.model
            return mpmath.fdot([env[row[j]] for row in m.W[k]], [env[a] for a in m.a[k - 1]]) + env[m.b[k][j]]
        return _value(self.model.definitions[s], env)

    def _shown(self, env: dict) -> dict[str, float]:
        """The counterexample by name: inputs, targets, parameters, m, then the forward quantities used."""
        used = self.claim.free_symbols | self.truth.free_symbols
        m = self.model
        everything = [*m.x, *m.y, *m.params]
        base = [s for s in everything if s in env and (len(m.params) <= 12 or s in used)]
        base = base + ([M] if self.batch else [])
        forward = [s for s in self.needed if s in used]
        return {str(s): float(env[s]) for s in base + forward}

    # -- symbolic proof --------------------------------------------------------------------
    def _prove(self) -> bool:
        """Whether claim − truth simplifies to 0, within the time limit (False when it did not)."""
        try:
            with _time_limit(self.time_limit) as bounded:
                if not bounded and sp.count_ops(self.claim) > 200:
                    return False  # cannot interrupt SymPy here (not the main thread): stay cheap
                for stage in (self._stage_forward, self._stage_exponentials, self._stage_inputs):
                    if stage() == 0:
                        return True
                    if not bounded:
                        return False
        except _Timeout:
            self.notes.append(f"symbolic simplification stopped after {self.time_limit:g} s")
        except Exception:  # SymPy gave up (Piecewise in cancel, …): the numeric verdict stands
            pass
        return False

    def _fold(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` in the forward quantities wherever it writes one out: σ(h2[1]) becomes yhat,
        W1[1,1]*x1 + W1[2,1]*x2 + b1[1] becomes h1[1] (also inside a longer sum), bottom-up, so that
        σ(W2[1,1]σ(…) + …) folds all the way."""
        return _Folder(self.model.definitions).fold(expr)

    def _stage_forward(self) -> sp.Expr:
        """h, a, ŷ as independent symbols: the chain rule's own algebra."""
        return sp.cancel((self._fold(self.claim) - self._fold(self.truth)).xreplace(self.y_rule))

    def _stage_exponentials(self) -> sp.Expr:
        """Activations written out as exponentials of h: σ(−h) = 1 − σ(h), σ′ = e⁻ʰ/(1 + e⁻ʰ)², …"""
        m = self.model
        outputs = {s: df for s, df in m.definitions.items() if s.name.startswith(("a", "yhat"))}
        diff = (self._fold(self.claim) - self._fold(self.truth)).xreplace(outputs).xreplace(self.y_rule)
        return sp.cancel(expand_definitions(diff))

    def _stage_inputs(self) -> sp.Expr:
        """Everything written down to x, y and the parameters, then simplified."""
        diff = (self.claim - self.truth).xreplace(self.y_rule)
        diff = diff.xreplace({s: self.model.forward_expression(s) for s in diff.free_symbols
                              if s in self.model.definitions})
        return sp.simplify(expand_definitions(diff))

    # -- diagnosis -------------------------------------------------------------------------
    def _single_chain(self) -> tuple[tuple[str, sp.Expr], ...]:
        paths = self.links
        return tuple((link.label, link.expr) for link in paths[0]) if paths and len(paths) == 1 else ()

    def _links(self) -> list[list["_Link"]] | None:
        """The chain as the diagnosis compares it: one list of factors per path, ∂E/∂… first.

        With a softmax output or binary cross-entropy the output layer's factors only make sense
        together (their product collapses to ŷ − y), so there the chain starts at δ⁽ᴸ⁾ = ∂E/∂h⁽ᴸ⁾."""
        d, L = self.d, self.d.net.depth
        n = d.count_paths(self.of, self.wrt)
        if n > 16:
            return None
        collapsed = self.of == E and (d.net.output == "softmax" or d.net.loss == "bce") and \
            self.wrt not in self.model.yhat
        paths: list[list[_Link]] = []
        if collapsed:
            for h in self.model.h[L]:
                if h == self.wrt:
                    paths.append([self._delta_link(h)])
                elif d.count_paths(h, self.wrt):
                    paths += [[self._delta_link(h), *map(self._link, p.factors)] for p in d.paths(h, self.wrt)]
        else:
            paths = [[self._link(f) for f in p.factors] for p in d.paths(self.of, self.wrt)]
        if self.batch:
            paths = [[_Link("1/m", 1 / M, "E is the mean over the m samples"), *p] for p in paths]
        return paths

    def _link(self, f: Factor) -> "_Link":
        of, wrt = f.of, f.wrt
        label = f"∂{of}/∂{wrt}"
        if f.rule == "activation":
            layer = parse_name(wrt.name).layer
            label += f" = {_GLYPH[self.d.net.activations[layer - 1]]}′({wrt})"
        return _Link(label, f.compact, of=f.of)

    def _delta_link(self, h: sp.Symbol) -> "_Link":
        net = self.d.net
        why = {"cce": "softmax + cross-entropy", "bce": f"{net.output} + binary cross-entropy"}.get(
            net.loss, f"{net.output} + {net.loss}")
        if self.simplex:
            why += ", targets summing to 1"
        j = parse_name(h.name).index[0]
        return _Link(f"∂E/∂{h} = δ{net.depth}[{j}] ({why})", self.d.delta(h).expr, of=E)

    def _diagnose(self, points: list[dict]) -> list[str]:
        try:
            with _time_limit(self.time_limit):
                paths = self.links
                if paths is None:
                    return []
                # the agreed points and the counterexample, topped up with fresh ones
                fresh = (p for p in (self._point() for _ in range(20 * _FINGERPRINT_POINTS)) if p is not None)
                points = [*points[:_FINGERPRINT_POINTS], *islice(fresh, max(0, _FINGERPRINT_POINTS - len(points)))]
                fp = _Fingerprints(points)
                return _Diagnosis(self, paths, fp).lines()
        except (_Timeout, _Undefined):
            return []


class _Folder:
    """Replaces written-out forward definitions by their symbols, bottom-up."""

    def __init__(self, definitions: dict[sp.Symbol, sp.Expr]):
        self.exact = {df: s for s, df in definitions.items()}
        # sums and products also fold when they contain a definition's terms among others
        self.partial = [(df.func, set(df.args), s) for s, df in definitions.items()
                        if isinstance(df, (sp.Add, sp.Mul))]
        self.memo: dict[sp.Expr, sp.Expr] = {}

    def fold(self, expr: sp.Expr) -> sp.Expr:
        if expr in self.memo:
            return self.memo[expr]
        out = expr
        if expr.args:
            out = expr.func(*(self.fold(a) for a in expr.args))
        if isinstance(out, (sp.Add, sp.Mul)):
            out = self._partial(out)
        out = self.exact.get(out, out)
        self.memo[expr] = out
        return out

    def _partial(self, node: sp.Expr) -> sp.Expr:
        changed = True
        while changed and isinstance(node, (sp.Add, sp.Mul)):
            changed = False
            args = set(node.args)
            for func, terms, sym in self.partial:
                if func is node.func and terms < args:
                    node = func(*(args - terms), sym)
                    changed = True
                    break
        return node


@dataclass(frozen=True)
class _Link:
    """One factor of the chain: what it is (``∂a1[1]/∂h1[1] = σ′(h1[1])``) and its compact value."""

    label: str
    expr: sp.Expr
    why: str = ""
    of: sp.Symbol | None = None  # the quantity differentiated

    def describe(self) -> str:
        value = "" if self.label == text(self.expr) else f" = {text(self.expr)}"
        return f"{self.label}{value}" + (f" ({self.why})" if self.why else "")


# -- matching a claim's factors with the chain's ---------------------------------------------


class _Fingerprints:
    """Values of expressions at a few points: two factors are "the same" when their values agree
    everywhere (up to sign), whatever names they are written in — σ(h2[1]) and yhat alike."""

    def __init__(self, points: list[dict]):
        self.points = points
        self._cache: dict[sp.Expr, tuple | None] = {}

    def of(self, expr: sp.Expr) -> tuple | None:
        if expr not in self._cache:
            try:
                self._cache[expr] = tuple(_value(expr, p) for p in self.points)
            except _Undefined:
                self._cache[expr] = None
        return self._cache[expr]

    def same(self, a: sp.Expr, b: sp.Expr) -> int:
        """+1 if a = b at every point, −1 if a = −b, 0 otherwise."""
        va, vb = self.of(a), self.of(b)
        if va is None or vb is None:
            return 0
        for sign in (1, -1):
            if all(_close(x, sign * y) for x, y in zip(va, vb)):
                return sign
        return 0


@dataclass
class _Atom:
    base: sp.Expr
    exp: sp.Expr
    link: int | None = None  # the chain factor it comes from (None for the claim's)
    sign: int = 1  # −1 when it matched its class up to sign


@dataclass
class _Class:
    """Atoms equal as functions (up to sign)."""

    rep: sp.Expr
    chain: list[_Atom] = field(default_factory=list)
    claim: list[_Atom] = field(default_factory=list)



class _Diagnosis:
    def __init__(self, c: _Check, paths: list[list[_Link]], fp: _Fingerprints):
        self.c, self.paths, self.fp = c, paths, fp

    def lines(self) -> list[str]:
        claim = self.c.claim
        if len(self.paths) == 1:
            return self._product(claim, self.paths[0])
        terms = self._terms(claim)
        out: list[str] = []
        assigned: dict[int, list[sp.Expr]] = {}
        for t in terms:
            scores = [self._overlap(t, p) for p in self.paths]
            best = max(range(len(self.paths)), key=lambda i: scores[i])
            assigned.setdefault(best, []).append(t)
        for i, path in enumerate(self.paths):
            through = ", ".join(str(link.of) for link in path[1:-1])
            if i not in assigned:
                out.append(f"missing the path through {through}: "
                           f"{' · '.join(_paren(link.expr) for link in path if link.expr != 1)}")
                continue
            part = sp.Add(*assigned[i])
            product = sp.Mul(*(link.expr for link in path))
            if self.fp.same(part, product) == 1:
                continue
            out += [f"on the path through {through}: {line}" for line in self._product(part, path)]
        if not out:
            out.append(f"the chain has {len(self.paths)} paths and the claim does not add up to their sum")
        return out

    def _terms(self, claim: sp.Expr) -> list[sp.Expr]:
        """The claim as a sum over paths: its terms, with a factored-out sum distributed when its terms
        go different ways (x1·a1(1 − a1)·(W2[1,1]·δ… + W2[1,2]·δ…)); at most 64 terms."""
        products = [sp.Mul(*(link.expr for link in p)).free_symbols for p in self.paths]
        branching = set().union(*products) - set.intersection(*products)
        terms, done = [claim], []
        while terms:
            t = terms.pop()
            if isinstance(t, sp.Add):
                terms += t.args
                continue
            split = next((f for f in sp.Mul.make_args(t) if isinstance(f, sp.Add)
                          and len({frozenset(a.free_symbols & branching) for a in f.args}) > 1), None)
            if split is None:
                done.append(t)
            else:
                rest = t / split
                terms += [rest * a for a in split.args]
            if len(done) + len(terms) > 64:
                return [claim]
        return done[::-1]

    def _overlap(self, term: sp.Expr, path: list[_Link]) -> int:
        _, atoms = _factors(term)
        chain = [a for link in path for a in _factors(link.expr)[1]]
        return sum(1 for a, _ in atoms if any(self.fp.same(a, b) for b, _ in chain))

    def _product(self, claim: sp.Expr, path: list[_Link]) -> list[str]:
        """Which factors of one path the claim (a product) lacks, adds or has wrong."""
        coeff, claim_atoms = _factors(claim)
        if len(claim_atoms) == 1 and isinstance(claim_atoms[0][0], sp.Add) and len(path) > 1:
            return ["the claim is a sum that does not factor, so it cannot be compared factor by factor "
                    "with the chain rule's product"]
        classes: list[_Class] = []

        def place(atom: _Atom, side: str) -> None:
            for cl in classes:
                sign = self.fp.same(atom.base, cl.rep)
                if sign:
                    atom.sign = sign
                    getattr(cl, side).append(atom)
                    return
            cl = _Class(atom.base)
            getattr(cl, side).append(atom)
            classes.append(cl)

        chain_coeff = sp.Integer(1)
        for i, link in enumerate(path):
            k, atoms = _factors(link.expr)
            chain_coeff *= k
            for base, e in atoms:
                place(_Atom(base, e, i), "chain")
        for base, e in claim_atoms:
            place(_Atom(base, e), "claim")

        missing, extra = [], []
        for cl in classes:
            lack, more = _imbalance(cl)
            if lack:
                missing.append((cl, lack))
            if more:
                extra.append((cl, more))
        out: list[str] = []
        # which chain factors the missing atoms belong to: a factor is missing entirely, or in part
        short: dict[int, list[tuple[sp.Expr, sp.Expr]]] = {}
        for cl, amount in missing:
            short.setdefault(cl.chain[-1].link, []).append((cl.chain[-1].base, amount))
        extra_expr = sp.Mul(*(_claim_base(cl) ** amount for cl, amount in extra)) if extra else None
        whole = [i for i in short if self._entire(path[i], short[i])]
        ratios = self._ratios(claim, path, missing, extra)
        if len(short) == 1 and whole and extra:
            i = whole[0]
            if ratios is not None and not any(_close(r, m) or _close(r * m, 1) for r, m in ratios):
                # a wrong factor with a sign or number of its own: show it with them (-y2/yhat[2])
                extra_expr *= _rational(ratios[0][0])
                ratios = None
            line = (f"wrong {path[i].label}: the claim has {text(extra_expr)} where the chain has "
                    f"{text(path[i].expr)}")
            out.append(line + self._hint_weight(extra_expr, path[i].expr))
        else:
            for i, lacking in short.items():
                if i in whole:
                    out.append(f"missing {path[i].describe()}")
                else:
                    lacks = sp.Mul(*(b ** e for b, e in lacking))
                    out.append(f"incomplete {path[i].describe()}: the claim lacks {text(lacks)}")
            if extra:
                out.append(f"extra factor {text(extra_expr)}" + self._hint_extra(extra))
        if ratios is not None:
            out += self._constant(ratios, classes)
        if not out:
            out.append("the claim's factors are the chain's, but it is not their product")
        return out

    def _entire(self, link: _Link, lacking: list[tuple[sp.Expr, sp.Expr]]) -> bool:
        _, atoms = _factors(link.expr)
        return len(lacking) == len(atoms)

    def _ratios(self, claim: sp.Expr, path: list[_Link], missing: list,
                extra: list) -> list[tuple[mpmath.mpf, mpmath.mpf]] | None:
        """claim / chain at each point once the missing and extra factors are put right, with m there;
        None unless that is a constant other than 1 (or a multiple of m)."""
        product = sp.Mul(*(link.expr for link in path))
        fixed = claim * sp.Mul(*(cl.chain[-1].base ** a for cl, a in missing)) / sp.Mul(
            *(_claim_base(cl) ** a for cl, a in extra))
        vals, want = self.fp.of(fixed), self.fp.of(product)
        if vals is None or want is None or any(w == 0 for w in want):
            return None
        ratios = [(v / w, p[M]) for v, w, p in zip(vals, want, self.fp.points)]
        if _close(ratios[0][0], 1) and all(_close(r, 1) for r, _ in ratios):
            return None
        constant = all(_close(r, ratios[0][0]) for r, _ in ratios)
        in_m = any(all(_close(r, k * m ** e) for r, m in ratios) for k in (1, -1) for e in (1, -1))
        return ratios if constant or in_m else None

    def _constant(self, ratios: list[tuple[mpmath.mpf, mpmath.mpf]], classes: list[_Class]) -> list[str]:
        """Name the constant between claim and chain: a sign, a forgotten 1/m, a factor 2, …"""
        ratio = ratios[0][0]
        flipped = [a for cl in classes for a in cl.claim if a.sign == -1 and a.exp % 2 == 1
                   if not any(b.sign == -1 for b in cl.chain)]
        if _close(ratio, -1):
            if len(flipped) == 1:
                a = flipped[0]
                cl = next(cl for cl in classes if a in cl.claim)
                want_atom = cl.chain[0].base if cl.chain else -a.base
                return [f"wrong sign: the claim has {text(a.base)} where the chain has {text(want_atom)}"]
            return ["wrong sign: the claim is the negative of the derivative"]
        for sign in (1, -1):
            if all(_close(r, sign * m) for r, m in ratios):
                return [("missing factor 1/m: E is the mean over the m samples, so each sample's term is "
                         "divided by m") + ("; and the sign is wrong" if sign == -1 else "")]
            if all(_close(r * m, sign) for r, m in ratios):
                return ["extra factor 1/m" + ("; and the sign is wrong" if sign == -1 else "")]
        return [f"off by a constant factor {text(_rational(ratio))}"]

    def _hint_weight(self, got: sp.Expr, want: sp.Expr) -> str:
        g, w = parse_name(getattr(got, "name", "")), parse_name(getattr(want, "name", ""))
        if not (g and w and g.kind == w.kind == "W"):
            return ""
        transposed = " (indices transposed)" if g.index == w.index[::-1] and g.layer == w.layer else ""
        return f"{transposed}; {got} connects {self._source(g)} to h{g.layer}[{g.index[1]}]"

    def _source(self, name) -> str:
        k, i = name.layer, name.index[0]
        return str(self.c.model.a[k - 1][i - 1])

    def _hint_extra(self, extra: list) -> str:
        net = self.c.d.net
        if net.output not in ("softmax", "sigmoid") or net.loss not in ("cce", "bce"):
            return ""
        yhat = set(self.c.model.yhat)
        if any(cl.rep.free_symbols & yhat for cl, _ in extra):
            loss = "cross-entropy" if net.loss == "cce" else "binary cross-entropy"
            what = "the softmax Jacobian" if net.output == "softmax" else "σ′(h) = yhat*(1 - yhat)"
            return f" — with {net.output} + {loss} the output delta is yhat - y: {what} cancels against ∂E/∂yhat"
        return ""


def _rational(v: mpmath.mpf) -> sp.Expr:
    """A constant as a short fraction when it is one (2, 1/2, -1), else 9 digits."""
    return sp.nsimplify(float(v), rational=True, tolerance=1e-12) if abs(v) < 1e6 else sp.Float(float(v), 9)


def _imbalance(cl: _Class) -> tuple[sp.Expr, sp.Expr]:
    """(missing, extra) exponents of a class: what the chain has that the claim lacks, and the reverse.
    yhat**2 against yhat lacks nothing and has yhat extra; 1/yhat against yhat lacks yhat and has 1/yhat."""
    want = sum((a.exp for a in cl.chain), sp.Integer(0))
    have = sum((a.exp for a in cl.claim), sp.Integer(0))
    if want == have:
        return sp.Integer(0), sp.Integer(0)
    if want == 0 or have == 0 or (want > 0) != (have > 0):
        return want, have
    if abs(have) > abs(want):
        return sp.Integer(0), have - want
    return want - have, sp.Integer(0)


def _claim_base(cl: _Class) -> sp.Expr:
    return cl.claim[0].base if cl.claim else cl.rep


def _factors(expr: sp.Expr) -> tuple[sp.Expr, list[tuple[sp.Expr, sp.Expr]]]:
    """A product split into a numeric coefficient and (base, exponent) factors; sums are factored
    first, so yhat - yhat**2 shows its factors yhat and 1 - yhat.  m counts as a factor."""
    coeff = sp.Integer(1)
    out: dict[sp.Expr, sp.Expr] = {}
    stack: list[tuple[sp.Expr, sp.Expr]] = [(expr, sp.Integer(1))]
    while stack:
        e, k = stack.pop()
        if e.is_Number:
            coeff *= e ** k
        elif isinstance(e, sp.Mul):
            stack += [(a, k) for a in e.args]
        elif isinstance(e, sp.Pow) and e.exp.is_Rational:
            stack.append((e.base, k * e.exp))
        elif isinstance(e, sp.Add) and sp.count_ops(e) < 60:
            f = sp.factor(e)
            if isinstance(f, (sp.Mul, sp.Pow)) and f != e:
                stack.append((f, k))
            else:
                out[e] = out.get(e, 0) + k
        else:
            out[e] = out.get(e, 0) + k
    return coeff, [(b, e) for b, e in out.items() if e != 0]


# -- numbers ----------------------------------------------------------------------------------


def _value(expr: sp.Expr, env: dict) -> mpmath.mpf:
    """expr at a point, in mpmath at the working precision; raises _Undefined where it has no real value."""
    memo: dict[sp.Expr, mpmath.mpf] = {}
    try:
        v = _eval(expr, env, memo)
    except (ZeroDivisionError, ValueError, OverflowError):
        raise _Undefined from None
    if isinstance(v, mpmath.mpc) or not mpmath.isfinite(v):
        raise _Undefined
    return v


def _eval(e: sp.Expr, env: dict, memo: dict) -> mpmath.mpf:
    if e in memo:
        return memo[e]
    if e.is_Symbol:
        if e not in env:
            raise _Undefined
        v = env[e]
    elif e.is_Integer:
        v = mpmath.mpf(int(e))
    elif e.is_Rational:
        v = mpmath.mpf(int(e.p)) / int(e.q)
    elif e.is_Number or e.is_NumberSymbol:
        v = mpmath.mpf(str(e.evalf(DIGITS + 10)))
    elif isinstance(e, sp.Add):
        v = mpmath.fsum(_eval(a, env, memo) for a in e.args)
    elif isinstance(e, sp.Mul):
        v = mpmath.fprod(_eval(a, env, memo) for a in e.args)
    elif isinstance(e, sp.Pow):
        base, ex = _eval(e.base, env, memo), e.exp
        if ex.is_Integer:
            v = base ** int(ex)
        else:
            if base < 0:
                raise _Undefined
            v = base ** _eval(ex, env, memo)
    elif isinstance(e, sp.exp):
        v = mpmath.exp(_eval(e.args[0], env, memo))
    elif isinstance(e, sp.log):
        arg = _eval(e.args[0], env, memo)
        if arg <= 0:
            raise _Undefined
        v = mpmath.log(arg)
    elif isinstance(e, sp.Heaviside):
        arg = _eval(e.args[0], env, memo)
        at0 = _eval(e.args[1], env, memo) if len(e.args) > 1 else mpmath.mpf(1) / 2
        v = mpmath.mpf(1) if arg > 0 else (mpmath.mpf(0) if arg < 0 else at0)
    elif isinstance(e, sp.Piecewise):
        for piece, cond in e.args:
            if _holds(cond, env, memo):
                v = _eval(piece, env, memo)
                break
        else:
            raise _Undefined
    elif isinstance(e, Activation):
        v = _activation(e, _eval(e.args[0], env, memo))
    elif isinstance(e, sp.Abs):
        v = abs(_eval(e.args[0], env, memo))
    else:
        raise _Undefined
    memo[e] = v
    return v


def _activation(f: Activation, x: mpmath.mpf) -> mpmath.mpf:
    name = f.name
    if name == "sigmoid":
        return 1 / (1 + mpmath.exp(-x))
    if name == "tanh":
        return mpmath.tanh(x)
    if name == "softplus":
        return mpmath.log1p(mpmath.exp(x))
    if name == "relu":
        return x if x > 0 else mpmath.mpf(0)
    if name == "leaky_relu":
        return x if x > 0 else x * _eval(LeakyReLU.slope, {}, {})
    raise _Undefined


def _holds(cond: sp.Basic, env: dict, memo: dict) -> bool:
    if cond is sp.true:
        return True
    if cond is sp.false:
        return False
    if isinstance(cond, sp.core.relational.Relational):
        lhs, rhs = _eval(cond.lhs, env, memo), _eval(cond.rhs, env, memo)
        return {"<": lhs < rhs, "<=": lhs <= rhs, ">": lhs > rhs, ">=": lhs >= rhs,
                "==": lhs == rhs, "!=": lhs != rhs}[cond.rel_op]
    if isinstance(cond, sp.And):
        return all(_holds(a, env, memo) for a in cond.args)
    if isinstance(cond, sp.Or):
        return any(_holds(a, env, memo) for a in cond.args)
    raise _Undefined


def _kink_arguments(expr: sp.Expr) -> set[sp.Expr]:
    """Where expr is not smooth: the arguments of ReLU-type functions and steps, the sides of conditions."""
    out: set[sp.Expr] = set()
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (ReLU, LeakyReLU, sp.Heaviside, sp.Abs)):
            out.add(node.args[0])
        elif isinstance(node, sp.core.relational.Relational):
            out.add(node.lhs - node.rhs)
    return {k for k in out if not k.is_number}


def _close(a: mpmath.mpf, b: mpmath.mpf) -> bool:
    """Equal to 30 of the 50 digits; values below 1e-48 are rounding noise of O(1) quantities."""
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b)) or max(abs(a), abs(b)) < _NOISE


# -- helpers ------------------------------------------------------------------------------------


@contextmanager
def _time_limit(seconds: float) -> Iterator[bool]:
    """Interrupt the block with _Timeout after ``seconds``; yields whether it can (only the main thread
    can take signals, and only when no one else's interval timer is running)."""
    usable = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
              and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    if not usable:
        yield False
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _quantity(d: Derivation, names: Names, name: str, option: str) -> sp.Symbol:
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{option} needs a name such as W1[1,1]")
    key = name.replace(" ", "")
    if key == "E":
        return E
    if key in names.symbols and key != "m":
        return names.symbols[key]
    raise InputError(f"{option} {name!r} is not a quantity of the {d.net.compact} network; "
                     f"it has {names.summary(with_m=False)}")


def _paren(expr: sp.Expr) -> str:
    s = text(expr)
    return f"({s})" if isinstance(expr, sp.Add) else s


def _fmt(v: float | None) -> str:
    return "undefined" if v is None else f"{v:.9g}"


def _point_text(point: dict[str, float]) -> str:
    return ", ".join(f"{k} = {_fmt(v)}" for k, v in point.items())
