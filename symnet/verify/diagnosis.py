"""Naming the mistake in a wrong claim: which chain-rule factor is missing, extra or wrong, a transposed
weight index, a flipped sign, a forgotten 1/m.

The chain is one product of factors per path (∂E/∂… first).  The claim is split into factors the same
way, and a claim's factor is matched to a chain's by value, not by spelling: two factors are the same
when they agree (up to sign) at a few points, whatever names they are written in — σ(h2[1]) and yhat
alike.  A claim that is a sum is split over the paths first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import mpmath
import sympy as sp

from symnet.derivation.chains import E, Derivation, Factor
from symnet.derivation.model import Model
from symnet.derivation.names import parse_name
from symnet.functions.activations import SOFTMAX, glyph, unit_interval
from symnet.functions.losses import LOSSES
from symnet.verify.evaluation import Point, Undefined, close, value
from symnet.verify.grammar import M, text

#: points at which factors are compared when matching a claim's factors to the chain's
FINGERPRINT_POINTS = 4
# paths above which the claim is not compared factor by factor
_MAX_PATHS = 16


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
    try:
        return _Diagnosis(paths, _Fingerprints(points), model).lines(claim)
    except Undefined:
        return []


def product_text(factors: Iterable[sp.Expr]) -> str:
    """A chain-rule product in order: ``(yhat - y) · yhat*(1 - yhat) · W2[1,1] · …``."""
    return " · ".join(f"({text(e)})" if isinstance(e, sp.Add) else text(e) for e in factors if e != 1)


def _link(d: Derivation, f: Factor) -> "Link":
    label = f"∂{f.of}/∂{f.wrt}"
    if f.rule == "activation":
        layer = parse_name(f.wrt.name).layer
        label += f" = {glyph(d.net.activations[layer - 1])}′({f.wrt})"
    return Link(label, f.compact, of=f.of)


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
    def __init__(self, paths: list[list[Link]], fp: _Fingerprints, model: Model):
        self.paths, self.fp, self.model = paths, fp, model

    def lines(self, claim: sp.Expr) -> list[str]:
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
                out.append(f"missing the path through {through}: {product_text(link.expr for link in path)}")
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
        ratios = self._ratios(claim, path, missing, extra)
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
            out += self._constant(ratios, classes)
        if not out:
            out.append("the claim's factors are the chain's, but it is not their product")
        return out

    def _entire(self, link: Link, lacking: list[tuple[sp.Expr, sp.Expr]]) -> bool:
        _, atoms = _factors(link.expr)
        return len(lacking) == len(atoms)

    def _ratios(self, claim: sp.Expr, path: list[Link], missing: list,
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
        if close(ratios[0][0], 1) and all(close(r, 1) for r, _ in ratios):
            return None
        constant = all(close(r, ratios[0][0]) for r, _ in ratios)
        in_m = any(all(close(r, k * m ** e) for r, m in ratios) for k in (1, -1) for e in (1, -1))
        return ratios if constant or in_m else None

    def _constant(self, ratios: list[tuple[mpmath.mpf, mpmath.mpf]], classes: list[_Class]) -> list[str]:
        """Name the constant between claim and chain: a sign, a forgotten 1/m, a factor 2, …"""
        ratio = ratios[0][0]
        flipped = [a for cl in classes for a in cl.claim if a.sign == -1 and a.exp % 2 == 1
                   if not any(b.sign == -1 for b in cl.chain)]
        if close(ratio, -1):
            if len(flipped) == 1:
                a = flipped[0]
                cl = next(cl for cl in classes if a in cl.claim)
                want_atom = cl.chain[0].base if cl.chain else -a.base
                return [f"wrong sign: the claim has {text(a.base)} where the chain has {text(want_atom)}"]
            return ["wrong sign: the claim is the negative of the derivative"]
        for sign in (1, -1):
            if all(close(r, sign * m) for r, m in ratios):
                return [("missing factor 1/m: E is the mean over the m samples, so each sample's term is "
                         "divided by m") + ("; and the sign is wrong" if sign == -1 else "")]
            if all(close(r * m, sign) for r, m in ratios):
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
