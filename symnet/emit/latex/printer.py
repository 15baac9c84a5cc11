"""Printers that write the derivation in the articles' notation.

``LatexPrinter`` reads a symbol's plain-text name (``W1[1,1]``) and prints W^{(1)}_{11}; indexed
arrays of the layer form (``W1[i, j]``) print the same way; derivatives print as ∂E/∂W^{(1)}_{11};
and :func:`chain_product` prints a product in the order given (chain order), not SymPy's.

Products and sums are ordered the way the articles read them rather than alphabetically: a product's
factors follow the chain from the error down to the input (ŷ − y before ŷ(1 − ŷ) before W⁽²⁾ before
a⁽¹⁾(1 − a⁽¹⁾) before x), a quantity sits right before its (1 − quantity), a sum puts its positive
terms first (ŷ − y, not −y + ŷ) and the bias last (W₁₁x₁ + W₂₁x₂ + b₁).  The same ordering is exposed
as :meth:`LatexPrinter.ordered_terms` and :meth:`LatexPrinter.mul_parts` so that the line breaker in
:mod:`symnet.emit.latex.layout` splits an expression exactly where the printer would print its parts.

The matrix (batch) form of :mod:`symnet.derivation.matrix_form` prints in the same notation: the batch's
matrices as capitals (X, Y, Ŷ, H⁽ᵏ⁾, A⁽ᵏ⁾, Δ⁽ᵏ⁾), a ones matrix as 𝟏 (𝟏ᵀ for a row), the entry-by-entry
product as ⊙ (its negative powers as a fraction), a function applied to every entry as f(H⁽ᵏ⁾), and a
matrix product's scalars in front (1/m, λ); :meth:`LatexPrinter.matadd_terms` and
:meth:`LatexPrinter.hadamard_parts` give the reading order (Ŷ − Y, the layer above before this one's).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.core.sorting import default_sort_key
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.latex import LatexPrinter as _SympyLatexPrinter

from symnet.functions.activations import Activation
from symnet.derivation.names import parse_name
from symnet.emit.notation import LABEL, indexed_script, joined, layer_below, node_script, symbol_script, upright

_BASE_LATEX = {"W": "W", "b": "b", "h": "h", "a": "a", "delta": r"\delta"}
_VECTOR_LATEX = {"x": r"\mathbf{x}", "y": r"\mathbf{y}", "yhat": r"\hat{\mathbf{y}}", "h": r"\mathbf{h}",
                 "a": r"\mathbf{a}", "b": r"\mathbf{b}", "delta": r"\boldsymbol{\delta}", "W": "W"}
#: the matrix (batch) form's matrices, one row per sample: capitals, as the weight matrices W⁽ᵏ⁾ are
_MATRIX_LATEX = {"X": "X", "Y": "Y", "Yhat": r"\hat{Y}", "H": "H", "A": "A", "D": r"\Delta"}
#: a batch matrix's name: H1, A1, D1 (Δ⁽¹⁾) and X, Y, Yhat (symnet.derivation.matrix_form)
MATRIX_NAME = re.compile(r"^(H|A|D)([0-9]+|k|k[+-]1)$|^(X|Y|Yhat)$")
#: the parameters of a layer named relative to layer k, in the words about the matrix form: W⁽ᵏ⁺¹⁾
NEIGHBOUR_NAME = re.compile(r"^(W|b)(k[+-]1)$")
#: a vector name ending in this mark is the vector extended by a constant 1 (the augmented bias): x̃
AUGMENTED_MARK = "~"
#: a weight matrix's name ending in this mark is the matrix without its bias row, the weights proper of
#: the augmented notation: W̄⁽ᵏ⁾
NO_BIAS_MARK = "\u00b0"
#: the undefined functions of the composite-function view: f⁽ᵏ⁾ (layer k) and ℓ (the error of ŷ)
_LAYER_FUNCTION = re.compile(r"^f([0-9]+|k)$")
_FUNCTION_LATEX = {"ell": r"\ell"}
_LABEL = LABEL
#: a stand-in for "no layer": later than every real layer in the chain order
_FAR = 100


def node_tex(stem: str, layer: str | None = None, index: str | None = None) -> str:
    """A graph node's name: a letter italic (s), a word upright (\\mathrm{add}); its number as a layer's."""
    head = rf"\mathrm{{{stem}}}" if upright(stem) else stem
    return head + (f"^{{({layer})}}" if layer else "") + (f"_{{{index}}}" if index else "")


def paren(tex: str) -> str:
    """Parentheses that grow only around something tall (a fraction, a sum, a matrix)."""
    if any(tall in tex for tall in (r"\frac", r"\sum", r"\begin", r"\left")):
        return rf"\left({tex}\right)"
    return f"({tex})"


def _indices(idx: tuple) -> str:
    return joined(idx)[0]


def _kind_layer(atom: sp.Basic) -> tuple[str | None, int | None]:
    """The kind (W, b, h, a, delta, x, y, yhat, E) and layer of a symbol or indexed quantity."""
    if isinstance(atom, sp.Indexed):
        label = str(atom.base.label)
        m = _LABEL.match(label)
        if m:
            return m[1], int(m[2]) if m[2].isdigit() else None
        return (label if label in ("x", "y", "yhat") else None), None
    if isinstance(atom, sp.Symbol):
        name = parse_name(atom.name)
        if name is not None:
            return name.kind, name.layer
    return None, None


def chain_level(atom: sp.Basic) -> int:
    """Where a quantity sits along the chain from E down to x: the order a product's factors print in.

    ∂E/∂ŷ reads y and ŷ, ∂ŷ/∂h⁽ᴸ⁾ reads ŷ and h⁽ᴸ⁾, ∂h⁽ᴸ⁾/∂a⁽ᴸ⁻¹⁾ is W⁽ᴸ⁾, ∂a⁽ᴸ⁻¹⁾/∂h⁽ᴸ⁻¹⁾ reads
    a⁽ᴸ⁻¹⁾, …, ∂h⁽¹⁾/∂W⁽¹⁾ is x: so y < ŷ < (h, a, δ)⁽ᴸ⁾ < W⁽ᴸ⁾ < (h, a, δ)⁽ᴸ⁻¹⁾ < … < W⁽¹⁾ < x.
    Layers count from a far-away top, so the order needs no knowledge of the network's depth.
    """
    kind, layer = _kind_layer(atom)
    if kind in ("E",):
        return -1
    if kind == "y":
        return 0
    if kind == "yhat":
        return 1
    if kind in ("W", "b"):
        return 2 * (_FAR - (layer or 1)) + 2
    if kind in ("h", "a", "delta"):
        return 2 * (_FAR - (layer or 1)) + 1
    if kind == "x":
        return 2 * _FAR + 1
    return 3 * _FAR


def _quantities(expr: sp.Basic) -> list[sp.Basic]:
    found = list(expr.atoms(sp.Indexed))
    inside = {s for i in found for s in i.free_symbols}
    return found + [s for s in expr.free_symbols if s not in inside]


def _is_bias(expr: sp.Basic) -> bool:
    return any(_kind_layer(q)[0] == "b" for q in _quantities(expr)) and all(
        _kind_layer(q)[0] == "b" for q in _quantities(expr))


def natural_order(terms: list[sp.Expr]) -> list[sp.Expr]:
    """Terms that differ only in their numbers (y₁ log ŷ₁, y₁₀ log ŷ₁₀, y₂ log ŷ₂) in the numbers' order
    (1, 2, 10), each group keeping the places SymPy gave it; other terms stay where they are."""
    groups: dict[str, list[int]] = {}
    texts = [str(t) for t in terms]
    for pos, text in enumerate(texts):
        groups.setdefault(re.sub(r"[0-9]+", "#", text), []).append(pos)
    out = list(terms)
    for positions in groups.values():
        if len(positions) > 1:
            ranked = sorted(positions, key=lambda k: tuple(int(n) for n in re.findall(r"[0-9]+", texts[k])))
            for place, k in zip(positions, ranked):
                out[place] = terms[k]
    return out


def is_coefficient(expr: sp.Basic) -> bool:
    """Whether a factor is a scalar coefficient (α, λ, μ, 1 − β₁), not a quantity of the network or a
    derivative: it is printed first, α ∂E/∂W rather than ∂E/∂W α."""
    if expr.has(sp.Derivative) or not expr.free_symbols or expr.atoms(sp.Indexed, sp.Function):
        return False
    return all(_kind_layer(s)[0] is None for s in expr.free_symbols)


@dataclass(frozen=True)
class MulParts:
    """A product as the printer lays it out: sign, a rational coefficient, numerator and denominator
    factors in reading order."""

    negative: bool
    coeff: sp.Rational
    numer: list[sp.Expr]
    denom: list[sp.Expr]


class LatexPrinter(_SympyLatexPrinter):
    """SymPy's LaTeX printer with the articles' names and reading order for the network's quantities.

    Settings beyond SymPy's: ``bias_rows`` maps a layer k to the row n_{k-1} + 1 of W⁽ᵏ⁾ that holds the
    bias in the augmented notation (b⁽ᵏ⁾ⱼ then prints as W⁽ᵏ⁾_{n+1,j}); ``augmented_indexed`` prints the
    layer form's b⁽ᵏ⁾ⱼ as W⁽ᵏ⁾_{n_{k-1}+1, j}.
    """

    _default_settings = {**_SympyLatexPrinter._default_settings, "bias_rows": None, "augmented_indexed": False}

    def __init__(self, settings: dict | None = None):
        # vectors and matrices in round brackets, as the weight matrices are written
        super().__init__({"mul_symbol": None, "mat_str": "pmatrix", "mat_delim": "", **(settings or {})})
        #: while an element-wise function's formula prints: its variable's stand-in → the matrix's LaTeX
        self._matrix_args: dict[str, str] = {}

    # -- names ------------------------------------------------------------------------
    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        held = self._print_Symbol_placeholder(expr)
        if held is not None:  # the matrix an element-wise function is applied to
            return held
        script = symbol_script(expr.name, self._settings["bias_rows"])
        if script is None:
            return super()._print_Symbol(expr, style=style)
        if script.kind not in _BASE_LATEX and script.kind not in ("yhat", "x", "y", "E"):
            return node_tex(script.kind, script.layer, _indices(script.index) if script.index else None)
        if script.layer is not None:
            return f"{_BASE_LATEX[script.kind]}^{{({script.layer})}}_{{{_indices(script.index)}}}"
        head = {"yhat": r"\hat{y}", "x": "x", "y": "y", "E": "E"}[script.kind]
        return f"{head}_{{{script.index[0]}}}" if script.index else head

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        label = str(expr.base.label)
        idx = _indices(tuple(self._print(i) for i in expr.indices))
        found = indexed_script(label)
        if found:
            kind, layer = found
            if kind == "b" and self._settings["augmented_indexed"]:
                below = layer_below(layer)
                return f"W^{{({layer})}}_{{n_{{{below}}}+1,{idx}}}"
            return f"{_BASE_LATEX[kind]}^{{({layer})}}_{{{idx}}}"
        io = {"yhat": r"\hat{y}", "x": "x", "y": "y"}
        if label in io:
            return f"{io[label]}_{{{idx}}}"
        node = node_script(label)
        if node is not None:
            stem, layer, grad = node
            of = node_tex(stem, layer, idx) if stem != "yhat" else rf"\hat{{y}}_{{{idx}}}"
            return rf"\frac{{\partial E}}{{\partial {of}}}" if grad else of
        return f"{label}_{{{idx}}}"

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol, sup: str = "") -> str:
        """Vectors bold (𝐱, 𝐡⁽¹⁾, 𝐲̂), weight matrices W⁽ᵏ⁾: the vector form of the feed-forward; a name
        ending in ``~`` is the vector extended by a constant 1 (x̃ = (x₁, …, xₙ, 1)).  The batch
        matrices of the matrix form are capitals: X, Y, Ŷ, H⁽ᵏ⁾, A⁽ᵏ⁾, Δ⁽ᵏ⁾ (with ``~``, the matrix with a
        column of ones appended, X̃); a weight matrix whose name ends in ``°`` is W̄⁽ᵏ⁾, without its bias row."""
        name = str(expr.name)
        extended = name.endswith(AUGMENTED_MARK)
        name = name.rstrip(AUGMENTED_MARK)
        barred = name.endswith(NO_BIAS_MARK)
        name = name.rstrip(NO_BIAS_MARK)
        m, batch = _LABEL.match(name) or NEIGHBOUR_NAME.match(name), MATRIX_NAME.match(name)
        if batch:
            kind, layer = (batch[1], batch[2]) if batch[1] else (batch[3], None)
            head = _MATRIX_LATEX[kind]
        else:
            kind, layer = (m[1], m[2]) if m else (name, None)
            head = _VECTOR_LATEX.get(kind, name)
            node = node_script(name) if not m and kind not in _VECTOR_LATEX else None
            if node is not None:  # a graph's node's matrix over the batch: Add1 as Add⁽¹⁾
                head, layer = node_tex(node[0]), node[1]
        if extended:
            head = rf"\tilde{{{head}}}"
        if barred:
            head = rf"\bar{{{head}}}"
        marks = ([f"({layer})"] if layer else []) + ([sup] if sup else [])
        return head + (f"^{{{''.join(marks)}}}" if marks else "")

    def _print_Function(self, expr: sp.Function, exp: str | None = None) -> str:
        """The composite view's undefined functions: f⁽ᵏ⁾(…) for layer k, ℓ(…) for the error."""
        if isinstance(expr, AppliedUndef):
            head = function_head(expr.func.__name__)
            if exp:
                head = f"{head}^{{{exp}}}"
            return head + paren(", ".join(self._print(a) for a in expr.args))
        return super()._print_Function(expr, exp)

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        if isinstance(expr.arg, sp.MatrixSymbol):
            return self._print_MatrixSymbol(expr.arg, sup=r"\top")
        return rf"\left({self._print(expr.arg)}\right)^{{\top}}"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        (var, count), = expr.variable_count
        inner = expr.expr
        den = self._print(var)
        power = f"^{{{count}}}" if count > 1 else ""
        if isinstance(inner, Activation) and inner.args[0] == var and count == 1:
            # f′(h): the articles' σ′(h)
            return rf"{inner.latex_name}'{paren(den)}"
        if isinstance(inner, AppliedUndef) and inner.args == (var,) and count == 1:
            # f′(g(x)): the derivative of a function of one variable at its argument
            return function_head(inner.func.__name__, prime=True) + paren(den)
        if isinstance(inner, (sp.Symbol, sp.Indexed, sp.MatrixSymbol)):
            return rf"\frac{{\partial{power} {self._print(inner)}}}{{\partial {den}{power}}}"
        body = self._print(inner)
        if isinstance(inner, (sp.Add, sp.Mul)) or inner.is_Pow:
            body = paren(body)
        return f"{self.derivative_operator(var, count)} {body}"

    def derivative_operator(self, var: sp.Basic, count: int = 1) -> str:
        """∂/∂var, the operator in front of an expression it differentiates."""
        power = f"^{{{count}}}" if count > 1 else ""
        return rf"\frac{{\partial{power}}}{{\partial {self._print(var)}{power}}}"

    def _print(self, expr, **kwargs) -> str:
        # activations carry their own _latex hook; print them here so their parentheses follow ours
        if isinstance(expr, Activation):
            head = expr.latex_name + (f"^{{{kwargs['exp']}}}" if kwargs.get("exp") else "")
            return head + paren(super()._print(expr.args[0]))
        return super()._print(expr, **kwargs)

    def _print_Sum(self, expr: sp.Sum) -> str:
        """One Σ per limit, the outermost (SymPy's last) first, rather than one Σ over a stack of ranges."""
        if len(expr.limits) == 1:
            return super()._print_Sum(expr)
        inner = sp.Sum(expr.function, expr.limits[0])
        for limit in expr.limits[1:-1]:
            inner = sp.Sum(inner, limit)
        var, low, high = expr.limits[-1]
        return (rf"\sum_{{{self._print(var)}={self._print(low)}}}^{{{self._print(high)}}} "
                + self._print(inner))

    def _print_Pow(self, expr: sp.Pow) -> str:
        if isinstance(expr.base, (sp.Indexed, sp.Symbol)) and expr.exp.is_Integer and expr.exp > 1:
            base = self._print(expr.base)
            if "^" in base:  # a⁽¹⁾ⱼ squared: (a⁽¹⁾ⱼ)², never a double superscript
                return f"({base})^{{{self._print(expr.exp)}}}"
        return super()._print_Pow(expr)

    def _print_Heaviside(self, expr: sp.Heaviside, exp: str | None = None) -> str:
        # ReLU′(h) = H(h) with H(0) = 0: print the convention, not SymPy's θ
        tex = rf"\mathbf{{1}}[{self._print(expr.args[0])} > 0]"
        return f"{tex}^{{{exp}}}" if exp else tex

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta, exp: str | None = None) -> str:
        # the indicator 1[q = j], as ReLU′ is 1[h > 0]: δ is back-propagation's δ⁽ᵏ⁾, never the Kronecker delta
        i, j = (self._print(a) for a in expr.args)
        tex = rf"\mathbf{{1}}[{i} = {j}]"
        return f"{tex}^{{{exp}}}" if exp else tex

    # -- the matrix (batch) form ---------------------------------------------------------
    def _print_Symbol_placeholder(self, expr: sp.Symbol) -> str | None:
        return self._matrix_args.get(expr.name) if self._matrix_args else None

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        """A matrix of ones, 𝟏: a column of m ones in 𝟏b⁽ᵏ⁾ᵀ, its transpose 𝟏ᵀ (a row) in 𝟏ᵀΔ, and of
        whatever shape its place needs elsewhere (1 − A)."""
        rows, cols = expr.shape
        return r"\mathbf{1}^{\top}" if rows == 1 and cols != 1 else r"\mathbf{1}"

    def _print_ZeroMatrix(self, expr: sp.ZeroMatrix) -> str:
        rows, cols = expr.shape
        return r"\mathbf{0}^{\top}" if rows == 1 and cols != 1 else r"\mathbf{0}"

    def _print_Shape(self, expr) -> str:
        def side(e: sp.Expr) -> str:
            tex = self._print(e)
            return f"({tex})" if isinstance(e, sp.Add) else tex
        return rf"{side(expr.rows)} \times {side(expr.cols)}"

    def matrix_factor_tex(self, f: sp.Basic, alone: bool = False) -> str:
        """A factor of a matrix product or of a Hadamard product, in parentheses when it is a sum or a
        product itself (``alone``: the only matrix after a scalar, where ⊙ needs none)."""
        tex = self._print(f)
        if isinstance(f, sp.MatAdd) or (isinstance(f, sp.MatMul) and len(matmul_parts(f)[1]) > 1):
            return paren(tex)
        if isinstance(f, (sp.HadamardProduct, sp.HadamardPower)) and not alone:
            return paren(tex)
        if isinstance(f, ElementwiseApplyFunction) and _elementwise_body_is_sum(f):
            return paren(tex)
        return tex

    def coefficient_tex(self, coeff: sp.Expr) -> str:
        """A scalar in front of a matrix: 1/m, λ, 2 (nothing for 1, a minus sign for −1)."""
        if coeff == 1:
            return ""
        if coeff == -1:
            return "- "
        return self._print(coeff) + " "

    def scaled_tex(self, coeff: sp.Expr, core: sp.Basic) -> str:
        """A scalar times a matrix expression whose own coefficient is 1 (:func:`split_coefficient`)."""
        if isinstance(core, sp.MatMul):
            body = " ".join(self.matrix_factor_tex(a) for a in core.args)
        else:
            body = self.matrix_factor_tex(core, alone=True)
        return (self.coefficient_tex(coeff) + body).strip()

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        return self.scaled_tex(*split_coefficient(expr))

    def matadd_terms(self, expr: sp.MatAdd) -> list[tuple[bool, sp.Expr, sp.Basic]]:
        """A matrix sum's terms as (negative, the coefficient's size, the term without it), in reading
        order: positive terms first, a term with a symbol for coefficient (λW) after the others, the bias
        (𝟏bᵀ) last."""
        out = []
        for t in expr.args:
            coeff, core = split_coefficient(t)
            negative = bool(coeff.could_extract_minus_sign())
            if negative:
                coeff = -coeff
            bias = any(str(m.name).startswith("b") for m in core.atoms(sp.MatrixSymbol))
            out.append((negative, bias, not coeff.is_number, coeff, core))
        out.sort(key=lambda t: t[:3])
        return [(negative, coeff, core) for negative, _, _, coeff, core in out]

    def matrix_term_tex(self, coeff: sp.Expr, core: sp.Basic) -> str:
        if coeff == 1 and isinstance(core, sp.MatAdd):
            return paren(self._print(core))
        return self.scaled_tex(coeff, core)

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        tex = ""
        for k, (negative, coeff, core) in enumerate(self.matadd_terms(expr)):
            tex += ("- " if negative else "") if k == 0 else (" - " if negative else " + ")
            tex += self.matrix_term_tex(coeff, core)
        return tex

    def hadamard_parts(self, expr: sp.HadamardProduct) -> tuple[list[sp.Basic], list[sp.Basic]]:
        """The factors of an entry-by-entry product, in chain order (ŷ − y before ŷ before 1 − ŷ, the
        layer above before this one's), and the bases of its negative powers (the entry-by-entry
        denominator)."""
        numer, denom = [], []
        for f in _hadamard_factors(expr):
            if isinstance(f, sp.HadamardPower) and f.exp.is_number and f.exp.is_negative:
                denom.append(f.base if f.exp == -1 else sp.HadamardPower(f.base, -f.exp))
            else:
                numer.append(f)
        key = lambda f: (matrix_level(f), isinstance(f, sp.MatAdd), default_sort_key(f))  # noqa: E731
        return sorted(numer, key=key), sorted(denom, key=key)

    def _hadamard_tex(self, factors: list[sp.Basic]) -> str:
        if not factors:
            return r"\mathbf{1}"
        if len(factors) == 1:
            return self._print(factors[0])
        return r" \odot ".join(self.matrix_factor_tex(f) for f in factors)

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        coeff, core = split_coefficient(expr)
        if coeff != 1:
            return self.scaled_tex(coeff, core)
        numer, denom = self.hadamard_parts(expr)
        if denom:
            return rf"\frac{{{self._hadamard_tex(numer)}}}{{{self._hadamard_tex(denom)}}}"
        return self._hadamard_tex(numer)

    def _print_HadamardPower(self, expr: sp.HadamardPower) -> str:
        base = self.matrix_factor_tex(expr.base)
        if expr.exp == 2:  # A ⊙ A: no new notation for a square
            return rf"{base} \odot {base}"
        if expr.exp.is_number and expr.exp.is_negative:
            return self._print_HadamardProduct(sp.HadamardProduct(expr, sp.OneMatrix(*expr.shape)))
        return rf"{paren(self._print(expr.base))}^{{\circ {self._print(expr.exp)}}}"

    def _print_ElementwiseApplyFunction(self, expr: ElementwiseApplyFunction) -> str:
        """f(H): a function applied to every entry — an activation as σ(H⁽¹⁾), the exponential as
        exp(H), any other function of x as its formula with the matrix in place of x (𝟏[H⁽¹⁾ > 0])."""
        return print_elementwise(self, expr, lambda arg: r"\exp" + paren(arg))

    # -- reading order ----------------------------------------------------------------
    def ordered_terms(self, expr: sp.Add) -> list[sp.Expr]:
        """A sum's terms: SymPy's order, then positive terms before negative ones, the bias last."""
        terms = natural_order(list(self._as_ordered_terms(expr, order=None)))
        # positive terms first, a lone quantity (θ in θ + μv) before products, the bias last
        return sorted(terms, key=lambda t: (bool(t.could_extract_minus_sign()), _is_bias(t),
                                            not isinstance(t, (sp.Symbol, sp.Indexed))))

    def factor_key(self, factor: sp.Expr) -> tuple:
        base = factor.base if factor.is_Pow else factor
        level = min((chain_level(q) for q in _quantities(base)), default=3 * _FAR)
        return (not is_coefficient(base), level, isinstance(base, (sp.Add, sp.Sum)), default_sort_key(base))

    def mul_parts(self, expr: sp.Expr) -> MulParts:
        """The sign, coefficient and reading-ordered factors of a product.

        A negative coefficient is folded into a factor that reads better negated (−ŷ(ŷ − 1) prints as
        ŷ(1 − ŷ), −σ/(σ − 1) as σ/(1 − σ)).
        """
        coeff, rest = expr.as_coeff_Mul()
        factors = list(sp.Mul.make_args(rest))
        if coeff < 0:
            for k, f in enumerate(factors):
                base, e = (f.base, f.exp) if f.is_Pow else (f, sp.S.One)
                if isinstance(base, sp.Add) and e.is_integer and e % 2 == 1 and _reads_better_negated(base):
                    factors[k] = sp.Pow(_negate(base), e, evaluate=False) if e != 1 else _negate(base)
                    coeff = -coeff
                    break
        numer, denom = [], []
        for f in factors:
            if f.is_Pow and f.exp.is_number and f.exp.is_negative:
                denom.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp, evaluate=False))
            else:
                numer.append(f)
        numer.sort(key=self.factor_key)
        denom.sort(key=self.factor_key)
        numer = chain_order(numer)
        negative = bool(coeff < 0)
        return MulParts(negative, abs(sp.Rational(coeff)) if coeff.is_Rational else abs(coeff), numer, denom)

    def factor_tex(self, factor: sp.Expr, last: bool) -> str:
        """One factor of a product, in parentheses where a neighbour would run into it."""
        tex = self._print(factor)
        if isinstance(factor, sp.Add) or (isinstance(factor, sp.Sum) and not last) or (
                isinstance(factor, sp.Piecewise) and not last):
            return paren(tex)
        if isinstance(factor, sp.Mul) and factor.could_extract_minus_sign():
            return paren(tex)
        return tex

    def product_tex(self, factors: list[sp.Expr]) -> str:
        if not factors:
            return "1"
        return " ".join(self.factor_tex(f, i == len(factors) - 1) for i, f in enumerate(factors))

    def _fraction_part(self, factors: list[sp.Expr]) -> str:
        # a lone sum over or under a fraction bar needs no parentheses
        return self._print(factors[0]) if len(factors) == 1 else self.product_tex(factors)

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        tex = ""
        for i, term in enumerate(self.ordered_terms(expr)):
            if i == 0:
                if term.could_extract_minus_sign():
                    tex, term = "- ", -term
            elif term.could_extract_minus_sign():
                tex, term = tex + " - ", -term
            else:
                tex += " + "
            term_tex = self._print(term)
            if isinstance(term, sp.Add):
                term_tex = paren(term_tex)
            tex += term_tex
        return tex

    def _print_Mul(self, expr: sp.Expr) -> str:
        if not isinstance(expr, sp.Mul):
            return super()._print_Mul(expr)
        parts = self.mul_parts(expr)
        sign = "- " if parts.negative else ""
        p, q = (parts.coeff.p, parts.coeff.q) if parts.coeff.is_Rational else (parts.coeff, 1)
        if parts.denom or (q != 1 and not parts.numer):
            num = self._fraction_part(([sp.Integer(p)] if p != 1 else []) + parts.numer)
            den = self._fraction_part(([sp.Integer(q)] if q != 1 else []) + parts.denom)
            return rf"{sign}\frac{{{num}}}{{{den}}}"
        head = ""
        if q != 1:
            head = rf"\frac{{{p}}}{{{q}}} "
        elif p != 1 or not parts.numer:
            head = f"{self._print(parts.coeff)} "
        return (sign + head + self.product_tex(parts.numer)).rstrip()


