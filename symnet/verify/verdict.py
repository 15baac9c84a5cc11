"""Checking hand calculus: is a claimed ∂of/∂wrt the derivative the derivation gives, and if not, why not.

The truth is the derivation's own derivative (``d.derivative(of, wrt)``), never re-derived here.  A claim
(parsed safely by :mod:`~symnet.verify.grammar`) may use the forward quantities h, a, ŷ and the deltas
δ = ∂E/∂h, or write them out; both are compared as functions of x, y and the parameters, on the part of
the network they read (:mod:`~symnet.verify.scope`):

* **numerically** (:mod:`~symnet.verify.sampling`) — at random points in 50-digit arithmetic, away from
  ReLU-type kinks; any disagreement is a counterexample;
* **symbolically** (:mod:`~symnet.verify.proof`) — under a time limit.  A proof is reported as such; a claim
  that agrees at every point but resists simplification in time is reported as checked numerically.

When the claim is wrong, :mod:`~symnet.verify.diagnosis` names the mistake against the chain's factors.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

import mpmath
import sympy as sp

from symnet.functions.regularisers import lam

from symnet.functions.losses import LOSSES
from symnet.derivation.chains import E, Derivation, derive
from symnet.derivation.model import Model
from symnet.derivation.names import parse_name
from symnet.errors import InputError
from symnet.spec import Graph, Network, load
from symnet.verify.diagnosis import FINGERPRINT_POINTS, Paths, chain_paths, diagnose, product_text
from symnet.verify.evaluation import DIGITS, Point, Undefined, close, value
from symnet.verify.grammar import M, Names, latex_to_claim, parse_claim, text
from symnet.verify import proof
from symnet.verify.sampling import KINK_MARGIN, Comparison, Sampler, compare
from symnet.verify.scope import WHOLE_UP_TO, slice_network

__all__ = ["Verdict", "check", "text"]


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
        return product_text(e for _, e in self.chain)

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

    ``claim`` is text in the claim grammar (or LaTeX with ``latex=True``), where ``delta2[1]`` is δ⁽²⁾₁ =
    ∂E/∂h2[1] as the write-up prints it; ``batch`` says that E is the mean over m samples and the claim is
    one sample's term of the sum (so it carries the 1/m) — implied when the claim uses ``m``.
    ``time_limit`` bounds each piece of symbolic work (reading the claim, the proof, the diagnosis), in
    seconds.  A wide network is checked on the slice of it that the claim and the chain rule read.
    """
    whole = net.net if isinstance(net, Derivation) else load(net) if isinstance(net, str) else net
    names = Names(whole)
    of_s = _quantity(whole, names, of, "--of")
    wrt_s = _quantity(whole, names, wrt, "--wrt")
    computed = parse_name(of_s.name).kind not in ("x", "y", "W", "b") if isinstance(whole, Graph) else \
        parse_name(of_s.name).kind in ("h", "a", "yhat")
    if of_s != E and not computed:
        raise InputError(f"--of {of} is not a computed quantity; use E, h<k>[j], a<k>[j] or yhat")
    try:
        # SymPy evaluates as it builds: nested functions can cost it minutes before the check begins
        with proof.time_limit(time_limit):
            expr, source = _read_claim(claim, names, whole, latex)
    except proof.Timeout:
        raise InputError(f"the claim took SymPy more than {time_limit:g} s to read; write it more simply") from None
    batch = batch or M in expr.free_symbols
    if batch and of_s != E:
        raise InputError("m and --batch belong to derivatives of E, the mean over the m samples")
    if batch and whole.reduction == "sum":
        raise InputError("m and --batch belong to a mean over the m samples, and this loss sums them "
                         "(reduction='sum'): a sample's term is its own derivative, so claim it without m")

    part = slice_network(whole, of_s, wrt_s, expr) if isinstance(whole, Network) else whole
    # a Derivation given for a wide net is not reused: its model would make every point cost the whole net
    d = net if isinstance(net, Derivation) and part == whole else derive(part)
    if d.count_paths(of_s, wrt_s) == 0:
        raise InputError(f"{of_s} does not depend on {wrt_s} (the derivative is 0); did you swap --of and --wrt?")
    try:
        truth = d.expand_deltas(d.derivative(of_s, wrt_s))
    except ValueError as e:  # too many paths to sum
        raise InputError(f"cannot check ∂{of_s}/∂{wrt_s}: {e}") from None
    # λ is the spec's number: a claim may write it as lam, reg or the number itself
    decay = {lam: sp.Rational(repr(whole.l2))}
    truth, expr = truth.xreplace(decay), expr.xreplace(decay)
    decay_term = d.decay(wrt_s).xreplace(decay) if of_s == E else sp.S.Zero
    verdict = _judge(d, of_s, wrt_s, d.expand_deltas(expr), truth / M if batch else truth, batch,
                     decay_term / M if batch else decay_term,
                     points=points, seed=seed, seconds=time_limit,
                     listed=whole.n_params <= WHOLE_UP_TO, sliced=None if part == whole else (part, whole))
    verdict.source = source
    return verdict


