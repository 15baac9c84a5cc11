"""SymPy expressions → Numba-friendly Python statements.

:class:`KernelPrinter` extends SymPy's Python code printer: one ``_print_<Node>`` per node it prints
differently (activations, Heaviside, numbers, indexed arrays).  Everything it prints is a scalar
expression: NumPy's functions on scalars compile in ``@njit`` code to the C library calls, and nothing
allocates.  A ``Sum`` cannot be a scalar expression, so :class:`Emitter` turns an assignment whose
right-hand side holds sums into accumulation loops ahead of the assignment — the loops come from the
expression's own ``Sum`` limits, not from a template.

Indices: the layer form counts from 1 (``Sum(..., (l, 1, n2))``); the kernel's arrays count from 0.
Every index symbol runs over ``range(n)`` and every array is subscripted with the same symbol, so
the shift is the same on both sides and no ``- 1`` is ever printed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy as sp
from sympy.printing.precedence import precedence
from sympy.printing.pycode import PythonCodePrinter

from sympy.codegen.cfunctions import expm1, log1p

from symnet.emit.numba.stable import vector_exp
from symnet.functions.activations import ACTIVATION_CLASSES, Activation

#: functions whose evaluation costs a library call: an activation whose kernel form has one is called
#: through a helper function of the module, the others are printed inline (z if z > 0 else 0.01*z)
TRANSCENDENTAL = (sp.exp, sp.log, expm1, log1p, sp.tanh)
#: the module's branch-free e^x and e^x − 1, in kernels whose loops should vectorise (``vector=True``)
VECTOR_MATH = {sp.exp: "_exp", expm1: "_expm1"}


def helper_name(cls: type[Activation]) -> str:
    return f"_{cls.name}"


def needs_helper(cls: type[Activation]) -> bool:
    z = sp.Symbol("z", real=True)
    return cls.kernel_form(z).has(*TRANSCENDENTAL, Activation)


class KernelPrinter(PythonCodePrinter):
    """Prints scalar expressions for ``@numba.njit`` code that imports only ``numpy as np``.

    ``names`` maps symbols to the code that holds them (``W1[1,1]`` → ``W1[0, 0]``, ``h1[2]`` →
    ``h1_2``); ``arrays`` maps an ``IndexedBase`` label to a function of the printed indices
    (``h1`` → ``lambda idx: f"H1[r, {idx[0]}]"`` in a batch layout).  A symbol that is in neither is
    an error: nothing reaches the generated module that the generator did not name.

    ``vector``: the code runs in loops over whole blocks of a batch, which LLVM vectorises only when
    they call no library function; e^x then prints as the module's branch-free ``_exp`` (and the
    activations' helpers are its branch-free forms, see :func:`symnet.emit.numba.stable.vector_exp`).

    ``dtype``: float32 prints every number as ``F(…)`` (the module's ``F = np.float32``): Numba types a
    bare Python number as a float64 or an int64, and either turns the float32 sum it enters into a
    float64 one, which then costs a conversion at every store and halves the width of the vector loops.
    Integer exponents stay integers (x**2 of a float32 is a float32, and one multiplication).

    ``gpu``: the code runs in ``numba.cuda`` kernels, and e^x, log, √ … print as ``math.exp`` and so on:
    numba-cuda compiles Python's math functions to the GPU's own (libdevice), while NumPy's ufuncs on scalars
    go through a table that NumPy releases can break (numba-cuda 0.30.4 on NumPy 2.5 had no entry for np.exp).
    """

    printmethod = "_numbacode"
    language = "Python (Numba)"

    def __init__(self, names: dict[sp.Symbol, str] | None = None,
                 arrays: dict[str, Callable[[list[str]], str]] | None = None,
                 index_names: set[sp.Symbol] = frozenset(), vector: bool = False, dtype: str = "float64",
                 gpu: bool = False):
        super().__init__({"fully_qualified_modules": True, "standard": "python3"})
        self.vector = vector
        self.gpu = gpu
        self.math = "math" if gpu else "np"  # the module the generated code calls e^x, log, √ … from
        self.dtype = dtype
        self.names = dict(names or {})
        self.arrays = dict(arrays or {})
        self.index_names = set(index_names)
        self.helpers: set[type[Activation]] = set()  # the activations this printer called a helper of
        self.vector_math: set[str] = set()  # the branch-free e^x, e^x − 1 it called

    def doprint(self, expr: sp.Expr, assign_to: None = None) -> str:
        return super().doprint(_floats(expr), assign_to)

    # -- names ---------------------------------------------------------------------------
    def _module_format(self, fqn: str, register: bool = True) -> str:
        # math.exp / numpy.exp → np.exp: a CPU module imports numpy as np and nothing else (a GPU one: math)
        head, _, attr = fqn.rpartition(".")
        if head in ("math", "numpy"):
            return f"{self.math}.{attr}"
        if not head and fqn in ("max", "min", "abs"):
            return fqn
        raise ValueError(f"the kernel printer cannot use {fqn}")

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        if expr in self.names:
            return self.names[expr]
        if expr in self.index_names:
            return expr.name
        raise KeyError(f"the kernel has no variable for {expr}")

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        label = str(expr.base.label)
        if label not in self.arrays:
            raise KeyError(f"the kernel has no array for {label}")
        return self.arrays[label]([str(i) if i.is_Integer else self._print(i) for i in expr.indices])

    def _print_Dummy(self, expr: sp.Dummy) -> str:
        return self._print_Symbol(expr)

    # -- numbers -------------------------------------------------------------------------
    def _print(self, expr, **kwargs) -> str:
        # SymPy dispatches a Function subclass on its own class name only (_print_Sigmoid): every
        # activation, built in or defined later, goes through one method instead
        if isinstance(expr, Activation):
            return self._print_Activation(expr)
        return super()._print(expr, **kwargs)

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        # a square root after _floats made its exponent 0.5: np.sqrt rounds correctly, ** 0.5 need not
        if expr.exp == 0.5:
            return f"{self.math}.sqrt({self._print(expr.base)})"
        if expr.exp.is_Integer and expr.exp != -1:
            return f"{self.parenthesize(expr.base, precedence(expr), strict=False)}**{int(expr.exp)}"
        return super()._print_Pow(expr, rational=rational)

    def number(self, text: str) -> str:
        """A number of the kernel's dtype, written as ``text``."""
        return f"F({text})" if self.dtype == "float32" else text

    def _print_Float(self, expr: sp.Float) -> str:
        # repr of the double: 1/100 → 0.01, exact to the last bit and readable
        return self.number(repr(float(expr)))

    def _print_Integer(self, expr: sp.Integer) -> str:
        return self.number(str(int(expr)))

    _print_Zero = _print_Integer

    def _print_Infinity(self, expr: sp.Expr) -> str:
        return self.number(f"{self.math}.inf")

    def _print_NegativeInfinity(self, expr: sp.Expr) -> str:
        return self.number(f"-{self.math}.inf")

    # -- functions -----------------------------------------------------------------------
    def _print_Activation(self, expr: Activation) -> str:
        cls = type(expr)
        if needs_helper(cls):
            self.helpers.add(cls)
            return f"{helper_name(cls)}({self._print(expr.args[0])})"
        # the piecewise-linear ones print as their kernel form: z if z > 0 else slope*z
        return self._print(_floats(cls.kernel_form(expr.args[0])))

    def _print_exp(self, expr: sp.exp) -> str:
        return self._vector_call(expr) if self.vector else super()._print_exp(expr)

    def _print_expm1(self, expr: expm1) -> str:
        return self._vector_call(expr) if self.vector else f"{self.math}.expm1({self._print(expr.args[0])})"

    def _print_log1p(self, expr: log1p) -> str:
        return f"{self.math}.log1p({self._print(expr.args[0])})"

    def _vector_call(self, expr: sp.Function) -> str:
        name = VECTOR_MATH[expr.func]
        self.vector_math.add(name)
        return f"{name}({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        # Heaviside(z, H0) with the derivation's H0 (ReLU'(0) = 0) as a conditional
        return self._print(expr.rewrite(sp.Piecewise))

    def _print_Sum(self, expr: sp.Sum) -> str:
        raise ValueError(f"a Sum is not a scalar expression; emit it with Emitter.assign: {expr}")

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        raise ValueError(f"an unevaluated derivative cannot be printed as code: {expr}")


def invariant_sums(expr: sp.Expr) -> set[sp.Sum]:
    """The sums inside another sum that read none of the indices the sums around them bind."""
    out: set[sp.Sum] = set()

    def walk(e: sp.Basic, bound: frozenset) -> None:
        if isinstance(e, sp.Sum):
            if bound and not e.free_symbols & bound:
                out.add(e)
                return
            bound = bound | {limit[0] for limit in e.limits}
        for a in e.args:
            walk(a, bound)

    walk(expr, frozenset())
    return out


def _floats(expr: sp.Expr) -> sp.Expr:
    """Fractions as the nearest double, so 1/2 prints as a number (0.5), not as a division."""
    expr = sp.sympify(expr)
    return expr.xreplace({r: sp.Float(float(r)) for r in expr.atoms(sp.Rational) if not r.is_Integer})



@dataclass
class Emitter:
    """Writes assignments as lines of code, hoisting each ``Sum`` into an accumulation loop."""

    printer: KernelPrinter
    extents: dict[sp.Symbol, str] = field(default_factory=dict)  # width symbol n_k → code (N2)
    _count: int = 0

    def assign(self, target: str, expr: sp.Expr, op: str = "=") -> list[str]:
        """``target op expr`` as lines: loops for the sums in expr, then the assignment."""
        lines, scalar = self._hoist(sp.sympify(expr))
        return lines + [f"{target} {op} {self.printer.doprint(scalar)}"]

    def _hoist(self, expr: sp.Expr) -> tuple[list[str], sp.Expr]:
        lines: list[str] = []
        # a sum inside another that reads none of its indices (a hinge's Σₗ yₗŷₗ inside Σ_q) is computed once
        for s in sorted(invariant_sums(expr), key=sp.default_sort_key):
            inner, body = self._hoist(s)
            lines += inner
            expr = expr.xreplace({s: body})
        # a sum inside another may also stand on its own (a hinge's Σₗ yₗŷₗ, in its step and in Σ_q of the
        # steps): the outer ones first, then again for what is left
        while sums := [s for s in sp.preorder_traversal(expr) if isinstance(s, sp.Sum)]:
            outer = [s for s in sums if not any(s != o and o.has(s) for o in sums)]
            replacements = {}
            for s in sorted(set(outer), key=sp.default_sort_key):
                acc = sp.Symbol(f"acc{self._count}")
                self._count += 1
                self.printer.names[acc] = acc.name
                lines += self._loop(acc.name, s)
                replacements[s] = acc
            expr = expr.xreplace(replacements)
        return lines, expr

    def _loop(self, acc: str, s: sp.Sum) -> list[str]:
        if len(s.limits) != 1:
            raise ValueError(f"one index per Sum, got {s}")
        var, lo, hi = s.limits[0]
        if lo != 1:
            raise ValueError(f"sums run from 1 in the layer form, got {s}")
        body_lines, body = self._hoist(s.function)
        inner = body_lines + [f"{acc} += {self.printer.doprint(body)}"]
        return [f"{acc} = {self.printer.number('0.0')}", f"for {self.printer.doprint(var)} in range({self._extent(hi)}):"] + [
            "    " + line for line in inner
        ]

    def _extent(self, hi: sp.Expr) -> str:
        if hi in self.extents:
            return self.extents[hi]
        raise KeyError(f"no extent for the sum limit {hi}")


@dataclass(frozen=True)
class Helper:
    """A helper function of the generated module: an activation's kernel form, printed."""

    name: str
    comment: str
    body: list[str]


def helpers(used: set[type[Activation]], vector: bool, dtype: str = "float64",
            gpu: bool = False) -> tuple[list[Helper], set[str]]:
    """The helper functions for the activations ``used`` (and those their forms call), in registry
    order, and the branch-free math functions their bodies call."""
    z = sp.Symbol("z", real=True)
    done: dict[type[Activation], Helper] = {}
    math: set[str] = set()
    todo = set(used)
    while todo:
        cls = todo.pop()
        printer = KernelPrinter(names={z: "z"}, vector=vector, dtype=dtype, gpu=gpu)
        form = _floats(cls.kernel_form(z))
        temps, (reduced,) = sp.cse([form], symbols=sp.numbered_symbols("e", real=True), order="canonical")
        body = []
        for t, e in temps:
            printer.names[t] = t.name
            body.append(f"{t.name} = {printer.doprint(e)}")
        body.append(f"return {printer.doprint(reduced)}")
        definition = cls.definition(z)
        comment = f"{cls.name}(z) = {sp.sstr(definition)}"
        if form != definition:
            comment += ", evaluated in a form that cannot overflow (its kernel form)"
        done[cls] = Helper(helper_name(cls), comment, body)
        math |= printer.vector_math
        todo |= printer.helpers - set(done)
    return [done[c] for c in ACTIVATION_CLASSES.values() if c in done], math


def vector_math_pieces(dtype: str) -> dict:
    """The printed pieces of the branch-free e^x (:func:`symnet.emit.numba.stable.vector_exp`) in the
    kernel's dtype: the constants, the clamp, the bits of a power of two and e^r − 1 as a polynomial in r."""
    v = vector_exp(dtype=dtype)
    printer = KernelPrinter(names={v.r: "r", **{power: str(power) for power, _ in v.powers}}, dtype=dtype)
    n = printer.number
    return dict(log2e=n(repr(v.log2e)), ln2_hi=n(repr(v.ln2_hi)), ln2_lo=n(repr(v.ln2_lo)), degree=v.degree,
                bound=f"{v.bound:.1e}", r_max=f"{v.r_max:.4f}", polynomial=printer.doprint(v.polynomial),
                powers=[(str(power), printer.doprint(value)) for power, value in v.powers],
                round=n(repr(v.round)), exponent_one=v.bias << v.shift, half=n("0.5"),
                lo=n(repr(v.lo)), hi=n(repr(v.hi)), int=v.int, bias=v.bias, shift=v.shift,
                lo_text=f"{v.lo:g}", hi_text=f"{v.hi:g}", one=n("1.0"))