def matmul_parts(expr: sp.MatMul) -> tuple[sp.Expr, list[sp.Basic]]:
    """A matrix product's scalar coefficient (every scalar factor, nested products' too) and its matrix
    factors in order: 1/m·(2·A) is (2/m, [A])."""
    coeff, mats = sp.S.One, []
    for a in expr.args:
        if not a.is_Matrix:
            coeff *= a
        elif isinstance(a, sp.MatMul):
            c, inner = matmul_parts(a)
            coeff *= c
            mats += inner
        else:
            mats.append(a)
    return coeff, mats


def split_coefficient(expr: sp.Basic) -> tuple[sp.Expr, sp.Basic]:
    """A matrix expression as (its scalar coefficient, the rest): a matrix product's scalars, and those
    of the factors of an entry-by-entry product (c·A ⊙ B = c·(A ⊙ B)), pulled to the front."""
    if isinstance(expr, sp.MatMul):
        coeff, mats = matmul_parts(expr)
        if len(mats) == 1:
            inner, core = split_coefficient(mats[0])
            return coeff * inner, core
        return coeff, sp.MatMul(*mats)
    if isinstance(expr, sp.HadamardProduct):
        coeff, cores = sp.S.One, []
        for f in _hadamard_factors(expr):
            c, core = split_coefficient(f)
            coeff, cores = coeff * c, cores + [core]
        return coeff, sp.HadamardProduct(*cores) if coeff != 1 else expr
    return sp.S.One, expr


