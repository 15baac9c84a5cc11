"""Kernel code as structured nodes, printed once: SymPy's ``sympy.codegen.ast`` statements for Numba.

A graph's kernel (:mod:`symnet.emit.numba.graph`) builds every step as ``Assignment``,
``AddAugmentedAssignment``, ``For`` over a ``Range`` and :class:`Call` nodes around the derivation's
expressions, and :class:`StatementPrinter` prints them in one pass; no later pass reads printed code
again.  A ``Sum`` inside an expression becomes an accumulation loop ahead of the statement that reads it
(:func:`hoisted`), its loop taken from the Sum's own limits.
"""
from __future__ import annotations

from itertools import count

import sympy as sp
from sympy.codegen.ast import AddAugmentedAssignment, Assignment, CodeBlock, For

from symnet.emit.numba.printer import KernelPrinter, invariant_sums


class Call(sp.Basic):
    """``name(arg, …)`` where each argument is code already printed (an array's view, ``W3[N1:N1 + N2]``) or an
    expression: a statement of its own (a BLAS product)."""

    def __new__(cls, name: str, *args: object):
        return sp.Basic.__new__(cls, sp.Symbol(name), *(a if isinstance(a, sp.Basic) else _Code(str(a)) for a in args))

    @property
    def name(self) -> str:
        return self.args[0].name


class _Code(sp.Symbol):
    """A piece of code as it is printed: an array view (``h1[:B]``)."""


class Assign(Assignment):
    """``lhs = rhs`` with an array entry on either side (SymPy's checks ask an entry for a shape it need not have)."""

    @classmethod
    def _check_args(cls, lhs, rhs) -> None:
        pass


class AddAssign(AddAugmentedAssignment):
    """``lhs += rhs`` likewise."""

    @classmethod
    def _check_args(cls, lhs, rhs) -> None:
        pass


class Branch(sp.Basic):
    """``if flag: then else: otherwise`` — a flag the caller passes (``use_velocity``), two lists of statements."""

    def __new__(cls, flag: str, then: list, otherwise: list):
        return sp.Basic.__new__(cls, _Code(flag), CodeBlock(*then), CodeBlock(*otherwise))


class StatementPrinter(KernelPrinter):
    """:class:`KernelPrinter` for statements: assignments, loops, blocks and calls."""

    def _print_CodeBlock(self, block: CodeBlock) -> str:
        return "\n".join(self._print(s) for s in block.args)

    def _print_Assignment(self, expr: Assignment) -> str:
        return f"{self._print(expr.lhs)} = {self._print(expr.rhs)}"

    def _print_AddAugmentedAssignment(self, expr: AddAugmentedAssignment) -> str:
        return f"{self._print(expr.lhs)} += {self._print(expr.rhs)}"

    def _print_For(self, expr: For) -> str:
        rng = expr.iterable
        start, stop = rng.args[0], rng.args[1]
        bounds = self._print(stop) if start == 0 else f"{self._print_int(start)}, {self._print(stop)}"
        body = "\n".join("    " + line for line in self._print(expr.body).splitlines())
        return f"for {self._print(expr.target)} in range({bounds}):\n{body}"

    def _print_int(self, e: sp.Expr) -> str:
        return str(int(e)) if e.is_Integer else self._print(e)

    def _print_Branch(self, expr: Branch) -> str:
        flag, then, otherwise = expr.args

        def indented(block: CodeBlock) -> str:
            return "\n".join("    " + line for line in self._print(block).splitlines())

        return f"if {flag.name}:\n{indented(then)}\nelse:\n{indented(otherwise)}"

    def _print_Call(self, expr: Call) -> str:
        return f"{expr.name}({', '.join(self._print(a) for a in expr.args[1:])})"

    def _print__Code(self, expr: _Code) -> str:
        return expr.name

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        if isinstance(expr, _Code):
            return expr.name
        return super()._print_Symbol(expr)

    def lines(self, *statements: sp.Basic) -> list[str]:
        """The statements' code, one line a list entry."""
        return [line for s in statements for line in self.doprint(s).splitlines()]


def loop(index: sp.Symbol, extent: sp.Expr, *body: sp.Basic, start: int = 0) -> For:
    """``for index in range(start, extent): body``."""
    return For(index, sp.Range(start, extent), CodeBlock(*body))


def hoisted(expr: sp.Expr, accumulators: "count[int]") -> tuple[list[sp.Basic], sp.Expr]:
    """The statements that compute ``expr``'s sums (an accumulator each, set to 0 and added to in a loop over
    the sum's index; nested sums inside), and ``expr`` with each sum replaced by its accumulator."""
    statements: list[sp.Basic] = []
    # a sum inside another that reads none of its indices (a hinge's Σₗ yₗŷₗ inside Σ_q) is computed once, first
    for s in sorted(invariant_sums(expr), key=sp.default_sort_key):
        inner, body = hoisted(s, accumulators)
        statements += inner
        expr = expr.xreplace({s: body})
    # a sum inside another may also stand on its own: the outer ones first, then again for what is left
    while sums := [s for s in sp.preorder_traversal(expr) if isinstance(s, sp.Sum)]:
        outer = [s for s in dict.fromkeys(sums) if not any(s != o and o.has(s) for o in sums)]
        replaced = {}
        for s in sorted(outer, key=sp.default_sort_key):
            (var, lo, hi), = s.limits
            if lo != 1:
                raise ValueError(f"sums run from 1 in the index form, got {s}")
            acc = _Code(f"acc{next(accumulators)}")
            inner, body = hoisted(s.function, accumulators)
            statements += [Assign(acc, sp.Float(0.0)), loop(var, hi, *inner, AddAssign(acc, body))]
            replaced[s] = acc
        expr = expr.xreplace(replaced)
    return statements, expr


__all__ = ["AddAssign", "Assign", "Branch", "Call", "StatementPrinter", "hoisted", "loop"]
