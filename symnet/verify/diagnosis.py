"""Naming the mistake in a wrong claim: which chain-rule factor is missing, extra or wrong, a transposed
weight index, a flipped sign, a forgotten 1/m, another activation's derivative, a path left out of a sum.

A diagnosis must not depend on how the claim is written, so the claim is first put in the chain's own
names (σ(h1[1]) is a1[1], W1[1,1]*x1 + W1[2,1]*x2 + b1[1] is h1[1]).  Then come the mistakes that explain
the whole claim, each a hypothesis tested by value at every point, never read off the factors: the claim
is the negative of the derivative; one activation's derivative stands where another's belongs (σ′ for
tanh′); one term of a sum has the wrong sign.  Failing those, the claim is compared factor by factor with
the chain, one product of factors per path (∂E/∂… first): a claim's factor is matched to a chain's by
value, not by spelling — two factors are the same when they agree (up to sign) at a few points.  A claim
that is a sum is split over the paths first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

import mpmath
import sympy as sp

from symnet.derivation.chains import E, Derivation, Factor
from symnet.derivation.model import Model
from symnet.derivation.names import parse_name
from symnet.functions.activations import ACTIVATION_CLASSES, SOFTMAX, glyph, lemma, unit_interval
from symnet.functions.activations import x as lemma_x
from symnet.functions.losses import LOSSES
from symnet.verify.evaluation import Point, Undefined, close, value
from symnet.verify.grammar import M, text
from symnet.verify.proof import Folder

#: points at which factors are compared when matching a claim's factors to the chain's
FINGERPRINT_POINTS = 4
# paths above which the claim is not compared factor by factor
_MAX_PATHS = 16
# terms of the claim's sums tried with the other sign, at most
_MAX_FLIPS = 64
# the names an activation's derivative is shown in, whatever the unit: tanh′ = 1 - a**2
_A, _H = sp.Symbol("a", real=True), sp.Symbol("h", real=True)


Paths = list[list["Link"]]


def chain_paths(d: Derivation, of: sp.Symbol, wrt: sp.Symbol, batch: bool) -> Paths | None:
    """The chain as the diagnosis compares it: one list of factors per path, ∂of/∂… first; None when
    there are too many paths to compare.

    With a softmax output or binary cross-entropy the output layer's factors only make sense
    together (their product collapses to ŷ − y), so there the chain starts at δ⁽ᴸ⁾ = ∂E/∂h⁽ᴸ⁾."""
    net, model = d.net, d.model
    if d.count_paths(of, wrt) > _MAX_PATHS:
        return None
    collapsed = of == E and (net.output == SOFTMAX or LOSSES[net.loss].unit_interval) and wrt not in model.yhat
    paths: Paths = []
    if collapsed:
        for h in model.h[net.depth]:
            if h == wrt:
                paths.append([_delta_link(d, h)])
            elif d.count_paths(h, wrt):
                paths += [[_delta_link(d, h), *(_link(d, f) for f in p.factors)] for p in d.paths(h, wrt)]
    else:
        paths = [[_link(d, f) for f in p.factors] for p in d.paths(of, wrt)]
    if batch:
        paths = [[Link("1/m", 1 / M, "E is the mean over the m samples"), *p] for p in paths]
    return paths


def diagnose(claim: sp.Expr, paths: Paths, points: list[Point], model: Model) -> list[str]:
    """What is wrong with ``claim`` against the chain ``paths``, one line per mistake, judged at
    ``points`` (with m among their values); [] where nothing can be said."""
    folded = Folder(model.definitions).fold(claim)
    points = [dict(p) for p in points]
    # a quantity the folding named may be one that nothing else read: its value is its definition's
    for s in folded.free_symbols - claim.free_symbols:
        for p in points:
            if s not in p and s in model.definitions:
                try:
                    p[s] = value(model.definitions[s], p)
                except Undefined:
                    pass
    try:
        return _Diagnosis(paths, _Fingerprints(points), model).lines(folded)
    except Undefined:
        return []


def product_text(factors: Iterable[sp.Expr]) -> str:
    """A chain-rule product in order: ``(yhat - y) · yhat*(1 - yhat) · W2[1,1] · …``."""
    return " · ".join(f"({text(e)})" if isinstance(e, sp.Add) else text(e) for e in factors if e != 1)


def _link(d: Derivation, f: Factor) -> "Link":
    label = f"∂{f.of}/∂{f.wrt}"
    if f.rule != "activation":
        return Link(label, f.compact, of=f.of)
    name = d.graph.by_name[d.model.owner[f.of]].kind
    return Link(f"{label} = {glyph(name)}′({f.wrt})", f.compact, of=f.of, wrt=f.wrt,
                activation=name if name in ACTIVATION_CLASSES else "")


def _delta_link(d: Derivation, h: sp.Symbol) -> "Link":
    net = d.net
    loss = LOSSES[net.loss]
    why = f"{net.output} + {loss.title}" + (", targets summing to 1" if loss.one_hot else "")
    j = parse_name(h.name).index[0]
    return Link(f"∂E/∂{h} = δ{net.depth}[{j}] ({why})", d.delta(h).expr, of=E)


@dataclass(frozen=True)
class Link:
    """One factor of the chain: what it is (``∂a1[1]/∂h1[1] = σ′(h1[1])``) and its compact value."""

    label: str
    expr: sp.Expr
    why: str = ""
    of: sp.Symbol | None = None  # the quantity differentiated
    wrt: sp.Symbol | None = None  # and what by, for an activation's derivative
    activation: str = ""  # the elementwise activation whose derivative this is

    @property
    def layer(self) -> int:
        return parse_name(self.wrt.name).layer if self.wrt is not None else 0

    def describe(self) -> str:
        shown = "" if self.label == text(self.expr) else f" = {text(self.expr)}"
        return f"{self.label}{shown}" + (f" ({self.why})" if self.why else "")


class _Fingerprints:
    """Values of expressions at a few points: two factors are "the same" when their values agree
    everywhere (up to sign), whatever names they are written in — σ(h2[1]) and yhat alike."""

    def __init__(self, points: list[Point]):
        self.points = points
        self._cache: dict[sp.Expr, tuple | None] = {}

    def of(self, expr: sp.Expr) -> tuple | None:
        if expr not in self._cache:
            try:
                self._cache[expr] = tuple(value(expr, p) for p in self.points)
            except Undefined:
                self._cache[expr] = None
        return self._cache[expr]

    def same(self, a: sp.Expr, b: sp.Expr) -> int:
        """+1 if a = b at every point, −1 if a = −b, 0 otherwise."""
        va, vb = self.of(a), self.of(b)
        if va is None or vb is None:
            return 0
        for sign in (1, -1):
            if all(close(x, sign * y) for x, y in zip(va, vb)):
                return sign
        return 0

    def constant(self, expr: sp.Expr) -> bool:
        """Whether expr takes one value at every point (ReLU′ where every h > 0), or none."""
        v = self.of(expr)
        return v is None or all(close(u, v[0]) for u in v)


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
    def __init__(self, paths: Paths, fp: _Fingerprints, model: Model):
        self.paths, self.fp, self.model = paths, fp, model
        # the names of each path's product, and those that tell the paths apart (W2[1,1], W2[1,2])
        self.names = [_total([p]).free_symbols for p in paths]
        self.branching = set().union(*self.names) - set.intersection(*self.names)

    def lines(self, claim: sp.Expr) -> list[str]:
        return self._explain(claim, self.paths, whole=True)

    def _explain(self, claim: sp.Expr, paths: Paths, whole: bool) -> list[str]:
        """The mistakes of the whole claim first (each checked by value), then the comparison factor by
        factor.  ``whole``: the claim is the derivative, not the term of one path in it."""
        return (self._negated(claim, paths, whole) or self._substituted(claim, paths)
                or self._flipped_term(claim, paths)
                or (self._product(claim, paths[0]) if len(paths) == 1 else self._sum(claim)))

    # -- mistakes that explain the whole claim -------------------------------------------------------
    def _negated(self, claim: sp.Expr, paths: Paths, whole: bool) -> list[str]:
        """A sign, said only where the claim is the negative of the truth at every point; the factor
        that carries it named when there is just one."""
        if self.fp.same(claim, _total(paths)) != -1:
            return []
        flipped = self._flipped_factor(claim, paths)
        if flipped:
            return [f"wrong sign: the claim has {text(flipped[0])} where the chain has {text(flipped[1])}"]
        return ["wrong sign: the claim is the negative of the derivative" if whole
                else "wrong sign: the term is the negative of the path's product"]

    def _flipped_factor(self, claim: sp.Expr, paths: Paths) -> tuple[sp.Expr, sp.Expr] | None:
        """(the claim's, the chain's): the one factor of the claim that is the negative of a factor
        every path has, if there is just one."""
        atoms = [[b for link in p for b, _ in _factors(link.expr)[1]] for p in paths]
        shared = [b for b in atoms[0] if all(any(self.fp.same(b, c) for c in other) for other in atoms[1:])]
        flipped = []
        for got, e in _factors(claim)[1]:
            if not (e.is_integer and e % 2) or any(self.fp.same(got, b) == 1 for b in shared):
                continue
            want = next((b for b in shared if self.fp.same(got, b) == -1), None)
            if want is not None:
                flipped.append((got, want))
        return flipped[0] if len(flipped) == 1 else None

    def _substituted(self, claim: sp.Expr, paths: Paths) -> list[str]:
        """Another activation's derivative where this one's belongs (σ′ for tanh′), in one unit or in
        every unit of a layer that the chain runs through."""
        units = {link.label: link for p in paths for link in p if link.activation}
        layers: dict[int, list[Link]] = {}
        for link in units.values():
            layers.setdefault(link.layer, []).append(link)
        groups = [[link] for link in units.values()] + [g for g in layers.values() if len(g) > 1]
        for group in groups:
            used = group[0].activation
            for other in ACTIVATION_CLASSES:
                if other == used:
                    continue
                # written in the unit's own value a (σ′ as a*(1 - a) in a tanh layer), or as a function of h
                for own_value in (True, False):
                    alts = {link.label: _derivative(other, link.of, link.wrt, own_value) for link in group}
                    if self.fp.same(claim, _total(paths, alts)) != 1:
                        continue
                    # a missing factor says it more simply (ReLU′ = 1 where every h > 0; softplus′ = σ(h) = a)
                    if not any(self.fp.constant(alts[link.label]) or self._within(alts[link.label], link.expr)
                               for link in group):
                        where = group[0].label if len(group) == 1 else f"f′ in layer {group[0].layer}"
                        return [f"wrong {where}: you used {glyph(other)}′ ({_compact(other)}) where "
                                f"{glyph(used)}′ ({_compact(used)}) belongs"]
        return []

    def _within(self, part: sp.Expr, whole: sp.Expr) -> bool:
        """Whether every factor of ``part`` is one of ``whole``'s (up to sign)."""
        atoms = [b for b, _ in _factors(whole)[1]]
        return all(any(self.fp.same(a, b) for b in atoms) for a, _ in _factors(part)[1])

    def _flipped_term(self, claim: sp.Expr, paths: Paths) -> list[str]:
        """One term of a sum with the wrong sign: the claim, or one of its factors, is a sum that
        becomes the truth when that term alone changes sign.  A sum over the paths is left to
        :meth:`_sum`, which names the path."""
        truth = _total(paths)
        sums = [claim] if isinstance(claim, sp.Add) else list(dict.fromkeys(
            base for base, e in (f.as_base_exp() for f in sp.Mul.make_args(claim))
            if isinstance(base, sp.Add) and e.is_integer))
        tried = 0
        for total in (s for s in sums if not self._over_paths(s)):
            for k, term in enumerate(total.args):
                tried += 1
                if tried > _MAX_FLIPS:
                    return []
                fixed = sp.Add(*total.args[:k], -term, *total.args[k + 1:])
                if self.fp.same(fixed if total is claim else claim.xreplace({total: fixed}), truth) == 1:
                    return [self._flipped_term_line(total, term, fixed, claim, paths)]
        return []

    def _flipped_term_line(self, total: sp.Expr, term: sp.Expr, fixed: sp.Expr, claim: sp.Expr,
                           paths: Paths) -> str:
        negative = term.as_coeff_Mul()[0] < 0
        shown = text(-term if negative else term)
        link = next((link for p in paths for link in p if self.fp.same(fixed, link.expr) == 1), None)
        if link is not None:
            lemma_hint = f" ({glyph(link.activation)}′ = {_compact(link.activation)})" if link.activation else ""
            return (f"wrong {link.label}: the claim has {text(total)} where the chain has {text(link.expr)}"
                    f"{lemma_hint}: the term {shown} has the wrong sign")
        where = "the sum" if total is claim else f"the sum {text(total)}"
        got, want = ("-", "+") if negative else ("+", "-")
        return (f"one term of {where} has the wrong sign: the claim has {got}{shown} "
                f"where the chain has {want}{shown}")

    # -- the claim against the chain, factor by factor ------------------------------------------------
    def _sum(self, claim: sp.Expr) -> list[str]:
        """A claim over several paths: each of its terms assigned to the path it resembles most."""
        assigned: dict[int, list[sp.Expr]] = {}
        for t in self._terms(claim):
            scores = [self._overlap(t, p) for p in self.paths]
            assigned.setdefault(max(range(len(self.paths)), key=lambda i: scores[i]), []).append(t)
        out: list[str] = []
        found: dict[str, list[int]] = {}  # each mistake, and the paths it is found on
        for i, path in enumerate(self.paths):
            if i not in assigned:
                out.append(f"missing {self._through([i])}: {product_text(link.expr for link in path)}")
                continue
            part = sp.Add(*assigned[i])
            if self.fp.same(part, _total([path])) != 1:
                for line in self._explain(part, [path], whole=False):
                    found.setdefault(line, []).append(i)
        # a mistake in a factor that several paths share (tanh′ of a1[2]) is said once, for all of them
        out += [line if len(on) == len(self.paths) else f"on {self._through(on)}: {line}"
                for line, on in found.items()]
        if not out:
            out.append(f"the chain has {len(self.paths)} paths and the claim does not add up to their sum")
        return out

    def _through(self, paths: list[int]) -> str:
        """The path through yhat, h2[1], a1[2]; the 3 paths through yhat, h3[1], a1[2] (what they share)."""
        units = [[str(link.of) for link in self.paths[i][1:-1]] for i in paths]
        shared = [u for u in units[0] if all(u in other for other in units[1:])]
        return (f"the path through {', '.join(shared)}" if len(paths) == 1
                else f"the {len(paths)} paths through {', '.join(shared)}")

    def _over_paths(self, total: sp.Add) -> bool:
        """Whether a sum's terms go different ways: two of them have no path in common (the terms of
        y1 - yhat[1] or 1 - yhat[1] share one)."""
        ways = [frozenset(i for i, names in enumerate(self.names) if t.free_symbols & self.branching <= names)
                for t in total.args]
        return any(not (u & v) for k, u in enumerate(ways) for v in ways[k + 1:])

    def _terms(self, claim: sp.Expr) -> list[sp.Expr]:
        """The claim as a sum over paths: its terms, with a factored-out sum distributed when its terms
        go different ways (x1·a1(1 − a1)·(W2[1,1]·δ… + W2[1,2]·δ…)); at most 64 terms."""
        terms, done = [claim], []
        while terms:
            t = terms.pop()
            if isinstance(t, sp.Add):
                terms += t.args
                continue
            split = next((f for f in sp.Mul.make_args(t) if isinstance(f, sp.Add) and self._over_paths(f)), None)
            if split is None:
                done.append(t)
            else:
                rest = t / split
                terms += [rest * a for a in split.args]
            if len(done) + len(terms) > 64:
                return [claim]
        return done[::-1]

    def _overlap(self, term: sp.Expr, path: list[Link]) -> int:
        _, atoms = _factors(term)
        chain = [a for link in path for a in _factors(link.expr)[1]]
        return sum(1 for a, _ in atoms if any(self.fp.same(a, b) for b, _ in chain))

    def _product(self, claim: sp.Expr, path: list[Link]) -> list[str]:
        """Which factors of one path the claim (a product) lacks, adds or has wrong."""
        _, claim_atoms = _factors(claim)
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

        for i, link in enumerate(path):
            for base, e in _factors(link.expr)[1]:
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
        # the claim put right: a factor missing entirely comes back with its own sign and number
        restore = sp.Mul(*(path[i].expr if i in whole else sp.Mul(*(b ** e for b, e in lacking))
                           for i, lacking in short.items()))
        ratios = self._ratios(claim * restore / (extra_expr or 1), path)
        if len(short) == 1 and whole and extra:
            i = whole[0]
            if ratios is not None and not any(close(r, m) or close(r * m, 1) for r, m in ratios):
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
            out += self._constant(ratios, claim, path)
        if not out:
            out.append("the claim's factors are the chain's, but it is not their product")
        return out

    def _entire(self, link: Link, lacking: list[tuple[sp.Expr, sp.Expr]]) -> bool:
        _, atoms = _factors(link.expr)
        return len(lacking) == len(atoms)

    def _ratios(self, fixed: sp.Expr, path: list[Link]) -> list[tuple[mpmath.mpf, mpmath.mpf]] | None:
        """``fixed`` (the claim with its missing and extra factors put right) / chain at each point,
        with m there; None unless that is a constant other than 1 (or a multiple of m)."""
        vals, want = self.fp.of(fixed), self.fp.of(_total([path]))
        if vals is None or want is None or any(w == 0 for w in want):
            return None
        ratios = [(v / w, p[M]) for v, w, p in zip(vals, want, self.fp.points)]
        if close(ratios[0][0], 1) and all(close(r, 1) for r, _ in ratios):
            return None
        constant = all(close(r, ratios[0][0]) for r, _ in ratios)
        in_m = any(all(close(r, k * m ** e) for r, m in ratios) for k in (1, -1) for e in (1, -1))
        return ratios if constant or in_m else None

    def _constant(self, ratios: list[tuple[mpmath.mpf, mpmath.mpf]], claim: sp.Expr,
                  path: list[Link]) -> list[str]:
        """Name the constant left between claim and chain once the factors are put right: a forgotten
        1/m, a factor 2, …  A claim that is the negative of the truth was named before this; here a −1
        only remains beside missing or extra factors."""
        ratio = ratios[0][0]
        if close(ratio, -1):
            flipped = self._flipped_factor(claim, [path])
            if flipped:
                return [f"with that put right the sign is still flipped: the claim has {text(flipped[0])} "
                        f"where the chain has {text(flipped[1])}"]
            return ["with that put right the claim's sign is still the opposite of the chain's"]
        for sign in (1, -1):
            also = "; and it has the opposite sign" if sign == -1 else ""
            if all(close(r, sign * m) for r, m in ratios):
                return [("missing factor 1/m: E is the mean over the m samples, so each sample's term is "
                         "divided by m") + also]
            if all(close(r * m, sign) for r, m in ratios):
                return ["extra factor 1/m" + also]
        return [f"off by a constant factor {text(_rational(ratio))}"]

    def _hint_weight(self, got: sp.Expr, want: sp.Expr) -> str:
        g, w = parse_name(getattr(got, "name", "")), parse_name(getattr(want, "name", ""))
        if not (g and w and g.kind == w.kind == "W"):
            return ""
        transposed = " (indices transposed)" if g.index == w.index[::-1] and g.layer == w.layer else ""
        return f"{transposed}; {got} connects {self._source(g)} to h{g.layer}[{g.index[1]}]"

    def _source(self, name) -> str:
        k, i = name.layer, name.index[0]
        return str(self.model.a[k - 1][i - 1])

    def _hint_extra(self, extra: list) -> str:
        net = self.model.net
        loss = LOSSES[net.loss]
        if not unit_interval(net.output) or not (loss.one_hot or loss.unit_interval):
            return ""
        yhat = set(self.model.yhat)
        if any(cl.rep.free_symbols & yhat for cl, _ in extra):
            what = f"the {SOFTMAX} Jacobian" if net.output == SOFTMAX else f"{glyph(net.output)}′(h) = yhat*(1 - yhat)"
            return f" — with {net.output} + {loss.title} the output delta is yhat - y: {what} cancels against ∂E/∂yhat"
        return ""