def _hadamard_factors(expr: sp.HadamardProduct) -> list[sp.Basic]:
    out = []
    for a in expr.args:
        out += _hadamard_factors(a) if isinstance(a, sp.HadamardProduct) else [a]
    return out


def matrix_level(expr: sp.Basic) -> int:
    """Where a batch quantity sits along the chain from C down to X, as :func:`chain_level` orders a
    sample's: Y < Ŷ < (H, A, Δ)⁽ᴸ⁾ < W⁽ᴸ⁾ < … < X; the least of the matrices an expression holds."""
    levels = []
    for sym in expr.atoms(sp.MatrixSymbol):
        name = str(sym.name).rstrip(AUGMENTED_MARK).rstrip(NO_BIAS_MARK)
        m, w = MATRIX_NAME.match(name), _LABEL.match(name)
        if m and m[1]:
            levels.append(2 * (_FAR - (int(m[2]) if m[2].isdigit() else 1)) + 1)  # (layer k: as layer 1)
        elif m:
            levels.append({"Y": 0, "Yhat": 1, "X": 2 * _FAR + 1}[m[3]])
        elif w and w[2].isdigit():
            levels.append(2 * (_FAR - int(w[2])) + 2)
    return min(levels, default=3 * _FAR)


def elementwise_body(expr: ElementwiseApplyFunction) -> tuple[sp.Symbol, sp.Expr]:
    """The variable and the formula of the function an ``ElementwiseApplyFunction`` applies."""
    fn = expr.function
    if isinstance(fn, sp.Lambda):
        return fn.variables[0], fn.expr
    var = sp.Dummy("x")
    return var, fn(var)