def _read_claim(claim: str | sp.Expr, names: Names, net: Network, latex: bool) -> tuple[sp.Expr, str]:
    """The claim's expression, and its text in the claim grammar as the report shows it ("" for SymPy)."""
    if isinstance(claim, sp.Basic):
        expr = sp.sympify(claim)
        unknown = [s for s in expr.free_symbols if not names.knows(s)]
        if unknown:
            raise InputError(f"unknown name {sorted(map(str, unknown))[0]!r} in the claim; the "
                             f"{net.compact} network has {names.summary()}")
        return expr, ""
    claim = latex_to_claim(claim, net) if latex else claim
    return parse_claim(claim, names), " ".join(claim.split())


def _judge(d: Derivation, of: sp.Symbol, wrt: sp.Symbol, claim: sp.Expr, truth: sp.Expr, batch: bool,
           decay: sp.Expr, *,
           points: int, seed: int, seconds: float, listed: bool,
           sliced: tuple[Network, Network] | None) -> Verdict:
    """The verdict on ``claim`` against ``truth``, both in the quantities of ``d``'s network."""
    model = d.model
    notes: list[str] = []
    y_rule: dict[sp.Symbol, sp.Expr] = {}
    # one-hot (or soft) targets sum to 1: the derivation used it for softmax + cce, so the claim may too
    if LOSSES[d.net.loss].one_hot and (truth.free_symbols | claim.free_symbols) & set(model.y):
        ys = model.y
        y_rule = {ys[-1]: 1 - sp.Add(*ys[:-1])}
        notes.append(f"targets sum to 1 ({' + '.join(map(str, ys))} = 1), as for one-hot labels")
    if batch:
        notes.append("E is the mean over m samples: the claim is one sample's term of the sum over them")
    paths = chain_paths(d, of, wrt, batch)
    sampler = Sampler(model, [claim, truth, *(link.expr for path in paths or [] for link in path)], seed)
    if sampler.kinks:
        notes.append(f"ReLU-type kinks avoided: every point keeps its kink arguments at least "
                     f"{KINK_MARGIN} away from 0")
    if sliced:
        part, whole = sliced
        notes.append(f"checked on a {part.compact} slice of the {whole.compact} network: the units the claim and "
                     f"the chain rule use, and one unit for the rest of each cut layer")

    comparison = compare(claim, truth, sampler, sampler.affordable(points))
    if comparison.skipped:
        notes.append(f"{comparison.skipped} drawn points where the derivative has no value were not compared")
    chain = tuple((link.label, link.expr) for link in paths[0]) if paths and len(paths) == 1 else ()
    common = dict(of=str(of), wrt=str(wrt), claim=claim, truth=truth, chain=chain)
    if comparison.counterexample is None:
        shown = proof.prove(claim, truth, model, y_rule, seconds)
        if shown.timed_out:
            notes.append(f"symbolic simplification stopped after {seconds:g} s")
        return Verdict(True, proved=shown.proved, points=len(comparison.agreed), notes=tuple(notes), **common)
    diagnosis = _decay_diagnosis(claim, truth, decay, comparison, f"λ·{wrt} (λ = {d.net.l2:g})") or \
        _diagnose(claim, paths, comparison, sampler, model, seconds)
    claimed = comparison.claimed
    return Verdict(False, proved=False, points=len(comparison.agreed) + 1,
                   counterexample=_shown(comparison.counterexample, claim, truth, sampler, listed, batch),
                   claimed_value=None if claimed is None else float(claimed), true_value=float(comparison.true),
                   diagnosis=diagnosis, notes=tuple(notes), **common)


