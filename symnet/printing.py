"""Printers that write the derivation in the articles' notation.

``LatexPrinter`` reads a symbol's plain-text name (``W1[1,1]``) and prints W^{(1)}_{11}; indexed
arrays of the layer form (``W1[i, j]``) print the same way; derivatives print as ∂E/∂W^{(1)}_{11};
and :func:`chain_product` prints a product in the order given (chain order), not SymPy's.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter as _SympyLatexPrinter

from .names import parse_name

_BASE_LATEX = {"W": "W", "b": "b", "h": "h", "a": "a", "delta": r"\delta"}


def _indices(idx: tuple) -> str:
    parts = [str(i) for i in idx]
    sep = "," if any(len(p) > 1 for p in parts) else ""
    return sep.join(parts)


class LatexPrinter(_SympyLatexPrinter):
    """SymPy's LaTeX printer with the articles' names for the network's quantities."""

    def __init__(self, settings: dict | None = None):
        super().__init__({"mul_symbol": None, **(settings or {})})

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        name = parse_name(expr.name)
        if name is None:
            return super()._print_Symbol(expr, style=style)
        if name.kind in _BASE_LATEX:
            return f"{_BASE_LATEX[name.kind]}^{{({name.layer})}}_{{{_indices(name.index)}}}"
        head = {"yhat": r"\hat{y}", "x": "x", "y": "y", "E": "E"}[name.kind]
        return f"{head}_{{{name.index[0]}}}" if name.index else head

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        label = str(expr.base.label)
        idx = _indices(tuple(self._print(i) for i in expr.indices))
        for kind, tex in _BASE_LATEX.items():
            if label.startswith(kind) and label[len(kind):].isdigit():
                return f"{tex}^{{({label[len(kind):]})}}_{{{idx}}}"
        head = {"yhat": r"\hat{y}", "x": "x", "y": "y"}.get(label, label)
        return f"{head}_{{{idx}}}"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        (var, count), = expr.variable_count
        num = self._print(expr.expr)
        den = self._print(var)
        power = f"^{{{count}}}" if count > 1 else ""
        return rf"\frac{{\partial{power} {num}}}{{\partial {den}{power}}}"

    def _print_Heaviside(self, expr: sp.Heaviside, exp: str | None = None) -> str:
        # ReLU′(h) = H(h) with H(0) = 0: print the convention, not SymPy's θ
        tex = rf"\mathbb{{1}}\left[{self._print(expr.args[0])} > 0\right]"
        return f"{tex}^{{{exp}}}" if exp else tex

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta, exp: str | None = None) -> str:
        i, j = (self._print(a) for a in expr.args)
        tex = rf"\delta_{{{i}{j}}}"
        return f"\\left({tex}\\right)^{{{exp}}}" if exp else tex


_printer = LatexPrinter()


def latex(expr: sp.Basic, **settings: object) -> str:
    """The LaTeX of an expression in the articles' notation."""
    return (LatexPrinter(settings) if settings else _printer).doprint(expr)


def chain_product(factors: list[sp.Basic], **settings: object) -> str:
    """A product printed in the given order — the chain rule's order, ∂E/∂ŷ first."""
    printer = LatexPrinter(settings) if settings else _printer
    parts = []
    for f in factors:
        tex = printer.doprint(f)
        if isinstance(f, sp.Add) or (isinstance(f, sp.Mul) and f.could_extract_minus_sign()):
            tex = rf"\left({tex}\right)"
        parts.append(tex)
    return r" \, ".join(parts)