def _elementwise_body_is_sum(expr: ElementwiseApplyFunction) -> bool:
    return isinstance(elementwise_body(expr)[1], (sp.Add, sp.Mul))


def chain_order(factors: list[sp.Expr]) -> list[sp.Expr]:
    """A product of derivatives that form a chain, ∂z/∂y · ∂y/∂x, in the chain's order (each factor's
    variable the next one's expression); any other product as it is."""
    if len(factors) < 2 or not all(isinstance(f, sp.Derivative) and len(f.variables) == 1 for f in factors):
        return factors
    by_expr = {f.expr: f for f in factors}
    variables = {f.variables[0] for f in factors}
    heads = [f for f in factors if f.expr not in variables]
    if len(heads) != 1 or len(by_expr) != len(factors):
        return factors
    out = heads
    while len(out) < len(factors):
        following = by_expr.get(out[-1].variables[0])
        if following is None or following in out:
            return factors
        out = [*out, following]
    return out


def function_head(name: str, prime: bool = False) -> str:
    """The LaTeX of an undefined function's name: f⁽ᵏ⁾ for ``f<k>``, ℓ for ``ell``, else the name;
    ``prime``: its derivative's, f⁽ᵏ⁾′ (one superscript, never a double one)."""
    m = _LAYER_FUNCTION.match(name)
    if m:
        return f"f^{{({m[1]}){chr(92) + 'prime' if prime else ''}}}"
    return _FUNCTION_LATEX.get(name, name) + ("'" if prime else "")


