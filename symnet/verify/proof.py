"""Proving a claim equal to the truth symbolically, in stages of increasing cost, under a time limit.

1. the claim folded back into the forward quantities (h, a, ŷ as independent symbols) and the difference
   cancelled — the chain rule's own algebra;
2. activations written out as exponentials of h and cancelled again (σ(−h) = 1 − σ(h), σ′ = e⁻ʰ/(1 + e⁻ʰ)²);
3. everything written down to x, y and the parameters, then simplified.

SymPy cannot be interrupted from outside, so the limit is a SIGALRM timer; where there is none to be had
(another thread, someone else's timer) only the first stage runs, and only on a small claim.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import sympy as sp

from symnet.derivation.model import Model
from symnet.functions.activations import expand_definitions

# operations in a claim above which an uninterruptible proof is not attempted
_UNBOUNDED_OPS = 200


class Timeout(Exception):
    """The time limit of :func:`time_limit` ran out."""


@contextmanager
def time_limit(seconds: float) -> Iterator[bool]:
    """Interrupt the block with Timeout after ``seconds``; yields whether it can (only the main thread
    can take signals, and only when no one else's interval timer is running)."""
    usable = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
              and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    if not usable:
        yield False
        return

    active = [True]

    def on_alarm(signum: int, frame: object) -> None:
        if active[0]:
            raise Timeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    # the alarm repeats every 50 ms after the limit: a Timeout raised where Python ignores exceptions (a gc
    # callback, a __del__) is lost, and the next one still stops the block
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield True
    finally:
        try:
            active[0] = False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class Proof:
    proved: bool
    timed_out: bool = False


def prove(claim: sp.Expr, truth: sp.Expr, model: Model, y_rule: dict[sp.Symbol, sp.Expr],
          seconds: float) -> Proof:
    """Whether claim − truth simplifies to 0 within ``seconds``; ``y_rule`` eliminates a target that the
    others determine (one-hot targets sum to 1)."""
    stages = _Stages(claim, truth, model, y_rule)
    try:
        with time_limit(seconds) as bounded:
            if not bounded and sp.count_ops(claim) > _UNBOUNDED_OPS:
                return Proof(False)
            for stage in (stages.forward, stages.exponentials, stages.inputs):
                if stage() == 0:
                    return Proof(True)
                if not bounded:
                    return Proof(False)
    except Timeout:
        return Proof(False, timed_out=True)
    except Exception:  # SymPy gave up (Piecewise in cancel, recursion, …): the numeric verdict stands
        pass
    return Proof(False)


class _Stages:
    def __init__(self, claim: sp.Expr, truth: sp.Expr, model: Model, y_rule: dict[sp.Symbol, sp.Expr]):
        self.claim, self.truth, self.model, self.y_rule = claim, truth, model, y_rule
        self.folder = Folder(model.definitions)

    def folded_difference(self) -> sp.Expr:
        return self.folder.fold(self.claim) - self.folder.fold(self.truth)

    def forward(self) -> sp.Expr:
        return sp.cancel(self.folded_difference().xreplace(self.y_rule))

    def exponentials(self) -> sp.Expr:
        outputs = {s: df for s, df in self.model.definitions.items() if s.name.startswith(("a", "yhat"))}
        diff = self.folded_difference().xreplace(outputs).xreplace(self.y_rule)
        return sp.cancel(expand_definitions(diff))

    def inputs(self) -> sp.Expr:
        diff = (self.claim - self.truth).xreplace(self.y_rule)
        diff = diff.xreplace({s: self.model.forward_expression(s) for s in diff.free_symbols
                              if s in self.model.definitions})
        return sp.simplify(expand_definitions(diff))


class Folder:
    """``expr`` in the forward quantities wherever it writes one out: σ(h2[1]) becomes yhat,
    W1[1,1]*x1 + W1[2,1]*x2 + b1[1] becomes h1[1] (also inside a longer sum), bottom-up, so that
    σ(W2[1,1]σ(…) + …) folds all the way.  The proof and the diagnosis both read a claim this way."""

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
        args = tuple(self.fold(a) for a in expr.args)
        if args != expr.args:  # rebuilt only where something folded: the rest stays as the person wrote it
            out = expr.func(*args)
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
