"""The softmax as a node: ŷⱼ = e^{hⱼ/T} / Σₗ e^{hₗ/T}, anywhere in a graph (temperature T, 1 by default).

Each output reads every unit of its input, so its Jacobian is full: what the derivation makes of that
(ŷⱼ(δⱼₚ − ŷₚ)/T, and ŷ − y under cross-entropy) is derived from this definition, never written here.
"""
from __future__ import annotations

from typing import Sequence

import sympy as sp

from symnet.functions.activations import SOFTMAX
from symnet.functions.layers.base import Layer, Node, Option, register
from symnet.functions.layers.indices import l


def _temperature(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1e-3 <= value <= 1e3:
        return "must be a number from 0.001 to 1000 (the temperature T)"
    return None


class Softmax(Layer):
    name = SOFTMAX
    stem = SOFTMAX
    title = "softmax layer"
    lesson = ("Each output of a softmax reads every one of its inputs (through their common total), so its Jacobian "
              "is full: an input's derivative sums over every output, and the sum of the outputs being 1 is what "
              "lets it collapse to the difference of prediction and target under cross-entropy.")
    options = (Option("T", 1.0, float, _temperature, "the temperature: e^{h/T} / Σ e^{h/T}"),)

    @staticmethod
    def temperature(node: Node) -> sp.Expr:
        return sp.Rational(repr(float(node.option("T"))))

    def scalar(self, node: Node, inputs: Sequence[Sequence[sp.Expr]], params: dict[str, list]) -> list[sp.Expr]:
        T = self.temperature(node)
        total = sp.Add(*(sp.exp(h / T) for h in inputs[0]))
        return [sp.exp(h / T) / total for h in inputs[0]]

    def indexed(self, node: Node, inputs: Sequence[sp.IndexedBase], params: dict[str, object],
                widths: Sequence[sp.Expr], j: sp.Symbol) -> sp.Expr:
        h, T = inputs[0], self.temperature(node)
        return sp.exp(h[j] / T) / sp.Sum(sp.exp(h[l] / T), (l, 1, widths[0]))

    def named_scalar(self, expr: sp.Expr, definitions: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
        """A derivative of the outputs in the outputs: the total as S, then every e^{hₖ/T} as ŷₖ·S (S cancels)."""
        outputs = list(definitions)
        numerators = [sp.fraction(d)[0] for d in definitions.values()]
        total = sp.fraction(next(iter(definitions.values())))[1]
        S = sp.Symbol("S", positive=True)
        raw = sp.simplify(expr.subs(total, S).subs({e: y * S for e, y in zip(numerators, outputs)}))
        if raw.has(S):  # log ŷ was split into h − log S: write each h as log(ŷ S)·T too
            logs = {}
            for e, y in zip(numerators, outputs):
                (h,) = e.args[0].free_symbols  # e = exp(h/T), so h = T·log(ŷ S)
                logs[h] = sp.log(y * S) * h / e.args[0]
            raw = _without_total(sp.simplify(sp.expand_log(raw.xreplace(logs), force=True)), S)
        return sp.factor(raw)

    def named(self, expr: sp.Expr, node: Node, inputs: Sequence[sp.IndexedBase], out: sp.IndexedBase,
              widths: Sequence[sp.Expr]) -> sp.Expr:
        """e^{hⱼ/T}/Σₗ e^{hₗ/T} as ŷⱼ: the total as S, each e^{c·hⱼ} as (ŷⱼ S)^{cT}; S then cancels."""
        h, T = inputs[0], self.temperature(node)
        S = sp.Dummy("S", positive=True)
        expr = expr.replace(lambda e: isinstance(e, sp.Sum) and _is_total(e, h), lambda e: S)

        def is_exp_h(e: sp.Expr) -> bool:
            if not isinstance(e, sp.exp):
                return False
            _, arg = e.args[0].as_coeff_Mul()
            return isinstance(arg, sp.Indexed) and arg.base == h

        def as_output(e: sp.exp) -> sp.Expr:
            c, arg = e.args[0].as_coeff_Mul()
            return (out[arg.indices[0]] * S) ** (c * T)

        expr = sp.simplify(expr.replace(is_exp_h, as_output))
        if expr.has(S):  # log ŷⱼ was split into hⱼ/T − log S: write each hⱼ as T·log(ŷⱼ S) too
            expr = expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == h,
                                lambda e: T * sp.log(out[e.indices[0]] * S))
            expr = _without_total(sp.simplify(sp.expand_log(expr, force=True)), S)
        return sp.expand(expr)


def _without_total(expr: sp.Expr, S: sp.Symbol) -> sp.Expr:
    """``expr``, written in the outputs and the total S alone, with S gone where simplify left it (a focal
    loss's log ŷ times (1 − ŷ)^γ): what reads a softmax reads only its outputs, which adding a constant to every
    input leaves alone, so such a derivative is the same for every S (S·e^c is every input plus c·T): S = 1."""
    return expr.subs(S, 1) if expr.has(S) else expr


def _is_total(s: sp.Sum, h: sp.IndexedBase) -> bool:
    """Whether a Sum is a softmax's total Σₗ e^{c·hₗ} over its input h."""
    (var, _, _), = s.limits
    f = s.function
    if not isinstance(f, sp.exp):
        return False
    _, arg = f.args[0].as_coeff_Mul()
    return isinstance(arg, sp.Indexed) and arg.base == h and arg.indices == (var,)


SOFTMAX_KIND = register(Softmax())