def _reads_better_negated(add: sp.Add) -> bool:
    """Whether −(sum) has fewer minus signs than the sum (s − 1 → 1 − s; 1 − s stays)."""
    negs = [t for t in add.args if t.could_extract_minus_sign()]
    if 2 * len(negs) != len(add.args):
        return 2 * len(negs) > len(add.args)
    return any(t.is_Number for t in negs)  # a tie: s − 1 reads better as 1 − s


def _negate(add: sp.Add) -> sp.Expr:
    return sp.Add(*(-t for t in add.args))


_printer = LatexPrinter()


def printer(**settings: object) -> LatexPrinter:
    return LatexPrinter(settings) if settings else _printer


def latex(expr: sp.Basic, **settings: object) -> str:
    """The LaTeX of an expression in the articles' notation."""
    return printer(**settings).doprint(expr)


def chain_product(factors: list[sp.Basic], **settings: object) -> str:
    """A product printed in the given order — the chain rule's order, ∂E/∂ŷ first."""
    p = printer(**settings)
    parts = []
    for f in factors:
        tex = p.doprint(f)
        if isinstance(f, sp.Add) or (isinstance(f, sp.Mul) and f.could_extract_minus_sign()):
            tex = rf"\left({tex}\right)"
        parts.append(tex)
    return r" \, ".join(parts)


def print_elementwise(printer, expr: ElementwiseApplyFunction, exp_of: Callable):
    """f(H) printed by ``printer`` (LaTeX or MathML): the exponential as ``exp_of`` the printed matrix, any
    other function of x as its formula with the printed matrix held in place of x (``_matrix_args``)."""
    var, body = elementwise_body(expr)
    arg = printer._print(expr.expr)
    if body == sp.exp(var):
        return exp_of(arg)
    holder = sp.Symbol(f"_matrix_arg{len(printer._matrix_args)}_")
    printer._matrix_args[holder.name] = arg
    try:
        return printer._print(body.xreplace({var: holder}))
    finally:
        del printer._matrix_args[holder.name]