def _total(paths: Paths, swap: dict[str, sp.Expr] | None = None) -> sp.Expr:
    """The chain's sum over paths of their products, with the factors labelled in ``swap`` replaced."""
    swap = swap or {}
    return sp.Add(*(sp.Mul(*(swap.get(link.label, link.expr) for link in p)) for p in paths))


def _derivative(name: str, a: sp.Expr, h: sp.Expr, own_value: bool) -> sp.Expr:
    """An activation's derivative at the unit a = f(h), in its lemma's compact form; with ``own_value``
    its own value written a, as people write σ′ = a(1 − a) whatever the layer's f is."""
    compact = lemma(name).compact
    if own_value:
        compact = compact.subs(ACTIVATION_CLASSES[name](lemma_x), a)
    return compact.subs(lemma_x, h)


def _compact(name: str) -> str:
    """f′ as people write it: tanh′ is 1 - a**2, σ′ is a*(1 - a), ReLU′ is step(h)."""
    return text(_derivative(name, _A, _H, own_value=True))


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


@lru_cache(maxsize=4096)  # each path's factors are compared with every term of the claim
def _factors(expr: sp.Expr) -> tuple[sp.Expr, tuple[tuple[sp.Expr, sp.Expr], ...]]:
    """A product split into a numeric coefficient and (base, exponent) factors; sums are factored
    first, so yhat - yhat**2 shows its factors yhat and 1 - yhat.  m counts as a factor.

    A sum's factors keep its sign: SymPy factors 1 - a**2 as -(a - 1)*(a + 1), and factors taken with
    the −1 left behind would turn a missing tanh′ into a sign error as well."""
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
            f = _sign_inside(sp.factor(e))
            if isinstance(f, (sp.Mul, sp.Pow)) and f != e:
                stack.append((f, k))
            else:
                out[e] = out.get(e, 0) + k
        else:
            out[e] = out.get(e, 0) + k
    return coeff, tuple((b, e) for b, e in out.items() if e != 0)


def _sign_inside(product: sp.Expr) -> sp.Expr:
    """A factored sum with its negative coefficient moved into one of its sums of odd power, the one
    that reads better negated: -(a - 1)*(a + 1) becomes (1 - a)*(1 + a)."""
    coeff, rest = product.as_coeff_Mul()
    if coeff >= 0:
        return product
    factors = list(sp.Mul.make_args(rest))
    odd = [k for k, f in enumerate(factors) if isinstance(f.as_base_exp()[0], sp.Add)
           and f.as_base_exp()[1].is_integer and f.as_base_exp()[1] % 2]
    if not odd:
        return product
    k = next((k for k in odd if not text(-factors[k].as_base_exp()[0]).startswith("-")), odd[0])
    base, e = factors[k].as_base_exp()
    factors[k] = (-base) ** e
    return -coeff * sp.Mul(*factors)