def _decay_diagnosis(claim: sp.Expr, truth: sp.Expr, decay: sp.Expr, comparison: Comparison,
                     term_text: str) -> tuple[str, ...]:
    """The L2 term λθ left out of the claim, or counted twice: claim − truth is −λθ or +λθ at the
    counterexample (at 50 digits a coincidence is out of the question for drawn values)."""
    if decay == 0 or comparison.claimed is None:
        return ()
    with mpmath.workdps(DIGITS):
        env = comparison.counterexample
        try:
            gap = value(claim - truth, env)
            term = value(decay, env)
        except Undefined:
            return ()
        if close(gap, -term):
            return (f"the L2 decay term {term_text} is missing: the cost has (λ/2)·ΣW², so every ∂E/∂W gains "
                    f"λ·W",)
        if close(gap, term):
            return (f"the L2 decay term {term_text} is counted twice: ∂/∂W of (λ/2)·W² is λ·W, not 2λ·W",)
    return ()


def _diagnose(claim: sp.Expr, paths: Paths | None, comparison: Comparison, sampler: Sampler, model: Model,
              seconds: float) -> tuple[str, ...]:
    if paths is None:
        return ()
    try:
        with proof.time_limit(seconds), mpmath.workdps(DIGITS):
            # the counterexample and the agreed points, topped up with fresh ones
            points = [comparison.counterexample, *comparison.agreed][:FINGERPRINT_POINTS]
            fresh = (p for p in (sampler.point() for _ in range(20 * FINGERPRINT_POINTS)) if p is not None)
            points += islice(fresh, FINGERPRINT_POINTS - len(points))
            return tuple(diagnose(claim, paths, points, model))
    except proof.Timeout:
        return ()


def _shown(point: Point, claim: sp.Expr, truth: sp.Expr, sampler: Sampler, listed: bool,
           batch: bool) -> dict[str, float]:
    """The counterexample by name: inputs, targets, parameters, m, then the forward quantities used —
    every drawn value when ``listed``, else only what the claim and the truth read."""
    used = claim.free_symbols | truth.free_symbols
    m = sampler.model
    base = [s for s in (*m.x, *m.y, *m.params) if s in point and (listed or s in used)]
    base += [M] if batch else []
    forward = [s for s in sampler.needed if s in used]
    return {str(s): float(point[s]) for s in base + forward}


def _quantity(net: Network, names: Names, name: str, option: str) -> sp.Symbol:
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{option} needs a name such as W1[1,1]")
    key = name.replace(" ", "")
    if key == "E":
        return E
    sym = names.get(key)
    if sym is not None and sym != M and not sym.name.startswith("delta"):
        return sym
    raise InputError(f"{option} {name!r} is not a quantity of the {net.compact} network; "
                     f"it has {names.summary(claims=False)}")


def _fmt(v: float | None) -> str:
    return "undefined" if v is None else f"{v:.9g}"


def _point_text(point: dict[str, float]) -> str:
    return ", ".join(f"{k} = {_fmt(v)}" for k, v in point.items())
