"""Presentation MathML in the articles' notation: SymPy's MathML printer taught the write-up's names.

:class:`MathMLPrinter` subclasses :class:`sympy.printing.mathml.MathMLPresentationPrinter` the way
:class:`symnet.emit.latex.printer.LatexPrinter` subclasses SymPy's LaTeX printer, and shares its rules
rather than restating them: which letter, layer and indices a quantity has comes from
:mod:`symnet.emit.notation` (W⁽¹⁾₁₁ is an ``msubsup``, the augmented bias a row of W), and the reading
order of sums and products (ŷ − y before ŷ(1 − ŷ) before W⁽²⁾ …, the bias last) from the LaTeX
printer's :meth:`~symnet.emit.latex.printer.LatexPrinter.ordered_terms` and
:meth:`~symnet.emit.latex.printer.LatexPrinter.mul_parts`.  Activations print by their plain-text
symbol (σ, tanh, ReLU) from :mod:`symnet.functions.activations`.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.printing.mathml import MathMLPresentationPrinter

from sympy.core.function import AppliedUndef

from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symnet.emit.latex.printer import (AUGMENTED_MARK, MATRIX_NAME, NEIGHBOUR_NAME, NO_BIAS_MARK, LatexPrinter,
                                       elementwise_body, matmul_parts, print_elementwise, split_coefficient)
from symnet.emit.notation import indexed_script, joined, layer_below, node_script, symbol_script, upright
from symnet.functions.activations import Activation, glyph

#: the letter of each kind of quantity (ŷ is an accent over y, added by the printer)
_LETTER = {"W": "W", "b": "b", "h": "h", "a": "a", "delta": "δ", "x": "x", "y": "y", "yhat": "y", "E": "E"}
#: the vector form's letters (bold, upright)
_VECTOR = {"x": "x", "y": "y", "yhat": "y", "h": "h", "a": "a", "b": "b", "delta": "δ"}
#: the matrix (batch) form's matrices: capitals, as the weight matrices are (Δ upright, as in the LaTeX)
_MATRIX = {"X": "X", "Y": "Y", "Yhat": "Y", "H": "H", "A": "A", "D": "Δ"}
_FUNCTION_APPLICATION = "\u2061"
#: the composite view's undefined functions: f⁽ᵏ⁾ for ``f<k>``, ℓ for ``ell``
_LAYER_FUNCTION = re.compile(r"^f([0-9]+|k)$")
_FUNCTION_GLYPH = {"ell": "ℓ"}
_MINUS = "\u2212"


class MathMLPrinter(MathMLPresentationPrinter):
    """SymPy's presentation MathML printer with the articles' names and reading order.

    Settings beyond SymPy's, as :class:`~symnet.emit.latex.printer.LatexPrinter` has them:
    ``bias_rows`` (layer k → the row of W⁽ᵏ⁾ holding the bias in the augmented notation) and
    ``augmented_indexed`` (the layer form's b⁽ᵏ⁾ⱼ as W⁽ᵏ⁾_{n_{k-1}+1, j}).
    """

    _default_settings = {**MathMLPresentationPrinter._default_settings, "bias_rows": None,
                         "augmented_indexed": False, "mat_delim": "("}

    def __init__(self, settings: dict | None = None):
        super().__init__(settings)
        shared = {k: v for k, v in (settings or {}).items() if k in ("bias_rows", "augmented_indexed")}
        self.reading = LatexPrinter(shared)  # the reading order of sums and products, shared with the LaTeX
        #: while an element-wise function's formula prints: its variable's stand-in → the matrix's MathML
        self._matrix_args: dict[str, object] = {}

    def doprint(self, expr) -> str:
        """The MathML as text, its characters as they are (the page is UTF-8), not as references."""
        return self._print(expr).toxml()

    # -- building blocks ------------------------------------------------------------------
    def el(self, tag: str, *children, text: str | None = None, **attrs: str):
        node = self.dom.createElement(tag)
        for k, v in attrs.items():
            node.setAttribute(k.rstrip("_").replace("_", "-"), v)
        if text is not None:
            node.appendChild(self.dom.createTextNode(text))
        for c in children:
            node.appendChild(c)
        return node

    def mo(self, text: str, **attrs: str):
        return self.el("mo", text=text, **attrs)

    def token(self, text: str):
        """A number as ``mn``, anything else as ``mi``."""
        return self.el("mn" if text.isdigit() else "mi", text=text)

    def row(self, *children):
        return children[0] if len(children) == 1 else self.el("mrow", *children)

    def paren(self, node):
        """Parentheses that grow only around something tall (a fraction, a sum, a table), as the
        LaTeX printer's ``paren`` does."""
        tall = any(node.getElementsByTagName(t) for t in ("mfrac", "munderover", "mtable")) or node.tagName in (
            "mfrac", "mtable")
        fixed = {} if tall else {"stretchy": "false"}
        return self.el("mrow", self.mo("(", **fixed), node, self.mo(")", **fixed))

    def subscript(self, parts: tuple) -> object:
        """Indices as one subscript: ``<mn>11</mn>``, or tokens with commas (1,10; i,j)."""
        text, sep = joined(parts)
        if all(str(p).isdigit() for p in parts) and not sep:
            return self.el("mn", text=text)
        nodes = []
        for k, p in enumerate(parts):
            if k and sep:
                nodes.append(self.mo(","))
            nodes.append(p if not isinstance(p, str) else self.token(p))
        return self.row(*nodes)

    def layer_mark(self, layer: str):
        return self.el("mrow", self.mo("(", stretchy="false", lspace="0", rspace="0"), self._tokens(layer),
                       self.mo(")", stretchy="false", lspace="0", rspace="0"))

    def letter(self, kind: str):
        if kind == "yhat":
            return self.el("mover", self.el("mi", text="y"), self.mo("^"), accent="true")
        if kind not in _LETTER:
            return self.node_letter(kind)
        return self.el("mi", text=_LETTER.get(kind, kind))

    def scripted(self, head, layer, sub):
        if layer is not None and sub is not None:
            return self.el("msubsup", head, sub, layer)
        if layer is not None:
            return self.el("msup", head, layer)
        if sub is not None:
            return self.el("msub", head, sub)
        return head

    # -- names ----------------------------------------------------------------------------
    def _print_Symbol(self, sym, style="plain"):
        if sym.name in self._matrix_args:  # the matrix an element-wise function is applied to
            return self._matrix_args[sym.name].cloneNode(True)
        script = symbol_script(sym.name, self._settings["bias_rows"])
        if script is None:
            node = super()._print_Symbol(sym, style=style)
            for mi in [node] + list(node.getElementsByTagName("mi")):  # n_2: the 2 is a number
                if mi.tagName == "mi" and mi.firstChild is not None and str(mi.firstChild.data).isdigit():
                    mi.tagName = mi.nodeName = "mn"
            return node
        layer = self.layer_mark(script.layer) if script.layer is not None else None
        sub = self.subscript(script.index) if script.index else None
        return self.scripted(self.letter(script.kind), layer, sub)

    def node_letter(self, stem: str):
        """A graph node's name: a letter italic, a word upright (add, code)."""
        return self.el("mi", text=stem, **({"mathvariant": "normal"} if upright(stem) else {}))

    def _print_Indexed(self, expr: sp.Indexed):
        label = str(expr.base.label)
        indices = tuple(self._print(i) for i in expr.indices)
        text, sep = joined(tuple(str(i) for i in expr.indices))
        sub = self.subscript(indices) if (sep or len(indices) == 1) else self.row(*indices)
        found = indexed_script(label)
        if found:
            kind, layer = found
            if kind == "b" and self._settings["augmented_indexed"]:
                below = self.el("msub", self.el("mi", text="n"), self._tokens(layer_below(layer)))
                sub = self.row(below, self.mo("+"), self.el("mn", text="1"), self.mo(","), *indices)
                kind = "W"
            return self.scripted(self.letter(kind), self.layer_mark(layer), sub)
        if label in _LETTER:
            return self.scripted(self.letter(label), None, sub)
        node = node_script(label)
        if node is not None:
            stem, layer, grad = node
            of = self.scripted(self.letter(stem), self.layer_mark(layer) if layer else None, sub)
            if not grad:
                return of
            return self.el("mfrac", self.row(self.el("mi", text="∂"), self.el("mi", text="E")),
                           self.row(self.el("mi", text="∂"), of))
        return self.scripted(self.el("mi", text=label), None, sub)

    def _tokens(self, text: str):
        """``k-1`` as k − 1, ``k+1`` as k + 1, ``1`` as 1."""
        for sign, op in (("-", _MINUS), ("+", "+")):
            if sign in text:
                a, b = text.split(sign)
                return self.row(self.token(a), self.mo(op), self.token(b))
        return self.token(text)

    def _print_IndexedBase(self, expr):
        return self.el("mi", text=str(expr.label))

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol, sup=None):
        """Vectors bold and upright (𝐱, 𝐡⁽¹⁾, 𝐲̂), weight matrices W⁽ᵏ⁾: the vector form; the matrix form's
        batch matrices capitals (X, Ŷ, H⁽ᵏ⁾, Δ⁽ᵏ⁾; X̃ with a column of ones, W̄ with its bias row 0)."""
        name = str(expr.name)
        extended = name.endswith(AUGMENTED_MARK)
        name = name.rstrip(AUGMENTED_MARK)
        barred = name.endswith(NO_BIAS_MARK)
        name = name.rstrip(NO_BIAS_MARK)
        neighbour = NEIGHBOUR_NAME.match(name)
        found = (neighbour[1], neighbour[2]) if neighbour else indexed_script(name)
        batch = MATRIX_NAME.match(name)
        if batch:
            kind, layer = (batch[1], batch[2]) if batch[1] else (batch[3], None)
            head = self.el("mi", text=_MATRIX[kind], **({"mathvariant": "normal"} if kind == "D" else {}))
            if kind == "Yhat":
                head = self.el("mover", head, self.mo("^"), accent="true")
        else:
            kind, layer = found if found else (name, None)
            if kind in _VECTOR:
                head = self.el("mi", text=_VECTOR[kind], mathvariant="bold")
                if kind == "yhat":
                    head = self.el("mover", head, self.mo("^"), accent="true")
            else:
                node = node_script(name) if not found else None
                if node is not None:  # a graph's node's matrix over the batch: Add1 as Add⁽¹⁾
                    head, layer = self.node_letter(node[0]), node[1]
                else:
                    head = self.el("mi", text=kind if kind != name or len(name) == 1 else name)
        if extended:  # the vector extended by a constant 1 (augmented bias): x̃
            head = self.el("mover", head, self.mo("~"), accent="true")
        if barred:  # the weight matrix with its bias row 0: W̄
            head = self.el("mover", head, self.mo("\u00af"), accent="true")
        marks = ([self.layer_mark(layer)] if layer else []) + ([sup] if sup is not None else [])
        return self.el("msup", head, self.row(*marks)) if marks else head

    def _print_Transpose(self, expr):
        top = self.el("mi", text="\u22a4", mathvariant="normal")
        if isinstance(expr.arg, sp.MatrixSymbol):
            return self._print_MatrixSymbol(expr.arg, sup=top)
        return self.el("msup", self.paren(self._print(expr.arg)), top)

    # -- the matrix (batch) form: the LaTeX printer's order and grouping ------------------------
    def _print_OneMatrix(self, expr):
        """𝟏: a column of ones, 𝟏ᵀ a row (as the LaTeX prints it)."""
        one = self.el("mn", text="1", mathvariant="bold")
        rows, cols = expr.shape
        if rows == 1 and cols != 1:
            return self.el("msup", one, self.el("mi", text="\u22a4", mathvariant="normal"))
        return one

    def _print_ZeroMatrix(self, expr):
        zero = self.el("mn", text="0", mathvariant="bold")
        rows, cols = expr.shape
        if rows == 1 and cols != 1:
            return self.el("msup", zero, self.el("mi", text="\u22a4", mathvariant="normal"))
        return zero

    def _print_BlockMatrix(self, expr):
        """Matrices side by side or stacked, (A 𝟏), in parentheses as the LaTeX prints them."""
        return self._print(expr.blocks)

    def _print_Shape(self, expr):
        def side(e):
            node = self._print(e)
            return self.paren(node) if isinstance(e, sp.Add) else node
        return self.row(side(expr.rows), self.mo("\u00d7"), side(expr.cols))

    def matrix_factor(self, f, alone: bool = False):
        node = self._print(f)
        if isinstance(f, sp.MatAdd) or (isinstance(f, sp.MatMul) and len(matmul_parts(f)[1]) > 1):
            return self.paren(node)
        if isinstance(f, (sp.HadamardProduct, sp.HadamardPower)) and not alone:
            return self.paren(node)
        if isinstance(f, ElementwiseApplyFunction) and isinstance(elementwise_body(f)[1], (sp.Add, sp.Mul)):
            return self.paren(node)
        return node

    def coefficient(self, coeff) -> list:
        if coeff == 1:
            return []
        if coeff == -1:
            return [self.mo(_MINUS)]
        return [self._print(coeff), self.mo("\u2062")]

    def scaled(self, coeff, core):
        if isinstance(core, sp.MatMul):
            nodes = []
            for k, a in enumerate(core.args):
                if k:
                    nodes.append(self.mo("\u2062"))
                nodes.append(self.matrix_factor(a))
        else:
            nodes = [self.matrix_factor(core, alone=True)]
        return self.row(*self.coefficient(coeff), *nodes)

    def _print_MatMul(self, expr):
        return self.scaled(*split_coefficient(expr))

    def _print_MatAdd(self, expr):
        nodes = []
        for k, (negative, coeff, core) in enumerate(self.reading.matadd_terms(expr)):
            if negative:
                nodes.append(self.mo(_MINUS))
            elif k:
                nodes.append(self.mo("+"))
            nodes.append(self.paren(self._print(core)) if coeff == 1 and isinstance(core, sp.MatAdd)
                         else self.scaled(coeff, core))
        return self.el("mrow", *nodes)

    def _hadamard(self, factors: list):
        if not factors:
            return self.el("mn", text="1", mathvariant="bold")
        if len(factors) == 1:
            return self._print(factors[0])
        nodes = []
        for k, f in enumerate(factors):
            if k:
                nodes.append(self.mo("\u2299"))
            nodes.append(self.matrix_factor(f))
        return self.el("mrow", *nodes)

    def _print_HadamardProduct(self, expr):
        coeff, core = split_coefficient(expr)
        if coeff != 1:
            return self.scaled(coeff, core)
        numer, denom = self.reading.hadamard_parts(expr)
        if denom:
            return self.el("mfrac", self._hadamard(numer), self._hadamard(denom))
        return self._hadamard(numer)

    def _print_HadamardPower(self, expr):
        base = self.matrix_factor(expr.base)
        if expr.exp == 2:  # A ⊙ A
            return self.el("mrow", base, self.mo("\u2299"), base.cloneNode(True))
        if expr.exp.is_number and expr.exp.is_negative:
            return self._print_HadamardProduct(sp.HadamardProduct(expr, sp.OneMatrix(*expr.shape)))
        return self.el("msup", self.paren(self._print(expr.base)),
                       self.row(self.mo("\u2218"), self._print(expr.exp)))

    def _print_ElementwiseApplyFunction(self, expr):
        """f(H): an activation as σ(H⁽¹⁾), the exponential as exp(H), another function of x as its
        formula with the matrix in place of x."""
        return print_elementwise(self, expr, lambda arg: self.apply(self.el("mi", text="exp"), arg))

    def _print_Extended(self, expr):
        """(v, 1): a vector extended by the constant 1 that the bias row multiplies."""
        table = self.el("mtable", self.el("mtr", self.el("mtd", self._print(expr.args[0]))),
                        self.el("mtr", self.el("mtd", self.el("mn", text="1"))))
        return self.el("mrow", self.mo("("), table, self.mo(")"))

    def _print_Elementwise(self, expr):
        """f(𝐡): an activation applied to every component of a vector."""
        return self.apply(self.function_name(expr.args[0].name), self._print(expr.args[1]))

    # -- functions and derivatives -----------------------------------------------------------
    def function_name(self, name: str):
        return self.el("mi", text=glyph(name))

    def apply(self, head, arg):
        return self.el("mrow", head, self.mo(_FUNCTION_APPLICATION), self.paren(arg))

    def function_head(self, name: str, prime: bool = False):
        """An undefined function's name: f⁽ᵏ⁾ (layer k), ℓ (the error of ŷ); with its prime, f⁽ᵏ⁾′."""
        m = _LAYER_FUNCTION.match(name)
        mark = [self.mo("\u2032")] if prime else []
        if m:
            return self.el("msup", self.el("mi", text="f"), self.row(self.layer_mark(m[1]), *mark))
        head = self.el("mi", text=_FUNCTION_GLYPH.get(name, name))
        return self.el("msup", head, mark[0]) if prime else head

    def _print_Function(self, e):
        if isinstance(e, Activation):
            return self.apply(self.function_name(e.name), self._print(e.args[0]))
        if isinstance(e, AppliedUndef):
            nodes = []
            for k, a in enumerate(e.args):
                if k:
                    nodes.append(self.mo(","))
                nodes.append(self._print(a))
            return self.apply(self.function_head(e.func.__name__), self.row(*nodes))
        return super()._print_Function(e)

    def _print_Derivative(self, expr: sp.Derivative):
        (var, count), = expr.variable_count
        inner = expr.expr
        den = self._print(var)
        if isinstance(inner, Activation) and inner.args[0] == var and count == 1:
            # f′(h): the articles' σ′(h)
            return self.apply(self.el("mrow", self.function_name(inner.name), self.mo("\u2032")), den)
        if isinstance(inner, AppliedUndef) and inner.args == (var,) and count == 1:
            # f′(g(x)): the derivative of a function of one variable at its argument
            return self.apply(self.function_head(inner.func.__name__, prime=True), den)
        d = self.mo("\u2202")
        power = self.el("mn", text=str(count)) if count > 1 else None
        dvar = self.el("mrow", self.mo("\u2202"), self.el("msup", den, power) if power is not None else den)
        top = self.el("msup", d, power.cloneNode(True)) if power is not None else d
        if isinstance(inner, (sp.Symbol, sp.Indexed, sp.MatrixSymbol)):
            return self.el("mfrac", self.el("mrow", top, self._print(inner)), dvar)
        body = self._print(inner)
        if isinstance(inner, (sp.Add, sp.Mul)) or inner.is_Pow:
            body = self.paren(body)
        return self.el("mrow", self.el("mfrac", top, dvar), body)

    def _print_Heaviside(self, expr):
        # ReLU′(h) = H(h) with H(0) = 0: print the convention, not SymPy's θ
        return self.el("mrow", self.el("mn", text="1", mathvariant="bold"), self.mo("["),
                       self._print(expr.args[0]), self.mo(">"), self.el("mn", text="0"), self.mo("]"))

    def _print_KroneckerDelta(self, expr):
        # the indicator 1[q = j], as ReLU′ is 1[h > 0]: δ is back-propagation's δ⁽ᵏ⁾
        i, j = (self._print(a) for a in expr.args)
        return self.el("mrow", self.el("mn", text="1", mathvariant="bold"), self.mo("["), i, self.mo("="), j,
                       self.mo("]"))

    def _l_paren(self):
        return self.mo("(", stretchy="false")

    def _r_paren(self):
        return self.mo(")", stretchy="false")

    def _print_Sum(self, expr):
        """One Σ per limit, the outermost (SymPy's last) first; the summand in parentheses only when it
        is a sum."""
        sigmas = [self.el("munderover", self.mo("\u2211"), self.el("mrow", self._print(var), self.mo("="),
                                                                    self._print(low)), self._print(high))
                  for var, low, high in reversed(expr.limits)]
        body = self._print(expr.function)
        return self.el("mrow", *sigmas, self.paren(body) if isinstance(expr.function, sp.Add) else body)

    def _print_Exp1(self, expr):
        return self.el("mi", text="e")  # the articles' e, not SymPy's double-struck ⅇ

    def _print_exp(self, expr):
        return self.el("msup", self.el("mi", text="e"), self._print(expr.args[0]))

    def _print_UnevaluatedExpr(self, expr):
        return self._print(expr.args[0])

    def _print_Piecewise(self, expr):
        table = self.el("mtable", columnalign="left")
        for value, cond in expr.args:
            when = self.el("mtext", text="otherwise") if cond is sp.true else self.el(
                "mrow", self.el("mtext", text="if\u00a0"), self._print(cond))
            table.appendChild(self.el("mtr", self.el("mtd", self._print(value)), self.el("mtd", when)))
        return self.el("mrow", self.mo("{"), table)

    def _print_Pow(self, expr: sp.Pow):
        if isinstance(expr.base, Activation) and expr.exp.is_Integer and expr.exp > 1:
            head = self.el("msup", self.function_name(expr.base.name), self._print(expr.exp))
            return self.apply(head, self._print(expr.base.args[0]))
        if isinstance(expr.base, (sp.Indexed, sp.Symbol)) and expr.exp.is_Integer and expr.exp > 1:
            base = self._print(expr.base)
            if base.tagName in ("msup", "msubsup"):  # a⁽¹⁾ⱼ squared: (a⁽¹⁾ⱼ)², never a double superscript
                return self.el("msup", self.paren(base), self._print(expr.exp))
        if isinstance(expr.base, Activation):
            return self.el("msup", self._print(expr.base), self._print(expr.exp))
        return super()._print_Pow(expr)

    # -- reading order: the LaTeX printer's -----------------------------------------------------
    def _print_Add(self, expr: sp.Add, order=None):
        nodes = []
        for i, term in enumerate(self.reading.ordered_terms(expr)):
            if term.could_extract_minus_sign():
                nodes.append(self.mo(_MINUS))
                term = -term
            elif i:
                nodes.append(self.mo("+"))
            node = self._print(term)
            nodes.append(self.paren(node) if isinstance(term, sp.Add) else node)
        return self.el("mrow", *nodes)

    def factor(self, f: sp.Expr, last: bool):
        """One factor of a product, in parentheses where a neighbour would run into it."""
        node = self._print(f)
        if isinstance(f, sp.Add) or (isinstance(f, (sp.Sum, sp.Piecewise)) and not last):
            return self.paren(node)
        if isinstance(f, sp.Mul) and f.could_extract_minus_sign():
            return self.paren(node)
        return node

    def product(self, factors: list, ordered_sep: str = "\u2062"):
        if not factors:
            return self.el("mn", text="1")
        nodes = []
        for i, f in enumerate(factors):
            if i:
                nodes.append(self.mo(ordered_sep))
            nodes.append(self.factor(f, i == len(factors) - 1))
        return self.row(*nodes)

    def _fraction_part(self, factors: list):
        return self._print(factors[0]) if len(factors) == 1 else self.product(factors)

    def _print_Mul(self, expr):
        if not isinstance(expr, sp.Mul):
            return super()._print_Mul(expr)
        parts = self.reading.mul_parts(expr)
        sign = [self.mo(_MINUS)] if parts.negative else []
        p, q = (parts.coeff.p, parts.coeff.q) if parts.coeff.is_Rational else (parts.coeff, 1)
        if parts.denom or (q != 1 and not parts.numer):
            num = self._fraction_part(([sp.Integer(p)] if p != 1 else []) + parts.numer)
            den = self._fraction_part(([sp.Integer(q)] if q != 1 else []) + parts.denom)
            return self.row(*sign, self.el("mfrac", num, den))
        head = []
        if q != 1:
            head = [self.el("mfrac", self.el("mn", text=str(p)), self.el("mn", text=str(q)))]
        elif p != 1 or not parts.numer:
            head = [self._print(parts.coeff)]
        rest = [self.mo("\u2062"), self.product(parts.numer)] if parts.numer and head else (
            [self.product(parts.numer)] if parts.numer else [])
        return self.row(*sign, *head, *rest)


def mathml(expr: sp.Basic, **settings: object) -> str:
    """The presentation MathML of an expression in the articles' notation (without the ``<math>``)."""
    return MathMLPrinter(settings or None).doprint(expr)
