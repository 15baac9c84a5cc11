"""The document's mathematics: SymPy expressions, products and sums in a given order, and displayed
equations (with an optional number that later steps cite).

These are the only shapes a formula takes on its way from the derivation to a printer: every renderer
(:mod:`symnet.emit.latex.render`, :mod:`symnet.emit.html.page`) prints exactly these.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Ordered:
    """A product printed in the order given — the chain's — not SymPy's."""

    factors: tuple[sp.Basic, ...]


@dataclass(frozen=True)
class Terms:
    """A sum printed in the order given; ``more`` further terms are shown as ⋯."""

    terms: tuple["Math", ...]
    more: int = 0


Math = sp.Basic | Ordered | Terms


class Shape(sp.Basic):
    """The shape of a matrix, rows × columns (m × n₁): SymPy expressions, printed by each printer as
    ``m \\times n_{1}``."""

    def __new__(cls, rows: sp.Expr, cols: sp.Expr):
        return sp.Basic.__new__(cls, sp.sympify(rows), sp.sympify(cols))

    @property
    def rows(self) -> sp.Expr:
        return self.args[0]

    @property
    def cols(self) -> sp.Expr:
        return self.args[1]


@dataclass(frozen=True)
class Eqn:
    """A displayed equation: ``lhs`` then each (relation, form) in turn, e.g. σ′(x) = … = … .

    ``label``: the equation is numbered, and later steps cite it by this label ("by (4)");
    ``cite``: the label of an earlier equation this one follows from, said after it;
    ``one_line``: its forms run on one line when they fit (a short restatement, not a derivation);
    ``shape``: the :class:`Shape` of what it defines, said at the right of its last line (the matrix form).
    """

    lhs: Math
    forms: tuple[tuple[str, Math], ...]
    label: str | None = None
    cite: str | None = None
    one_line: bool = False
    shape: Shape | None = None


def eqn(lhs: Math, *forms: Math, rel: str = "=", label: str | None = None, cite: str | None = None,
        one_line: bool = False, shape: Shape | None = None) -> Eqn:
    """lhs = form₁ = form₂ …, dropping a form that repeats the one before it."""
    kept: list[Math] = []
    for f in forms:
        if not kept or f != kept[-1]:
            kept.append(f)
    return Eqn(lhs, tuple((rel, f) for f in kept), label, cite, one_line, shape)


def value_of(m: Math) -> sp.Expr:
    """The SymPy expression a form stands for (an ordered product multiplied, a sum added), evaluated:
    what the tests compare when they check that each step of a derivation equals the one before."""
    if isinstance(m, Ordered):
        return sp.Mul(*(value_of(f) for f in m.factors))
    if isinstance(m, Terms):
        if m.more:
            raise ValueError("a sum with terms left out has no value")
        return sp.Add(*(value_of(t) for t in m.terms))
    return m.doit(deep=True) if isinstance(m, sp.Basic) and m.has(sp.Derivative, sp.Sum) else m
