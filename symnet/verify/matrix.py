"""Matrix claims: a hand-derived ∂E/∂W1 (or b1, H1, A1, Yhat, X) for a whole batch, written as NumPy.

``check_matrix(net, "W1", "X.T @ (((Yhat - Y) * Yhat*(1 - Yhat) / m @ W2.T) * A1*(1 - A1))")``: the claim is
the gradient of E — the MEAN over the m samples of the per-sample loss (plus (λ/2)ΣW² with L2 decay) — for
a batch of m samples, with NumPy's operators: ``@``, ``.T``, element-wise ``* / + - **`` (``^`` is a power
too), ``sum(…, axis=0)`` and ``mean(…, axis=0)`` (also ``np.sum``, ``np.mean``, ``.sum(axis=0)``,
``keepdims=True``), ``np.dot``, ``np.matmul``, ``np.multiply``, ``np.transpose``, ``np.power``,
``np.square``, ``np.maximum``, ``np.minimum``, one comparison (``H1 > 0`` is 1 where true, 0 elsewhere) and
element-wise functions: every registered activation by its claim names, ``step``, ``exp``, ``log``,
``sqrt``, ``abs`` (with or without ``np.``).  It is read by a whitelist of Python's syntax tree and never
evaluated as Python.

The names, by convention:

* ``rows`` (symnet's; samples are rows): ``X`` m×n0, ``Y`` and ``Yhat`` m×nL, ``Hk`` and ``Ak`` m×nk (``A0`` is
  X and ``AL`` is Yhat), ``Wk`` n(k−1)×nk, ``bk`` a vector of nk (NumPy's (nk,)), Hk = A(k−1) @ Wk + bk;
* ``columns`` (the widely taught course convention; samples are columns): ``X`` n0×m, ``Y`` and ``Yhat`` nL×m,
  ``Zk`` (or ``Hk``) and ``Ak`` nk×m, ``Wk`` nk×n(k−1), ``bk`` nk×1, Zk = Wk @ A(k−1) + bk.

In both, ``Dk`` is Δ⁽ᵏ⁾ = ∂E/∂Hk (E's 1/m included; in the convention's shape) and ``dZk`` is the course's
dZ = m·Δ⁽ᵏ⁾, the derivative of the loss summed over the batch (so ``dZ2 = A2 - Y`` for a softmax with
cross-entropy, and the course's ``1/m * dZ1 @ X.T`` is ∂E/∂W1); ``m`` is the batch size and ``lam`` or
``reg`` is λ when the network has L2 decay.  ``--wrt`` names a whole matrix, with or without the course's
``d``: ``W1``/``dW1``, ``b1``, ``H1``/``Z1``, ``A1``, ``Yhat`` (or ``AL``), ``X``; the claim is ∂E/∂(it) in
the convention's shape (∂E/∂W1 is n0×n1 in rows, n1×n0 in columns; a bias gradient may be a row, a column
or a flat vector).

The verdict compares the claim with the derivation at a few random batches (sizes different from every
layer width, so that m×n and n×m cannot be confused), in float64 to a relative 1e-8, and on a small
network also proves the equality symbolically for a batch of a few samples, every entry.  A wrong claim
gets a diagnosis from the same hypothesis search that ``symnet check-code`` uses
(:func:`symnet.verify.code.diagnose`): transposed, a missing or extra 1/m, the opposite sign, f′ of a layer
missing or another activation's in its place, ``*`` and ``@`` confused, a bias gradient not summed over the
batch, the L2 term missing or doubled.  Shapes are checked at every operation: a product that does not fit
is an :class:`~symnet.errors.InputError` naming both operands and their shapes.
"""
from __future__ import annotations

import ast
import re
import time
import warnings
from dataclasses import dataclass, field
from functools import cache
from typing import Callable

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symnet.derivation.matrix_form import M, MatrixForm, matrix_form
from symnet.errors import InputError
from symnet.functions.activations import Activation, inline, numpy_functions
from symnet.functions.formula import NODE_WORDS
from symnet.functions.layers import kind
from symnet.functions.losses import LOSSES
from symnet.derivation.graph_matrix import GraphMatrixForm, graph_matrix_form
from symnet.spec import Graph, Network
from symnet.spec.graph import TARGET
from symnet.verify import proof
from symnet.verify.code import CONVENTIONS, batch_sizes, derived_gradients, diagnose, in_convention, random_batch
from symnet.verify.grammar import DECAY_NAMES, MAX_DEPTH, MAX_DIGITS, MAX_EXPONENT, check_text, claim_functions

__all__ = ["MAX_PARAMS", "TOLERANCE", "MatrixClaim", "MatrixVerdict", "check_matrix", "is_matrix_name",
           "parse_matrix_claim"]

#: largest relative error of a correct claim (float64 evaluations of the same quantities agree to ~1e-15)
TOLERANCE = 1e-8
#: entries smaller than this share of the largest true entry are compared absolutely, at that scale
_FLOOR = 1e-6
#: parameters up to which a matrix claim is checked (arrays only: 784-256-10 has 203,530)
MAX_PARAMS = 5_000_000
#: entries of the largest array a claim may build (an outer product of two wide vectors is refused)
MAX_ENTRIES = 20_000_000
#: syntax-tree nodes of one claim
MAX_NODES = 2_000
#: a network is proved symbolically (every entry, for a batch of a few samples) up to this many parameters
PROVE_UP_TO = 50
_PROOF_ENTRIES = 64  # entries of the claimed matrix at most, for the proof
_X = sp.Symbol("x", real=True)

Array = np.ndarray
_ROWS_NOTE = "rows convention: samples are rows"
_COLUMNS_NOTE = "columns convention: samples are columns"


# -- the names -------------------------------------------------------------------------------------------------
_TARGET = re.compile(r"^d?(?:(?P<kind>[WbHZAD])(?P<k>[0-9]+)|(?P<io>X|Yhat|Y_hat))$")


def is_matrix_name(name: str, net: Network | Graph | None = None) -> bool:
    """Whether ``--wrt NAME`` names a whole matrix (W1, b1, H1, Z1, A1, Yhat, X, dW1, …; a graph's nodes'
    matrices too: Add1, Code) rather than one entry (W1[1,2]): the CLI's switch between matrix and scalar
    claims."""
    found = _TARGET.match(name.replace(" ", "")) if isinstance(name, str) else None
    if found is not None and found["kind"] != "D":
        return True
    if isinstance(net, Graph) and isinstance(name, str):
        text = name.replace(" ", "")
        return (text[1:] if text.startswith("d") else text) in _graph_targets(net)
    return False


def _graph_targets(graph: Graph) -> dict[str, str]:
    """A graph's matrices a matrix claim may differentiate by, as written → their key: its parameters, every
    node's matrix (H1, A1, Add1, Yhat; Z1 for H1 too) and X."""
    form = graph_matrix_form(graph)
    out = {p.name: p.name for p in graph.params}
    for name, array in form.rules.arrays.items():
        if name == TARGET or name in graph.by_name and name == graph.loss_node.name:
            continue
        key = str(form.symbols[str(array.label)].name)
        out[key] = key
        if key.startswith("H") and key[1:].isdigit():
            out["Z" + key[1:]] = key
    # the prediction is Yhat whatever its node is (H2 for a bare dense output)
    prediction = str(form.symbols[str(form.rules.arrays[graph.prediction].label)].name)
    out.setdefault("Yhat", prediction)
    out["Y_hat"] = prediction
    return out


def _target(net: Network | Graph, wrt: str) -> tuple[str, str]:
    """--wrt as (the key of the quantity: Wk, bk, Hk, Ak with A0 = X and AL = Ŷ; the name as written)."""
    text = wrt.replace(" ", "") if isinstance(wrt, str) else ""
    if isinstance(net, Graph):
        targets = _graph_targets(net)
        shown = text[1:] if text[1:] in targets and text.startswith("d") else text
        if shown in targets:
            return targets[shown], shown
        raise InputError(f"--wrt {wrt!r} is not a whole matrix of the {net.compact} network; a matrix claim is "
                         f"∂E/∂ one of {', '.join(t for t in targets if t != 'Y_hat')} (with or without the "
                         f"course's d); for one entry write e.g. --wrt 'W1[1,1]'")
    L = net.depth
    found = _TARGET.match(text)
    shown = text[1:] if len(text) > 1 and text[0] == "d" and text[1] in "WbHZAXY" else text
    if found and found["io"]:
        return ("A0" if found["io"] == "X" else f"A{L}"), shown
    if found and found["kind"] != "D" and (found["k"] == "0" or not found["k"].startswith("0")):
        k, kind = int(found["k"]), {"Z": "H"}.get(found["kind"], found["kind"])
        if (0 if kind == "A" else 1) <= k <= L:
            return f"{kind}{k}", shown
    raise InputError(f"--wrt {wrt!r} is not a whole matrix of the {net.compact} network; a matrix claim is "
                     f"∂E/∂ one of W1..W{L}, b1..b{L}, H1..H{L} (or Z1..Z{L}), A0..A{L} (A0 = X, A{L} = Yhat), "
                     f"with or without the course's d (dW1); for one entry write e.g. --wrt 'W1[1,1]'")


class _Names:
    """The names a matrix claim may use for one network, and what each stands for (a key of the batch's
    values)."""

    def __init__(self, net: Network | Graph):
        self.net = net
        if isinstance(net, Graph):
            names = {**_graph_targets(net), "Y": "Y", "m": "m"}
            for node in net.dense_nodes:
                names.update({f"D{node.number}": f"D{node.number}", f"dZ{node.number}": f"dZ{node.number}"})
            if net.l2:
                names.update(dict.fromkeys(DECAY_NAMES, "lam"))
            self.names = names
            return
        L = net.depth
        names = {"X": "X", "A0": "X", "Y": "Y", "Yhat": "Yhat", "Y_hat": "Yhat", f"A{L}": "Yhat", "m": "m"}
        for k in range(1, L + 1):
            names.update({f"H{k}": f"H{k}", f"Z{k}": f"H{k}", f"W{k}": f"W{k}", f"b{k}": f"b{k}",
                          f"D{k}": f"D{k}", f"dZ{k}": f"dZ{k}"})
            if k < L:
                names[f"A{k}"] = f"A{k}"
        if net.l2:
            names.update(dict.fromkeys(DECAY_NAMES, "lam"))
        self.names = names

    def __getitem__(self, ident: str) -> str:
        if ident in self.names:
            return self.names[ident]
        raise InputError(f"unknown name {ident!r} in the claim; {self.summary()}")

    def summary(self) -> str:
        if isinstance(self.net, Graph):
            return (f"a matrix claim on {self.net.compact} may use {', '.join(n for n in self.names if n != 'Y_hat')} "
                    f"(Dk = Δ = ∂E/∂Hk, dZk = m·Δ, the course's dZ)")
        L = self.net.depth
        hidden = f"A1..A{L - 1}, " if L > 2 else ("A1, " if L == 2 else "")
        decay = f", {' or '.join(DECAY_NAMES)} (λ)" if self.net.l2 else ""
        return (f"a matrix claim on {self.net.compact} may use X, Y, Yhat (= A{L}), H1..H{L} (or Z1..Z{L}), "
                f"{hidden}W1..W{L}, b1..b{L}, D1..D{L} (Δ = ∂E/∂H), dZ1..dZ{L} (the course's dZ = m·Δ), "
                f"m{decay}")


# -- reading the claim ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Node:
    text: str  # the claim's own text of this part, for messages


@dataclass(frozen=True)
class _Name(_Node):
    key: str


@dataclass(frozen=True)
class _Number(_Node):
    value: int | float


@dataclass(frozen=True)
class _Binary(_Node):
    op: str  # + - * / @
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Power(_Node):
    base: _Node
    exponent: sp.Rational


@dataclass(frozen=True)
class _Negate(_Node):
    operand: _Node


@dataclass(frozen=True)
class _Transpose(_Node):
    operand: _Node


@dataclass(frozen=True)
class _Reduce(_Node):
    how: str  # sum | mean
    operand: _Node
    axis: int | None
    keepdims: bool


@dataclass(frozen=True)
class _Apply(_Node):
    function: str  # a claim function's name
    operand: _Node


@dataclass(frozen=True)
class _Compare(_Node):
    op: str  # > >= < <=
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Extreme(_Node):
    how: str  # maximum | minimum
    left: _Node
    right: _Node


_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.MatMult: "@"}
_COMPARE = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}
#: NumPy functions of two arrays, as the operator they are
_NP_BINARY = {"dot": "@", "matmul": "@", "multiply": "*", "divide": "/", "true_divide": "/", "add": "+",
              "subtract": "-"}
_NODE_WORDS = NODE_WORDS | {
    ast.Subscript: "indexing ([]) (a matrix claim is about whole matrices; for one entry use --wrt 'W1[1,2]')"}
_ALLOWED = ("the batch names, numbers, + - * / ** (or ^) @ .T, sum/mean(…, axis=0|1, keepdims=…), "
            "np.dot, np.multiply, np.transpose, np.power, np.square, np.maximum, np.minimum, one comparison, "
            "and the element-wise functions ")


def _elementwise() -> dict[str, Callable[[sp.Expr], sp.Expr]]:
    """Every element-wise function a matrix claim may call, by name: the scalar claims' functions and abs."""
    return {**claim_functions(), "abs": sp.Abs}


def _allowed() -> str:
    return _ALLOWED + ", ".join(_elementwise())


@dataclass(frozen=True)
class MatrixClaim:
    """A parsed matrix claim: ``text`` as written and its whitelisted tree; :meth:`evaluate` computes it."""

    text: str
    tree: _Node
    convention: str
    names: tuple[str, ...]  # the batch names it uses, as keys

    def evaluate(self, values: dict[str, Array], *, symbolic: bool = False) -> Array:
        """The claim's array for one batch's ``values`` (by key, in the convention's shapes); shape errors
        are InputErrors naming the operands."""
        return _Evaluator(values, symbolic, self.convention).eval(self.tree)


def parse_matrix_claim(text: str, net: Network, convention: str = "rows") -> MatrixClaim:
    """Read a matrix claim through the whitelist; InputError (one line) for anything it does not allow."""
    if convention not in CONVENTIONS:
        raise InputError(f"unknown convention {convention!r}; allowed: {', '.join(CONVENTIONS)}")
    check_text(text)
    source = " ".join(text.split()).replace("^", "**")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval")
    except SyntaxError as e:
        raise InputError(f"the claim is not a valid expression ({e.msg}); allowed: {_allowed()}") from None
    except (RecursionError, MemoryError, ValueError):
        raise InputError("the claim is too long or too deeply nested to read") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise InputError(f"the claim has {count:,} terms and operators; at most {MAX_NODES:,} are accepted")
    reader = _Reader(source, _Names(net))
    node = reader.read(tree.body, 0)
    return MatrixClaim(" ".join(text.split()), node, convention, tuple(sorted(reader.used)))


class _Reader:
    def __init__(self, source: str, names: _Names):
        self.source, self.names = source, names
        self.used: set[str] = set()

    def text(self, node: ast.AST) -> str:
        segment = ast.get_source_segment(self.source, node) or ast.unparse(node)
        return segment if len(segment) <= 60 else segment[:57] + "..."

    def read(self, node: ast.AST, depth: int) -> _Node:
        if depth > MAX_DEPTH:
            raise InputError(f"the claim is nested more than {MAX_DEPTH} levels deep")
        t = self.text(node)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                return _Power(t, self.read(node.left, depth + 1), self.exponent(node.right))
            if type(node.op) not in _BINARY:
                op = {ast.Mod: "%", ast.FloorDiv: "//", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^ (xor)",
                      ast.LShift: "<<", ast.RShift: ">>"}.get(type(node.op), type(node.op).__name__)
                raise InputError(f"operator {op} is not allowed in a claim; allowed: {_allowed()}")
            return _Binary(t, _BINARY[type(node.op)], self.read(node.left, depth + 1), self.read(node.right, depth + 1))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.read(node.operand, depth + 1)
            return _Negate(t, operand) if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Constant):
            return _Number(t, self.number(node.value))
        if isinstance(node, ast.Name):
            return self.name(node.id, t)
        if isinstance(node, ast.Attribute):
            if node.attr == "T":
                return _Transpose(t, self.read(node.value, depth + 1))
            raise self.attribute(node)
        if isinstance(node, ast.Call):
            return self.call(node, t, depth)
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
                raise InputError("a claim may compare once, with > >= < or <= (H1 > 0 is 1 where true, else 0)")
            return _Compare(t, _COMPARE[type(node.ops[0])], self.read(node.left, depth + 1),
                            self.read(node.comparators[0], depth + 1))
        if isinstance(node, ast.UnaryOp):
            word = {ast.Not: "not", ast.Invert: "~"}.get(type(node.op), "this operator")
            raise InputError(f"{word} is not allowed in a claim; allowed: {_allowed()}")
        raise InputError(f"{_NODE_WORDS.get(type(node), type(node).__name__)} is not allowed in a claim; "
                         f"allowed: {_allowed()}")

    def name(self, ident: str, t: str) -> _Node:
        if ident.startswith("_"):
            raise InputError(f"name {ident!r} is not allowed in a claim (no underscore names)")
        if ident in _elementwise() or ident in ("sum", "mean", "np", "numpy") or ident in _NP_BINARY:
            raise InputError(f"{ident} is a function; call it, e.g. {ident}(H1)" if ident not in ("np", "numpy")
                             else f"{ident} alone is not a value; call a function of it, e.g. np.sum(D1, axis=0)")
        key = self.names[ident]
        self.used.add(key)
        return _Name(t, key)

    @staticmethod
    def number(value: object) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            what = "text in quotes" if isinstance(value, (str, bytes)) else f"the constant {value!r}"
            raise InputError(f"{what} is not allowed in a claim; allowed: {_allowed()}")
        if isinstance(value, int) and len(str(value)) > MAX_DIGITS:
            raise InputError(f"a number in the claim has more than {MAX_DIGITS} digits")
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise InputError("the claim contains a number too large to represent")
        return value

    def exponent(self, node: ast.AST) -> sp.Rational:
        negative = False
        while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            negative ^= isinstance(node.op, ast.USub)
            node = node.operand
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and all(
                isinstance(n, ast.Constant) and type(n.value) is int for n in (node.left, node.right)) \
                and node.right.value != 0:
            value = sp.Rational(node.left.value, node.right.value)
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            value = sp.Rational(repr(self.number(node.value)))
        else:
            raise InputError(f"the exponent {self.text(node)} is not a number; powers are element-wise by a "
                             f"number (A1**2); write exp(...) for e to a power")
        value = -value if negative else value
        if abs(value.p) > MAX_EXPONENT or value.q > MAX_EXPONENT:
            raise InputError(f"the exponent {value} is too large; exponents are fractions p/q with |p|, q <= "
                             f"{MAX_EXPONENT}")
        return value

    def attribute(self, node: ast.Attribute) -> InputError:
        return InputError(f"attribute .{node.attr} is not allowed in a claim; only .T, .sum(…), .mean(…), .dot(…) "
                          f"and np.FUNCTION(…)")

    def call(self, node: ast.Call, t: str, depth: int) -> _Node:
        func = node.func
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise InputError("*unpacking is not allowed in a claim")
        args = list(node.args)
        if isinstance(func, ast.Attribute):
            if isinstance(func.value, ast.Name) and func.value.id in ("np", "numpy"):
                fname = func.attr
            elif func.attr in ("sum", "mean", "dot", "transpose"):
                fname = func.attr  # a method: the object is the first argument
                args = [func.value, *args]
            elif func.attr == "T":
                raise InputError(".T is not a function: write X.T, not X.T()")
            else:
                raise self.attribute(func)
        elif isinstance(func, ast.Name):
            fname = func.id
        else:
            raise InputError(f"only named functions can be called in a claim; allowed: {_allowed()}")
        if fname.startswith("_"):
            raise InputError(f"function {fname!r} is not allowed in a claim")
        keywords = {k.arg: k.value for k in node.keywords}
        if fname in ("sum", "mean"):
            return self.reduce(fname, args, keywords, t, depth)
        if keywords:
            raise InputError(f"{fname}(...) takes no keyword arguments in a claim")
        if fname in _NP_BINARY or fname in ("maximum", "minimum"):
            if len(args) != 2:
                raise InputError(f"{fname}(...) takes two arguments")
            left, right = self.read(args[0], depth + 1), self.read(args[1], depth + 1)
            if fname in _NP_BINARY:
                return _Binary(t, _NP_BINARY[fname], left, right)
            return _Extreme(t, fname, left, right)
        if fname == "transpose":
            if len(args) != 1:
                raise InputError("transpose(...) takes one argument in a claim")
            return _Transpose(t, self.read(args[0], depth + 1))
        if fname == "power":
            if len(args) != 2:
                raise InputError("power(...) takes two arguments: an array and a number")
            return _Power(t, self.read(args[0], depth + 1), self.exponent(args[1]))
        if fname == "square":
            if len(args) != 1:
                raise InputError("square(...) takes one argument")
            return _Power(t, self.read(args[0], depth + 1), sp.Integer(2))
        if fname in _elementwise():
            if len(args) != 1:
                raise InputError(f"{fname}(...) takes exactly one argument")
            return _Apply(t, fname, self.read(args[0], depth + 1))
        raise InputError(f"function {fname!r} is not allowed in a claim; allowed: {_allowed()}")

    def reduce(self, how: str, args: list[ast.AST], keywords: dict[str, ast.AST], t: str, depth: int) -> _Node:
        unknown = sorted(set(keywords) - {"axis", "keepdims"})
        if unknown:
            raise InputError(f"{how}(...) takes axis= and keepdims= in a claim, not {unknown[0]}=")
        if not 1 <= len(args) <= 2 or (len(args) == 2 and "axis" in keywords):
            raise InputError(f"{how}(...) takes an array, then axis= (and keepdims=)")
        axis_node = args[1] if len(args) == 2 else keywords.get("axis")
        axis = None
        if axis_node is not None:
            value = axis_node
            sign = 1
            if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
                sign, value = -1, value.operand
            if isinstance(value, ast.Constant) and value.value is None and sign == 1:
                axis = None
            elif isinstance(value, ast.Constant) and type(value.value) is int and value.value in (0, 1, 2):
                axis = sign * value.value
            else:
                raise InputError(f"axis in {how}(...) must be 0, 1, -1 or None")
        keep = keywords.get("keepdims")
        if keep is not None and not (isinstance(keep, ast.Constant) and isinstance(keep.value, bool)):
            raise InputError(f"keepdims in {how}(...) must be True or False")
        return _Reduce(t, how, self.read(args[0], depth + 1), axis, bool(keep.value) if keep is not None else False)


# -- evaluating it --------------------------------------------------------------------------------------------
def _shape_text(shape: tuple[int, ...], m: int) -> str:
    """m×3 for (m, 3), (3,) for a vector, 'a number' for a scalar, with the batch size written m."""
    dims = ["m" if d == m else str(d) for d in shape]
    if not dims:
        return "a number"
    if len(dims) == 1:
        return f"({dims[0]},)"
    return "×".join(dims)


class _Evaluator:
    def __init__(self, values: dict[str, Array], symbolic: bool, convention: str):
        self.values, self.symbolic = values, symbolic
        self.m = int(values["m"]) if not symbolic else int(values["m_size"])
        self.note = _ROWS_NOTE if convention == "rows" else _COLUMNS_NOTE

    def shape(self, v: object) -> str:
        return _shape_text(np.shape(v), self.m)

    @staticmethod
    def operand(node: _Node) -> str:
        """An operand as the claim writes it, parenthesised when it is itself a sum or product."""
        return f"({node.text})" if isinstance(node, (_Binary, _Compare, _Negate)) else node.text

    def both(self, node: _Node, a: object, b: object, op: str) -> str:
        return (f"{self.operand(node.left)} ({self.shape(a)}) {op} "  # type: ignore[attr-defined]
                f"{self.operand(node.right)} ({self.shape(b)})")  # type: ignore[attr-defined]

    def fail(self, message: str) -> InputError:
        return InputError(f"{message} ({self.note})")

    def number(self, value: int | float) -> object:
        if self.symbolic:
            return sp.Integer(value) if isinstance(value, int) else sp.Rational(repr(value))
        return float(value)

    def eval(self, node: _Node) -> object:
        if isinstance(node, _Name):
            return self.values[node.key]
        if isinstance(node, _Number):
            return self.number(node.value)
        if isinstance(node, _Negate):
            return -self.eval(node.operand)
        if isinstance(node, _Transpose):
            v = self.eval(node.operand)
            return np.transpose(v) if np.ndim(v) else v
        if isinstance(node, _Binary):
            return self.binary(node)
        if isinstance(node, _Power):
            return self.power(node)
        if isinstance(node, _Reduce):
            return self.reduce(node)
        if isinstance(node, _Apply):
            return _function(node.function, self.symbolic)(self.eval(node.operand))
        if isinstance(node, _Compare):
            a, b = self.eval(node.left), self.eval(node.right)
            self.broadcast(node, a, b, node.op)
            diff = a - b if node.op in (">", ">=") else b - a
            at_zero = 1 if "=" in node.op else 0
            return _function("step" if at_zero == 0 else "step_inclusive", self.symbolic)(diff)
        if isinstance(node, _Extreme):
            a, b = self.eval(node.left), self.eval(node.right)
            self.broadcast(node, a, b, ",")
            if self.symbolic:
                f = sp.Max if node.how == "maximum" else sp.Min
                return np.vectorize(lambda u, v: f(u, v), otypes=[object])(a, b)
            return (np.maximum if node.how == "maximum" else np.minimum)(a, b)
        raise TypeError(node)

    def binary(self, node: _Binary) -> object:
        a, b = self.eval(node.left), self.eval(node.right)
        if node.op == "@":
            if np.ndim(a) == 0 or np.ndim(b) == 0:
                which = node.left if np.ndim(a) == 0 else node.right
                raise self.fail(f"the claim multiplies {self.both(node, a, b, '@')}: @ is the matrix product "
                                f"and {self.operand(which)} is a number; use * to scale")
            inner_a = np.shape(a)[-1]
            inner_b = np.shape(b)[0] if np.ndim(b) == 1 else np.shape(b)[-2]
            if inner_a != inner_b:
                dims = lambda d: "m" if d == self.m else str(d)  # noqa: E731
                raise self.fail(f"the claim multiplies {self.both(node, a, b, '@')}: the matrix product needs "
                                f"the columns of the left ({dims(inner_a)}) to match the rows of the right "
                                f"({dims(inner_b)})")
            out_shape = np.shape(a)[:-1] + (np.shape(b)[-1:] if np.ndim(b) > 1 else ())
            self.bounded(node, out_shape)
            if self.symbolic:
                return _object_matmul(a, b)
            with np.errstate(all="ignore"):
                return np.matmul(a, b)
        self.broadcast(node, a, b, node.op)
        with np.errstate(all="ignore"):
            if node.op == "+":
                return a + b
            if node.op == "-":
                return a - b
            if node.op == "*":
                return a * b
            return a / b

    def broadcast(self, node: _Node, a: object, b: object, op: str) -> None:
        try:
            shape = np.broadcast_shapes(np.shape(a), np.shape(b))
        except ValueError:
            verb = {"+": "adds", "-": "subtracts", "*": "multiplies", "/": "divides"}.get(op, "combines")
            hint = ""
            operands = (node.left, node.right)  # type: ignore[attr-defined]
            if any(isinstance(n, _Binary) and n.op == "@" for n in operands):
                hint = "; `@` and `*` group left to right, so parenthesise the element-wise product"
            raise self.fail(f"the claim {verb} {self.both(node, a, b, op)} element-wise, but their shapes neither "
                            f"match nor broadcast (@ is the matrix product){hint}") from None
        self.bounded(node, shape)

    def bounded(self, node: _Node, shape: tuple[int, ...]) -> None:
        size = int(np.prod(shape, dtype=object)) if shape else 1
        if size > MAX_ENTRIES:
            raise InputError(f"{node.text} builds an array of {_shape_text(shape, self.m)} = {size:,} entries; a "
                             f"claim may build at most {MAX_ENTRIES:,}")

    def power(self, node: _Power) -> object:
        base = self.eval(node.base)
        e = node.exponent
        if self.symbolic:
            if np.ndim(base) == 0:
                return _bounded_power(base, e)
            return np.vectorize(lambda v: v ** e, otypes=[object])(base)
        with np.errstate(all="ignore"):
            return np.power(base, float(e)) if e.q != 1 else np.power(base, int(e.p) if e.p >= 0 else float(e.p))

    def reduce(self, node: _Reduce) -> object:
        v = self.eval(node.operand)
        ndim = np.ndim(v)
        if node.axis is not None and not -ndim <= node.axis < ndim:
            raise self.fail(f"the claim sums {node.operand.text} ({self.shape(v)}) over axis {node.axis}, which "
                            f"it does not have")
        arr = np.asarray(v, dtype=object if self.symbolic else float)
        total = np.sum(arr, axis=node.axis, keepdims=node.keepdims)
        if node.how == "sum":
            return total
        count = arr.size if node.axis is None else arr.shape[node.axis]
        return total / (sp.Integer(count) if self.symbolic else count)


def _object_matmul(a: Array, b: Array) -> object:
    """@ on arrays of SymPy expressions, with sums built at once (not term by term)."""
    a2 = np.atleast_2d(a) if np.ndim(a) == 1 else a
    b2 = np.reshape(b, (-1, 1)) if np.ndim(b) == 1 else b
    out = np.empty((a2.shape[0], b2.shape[1]), dtype=object)
    for r in range(a2.shape[0]):
        for c in range(b2.shape[1]):
            out[r, c] = sp.Add(*(a2[r, q] * b2[q, c] for q in range(a2.shape[1])))
    if np.ndim(a) == 1 and np.ndim(b) == 1:
        return out[0, 0]
    if np.ndim(a) == 1:
        return out[0]
    if np.ndim(b) == 1:
        return out[:, 0]
    return out


def _bounded_power(base: sp.Expr, e: sp.Rational) -> sp.Expr:
    if base.is_Rational:
        if base == 0 and e < 0:
            return sp.zoo
        bits = max(abs(base.p).bit_length(), base.q.bit_length()) * abs(e.p) // e.q
        if bits > 1 << 14:
            raise InputError(f"the number {base}**{e} is too large")
    return base ** e


def _function(name: str, symbolic: bool) -> Callable[[object], object]:
    if name == "step_inclusive":
        fn = lambda v: sp.Heaviside(v, 1)  # noqa: E731  (x >= 0)
    else:
        fn = _elementwise()[name]
    if symbolic:
        return np.vectorize(lambda v: fn(v), otypes=[object])
    return _numeric(name)


@cache
def _numeric(name: str) -> Callable[[object], Array]:
    expr = sp.Heaviside(_X, 1) if name == "step_inclusive" else _elementwise()[name](_X)
    f = sp.lambdify(_X, inline(expr, kernel=True), modules=[numpy_functions(), "numpy"])

    def apply(v: object) -> Array:
        with np.errstate(all="ignore"):
            arr = np.asarray(v, dtype=float)
            return np.broadcast_to(np.asarray(f(arr), dtype=float), arr.shape).copy()

    return apply


# -- the verdict ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MatrixVerdict:
    """Whether a matrix claim is ∂E/∂(wrt) over a batch: ``ok``, the claim, shapes (m for the batch size),
    the ``correct`` expression in the convention's NumPy, a ``diagnosis`` when wrong, and how it was judged."""

    ok: bool
    wrt: str  # as written (Z1 in columns, W1, Yhat, …)
    claim: str
    convention: str
    shape: str  # the claim's shape, e.g. 2×3 or m×3
    expected_shape: str
    correct: str  # the derivation's expression, in the convention's names
    diagnosis: str = ""
    sizes: tuple[int, ...] = ()  # the batch sizes m checked
    max_rel_error: float = 0.0  # the largest relative error over the batches (inf: shapes differ)
    proved: bool = False
    proof_size: int | None = None  # m of the batch the symbolic proof used
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def derivative(self) -> str:
        return f"∂E/∂{self.wrt}"

    def lines(self) -> list[str]:
        """What the CLI prints: the verdict line, then indented evidence, as :meth:`Verdict.report` does."""
        conv = _ROWS_NOTE if self.convention == "rows" else _COLUMNS_NOTE
        sizes = ", ".join(map(str, self.sizes))
        if self.ok:
            out = [f"correct: {self.derivative} = {self.claim}"]
            numeric = (f"at {len(self.sizes)} random batches (m = {sizes}), float64, max relative error "
                       f"{self.max_rel_error:.1e}")
            if self.proved:
                out.append(f"  proved symbolically for a batch of m = {self.proof_size} (every entry) and "
                           f"confirmed {numeric}")
            else:
                out.append(f"  confirmed {numeric}")
            out.append(f"  shape {self.shape} ({conv})")
        else:
            out = [f"incorrect: the claim is not {self.derivative}",
                   f"  claim:      {self.claim}   ({self.shape})",
                   f"  correct:    {self.correct}   ({self.expected_shape}, {conv})"]
            if self.diagnosis:
                out.append(f"  diagnosis:  {self.diagnosis}")
            if self.max_rel_error != float("inf"):
                out.append(f"  at random batches of m = {sizes}: max relative error {self.max_rel_error:.2g}")
        out += [f"  note: {n}" for n in self.notes]
        return out

    def report(self) -> str:
        return "\n".join(self.lines())


def check_matrix(net: Network, wrt: str, claim: str, *, convention: str = "rows", seed: int = 0,
                 batches: int = 3, time_limit: float = 4.0) -> MatrixVerdict:
    """Check a matrix claim: ``claim`` (NumPy text over the batch names) is ∂E/∂``wrt`` for a batch, in
    ``convention`` ("rows" or "columns").  Raises InputError (one line) for a claim that cannot be read or
    whose shapes do not fit; returns the verdict otherwise.  ``time_limit`` bounds the symbolic proof."""
    if convention not in CONVENTIONS:
        raise InputError(f"unknown convention {convention!r}; allowed: {', '.join(CONVENTIONS)}")
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        raise InputError(f"batches must be a whole number >= 1, got {batches!r}")
    key, shown = _target(net, wrt)
    program = parse_matrix_claim(claim, net, convention)
    if net.n_params > MAX_PARAMS:
        raise InputError(f"{net.compact} has {net.n_params:,} parameters; matrix claims are checked for at most "
                         f"{MAX_PARAMS:,}")
    form = matrix_form(net) if isinstance(net, Network) else graph_matrix_form(net)
    rng = np.random.default_rng(seed)
    sizes = batch_sizes(net, batches, rng)
    points = [random_batch(net, m, rng) for m in sizes]
    answers, truths, errors = [], [], []
    bad_value = None
    for point in points:
        values, rows = _values(form, net, point, convention)
        truth = _truth(net, key, rows, point, convention)
        claimed = _as_array(program.evaluate(values))
        claimed = _aligned(claimed, truth, key)
        if not np.all(np.isfinite(claimed)):
            bad_value = bad_value or ("nan" if np.any(np.isnan(claimed)) else "inf")
        answers.append(claimed)
        truths.append(truth)
        errors.append(_rel_error(claimed, truth) if claimed.shape == truth.shape else float("inf"))
    m0 = sizes[0]
    shape, expected = _shape_text(answers[0].shape, m0), _shape_text(truths[0].shape, m0)
    correct = _correct_text(form, key, convention)
    notes = _notes(net, program)
    worst = max(errors)
    common = dict(wrt=shown, claim=program.text, convention=convention, shape=shape,
                  expected_shape=expected, correct=correct, sizes=sizes, max_rel_error=worst)
    if worst <= TOLERANCE:
        proved, size = _prove(net, form, program, key, convention, time_limit)
        return MatrixVerdict(True, proved=proved, proof_size=size, notes=notes, **common)
    if bad_value:
        diagnosis = f"the claim has no value ({bad_value}) at some entries of a random batch: it divides by zero " \
                    f"or takes the log of a number <= 0"
    else:
        diagnosis = _diagnosis(net, convention, points, key, shown, answers, shape, expected)
    return MatrixVerdict(False, diagnosis=diagnosis, notes=notes, **common)


def _values(form: MatrixForm, net: Network, point: tuple, convention: str) -> tuple[dict[str, Array], dict]:
    """The claim's names for one batch (by key, in the convention's shapes), and the rows-layout values."""
    params, X, Y = point
    rows = form.evaluate(params, X, Y, l2=net.l2)
    if isinstance(net, Graph):
        return _graph_values(net, convention, params, rows, float(len(X)), float(net.l2)), rows
    return _names_values(net, convention, params, rows, float(len(X)), float(net.l2)), rows


def _graph_values(graph: Graph, convention: str, params: list[Array], rows: dict[str, Array], m: float,
                  l2: float) -> dict[str, object]:
    """What each name of a claim on a graph stands for, by key, from the batch's rows-layout values."""
    values: dict[str, object] = {"m": m, "lam": l2}
    for (name, shape), p in zip(graph.param_shapes, params):
        values[name] = in_convention(convention, graph, name, np.reshape(p, shape))
    for key in set(_graph_targets(graph).values()) | {"Y"}:
        if key not in values:
            values[key] = in_convention(convention, graph, key, rows[key])
    for node in graph.dense_nodes:
        values[f"D{node.number}"] = in_convention(convention, graph, "H", rows[f"D{node.number}"])
        values[f"dZ{node.number}"] = values[f"D{node.number}"] * m
    return values


def _names_values(net: Network, convention: str, params: list[Array], rows: dict[str, Array], m: object,
                  l2: object) -> dict[str, object]:
    """What each name of a claim stands for, by key, from the rows-layout values of a batch."""
    values: dict[str, object] = {"m": m, "lam": l2}
    for k in range(1, net.depth + 1):
        values[f"W{k}"] = in_convention(convention, net, f"W{k}", params[2 * k - 2])
        values[f"b{k}"] = in_convention(convention, net, f"b{k}", np.reshape(params[2 * k - 1], -1))
        values[f"H{k}"] = in_convention(convention, net, f"H{k}", rows[f"H{k}"])
        values[f"D{k}"] = in_convention(convention, net, f"H{k}", rows[f"D{k}"])
        values[f"dZ{k}"] = values[f"D{k}"] * m
        if k < net.depth:
            values[f"A{k}"] = in_convention(convention, net, f"A{k}", rows[f"A{k}"])
    for name in ("X", "Y", "Yhat"):
        values[name] = in_convention(convention, net, "A0", rows[name])
    return values


def _truth(net: Network, key: str, rows: dict[str, Array], point: tuple, convention: str) -> Array:
    """∂E/∂(key) for the batch, in the convention's shape: the parameters' from the derivation's gradients,
    the rest from the matrix form."""
    if isinstance(net, Graph):
        if key in net.param:
            return in_convention(convention, net, key, np.reshape(rows[f"d{key}"], net.param[key].shape))
        return in_convention(convention, net, key, rows[f"d{key}"])
    kind, k = key[0], int(key[1:])
    if kind in "Wb":
        grads = derived_gradients(net, *point)
        return in_convention(convention, net, key, grads[2 * k - 2 if kind == "W" else 2 * k - 1])
    return in_convention(convention, net, key, rows[f"D{k}" if kind == "H" else f"dA{k}"])


def _as_array(v: object) -> Array:
    return np.asarray(v, dtype=float)


def _aligned(claimed: Array, truth: Array, key: str) -> Array:
    """A bias gradient (or any single row or column given as a flat vector or a number) reshaped to the
    truth's shape: a vector has no orientation; everything else must have the truth's shape."""
    if claimed.shape == truth.shape:
        return claimed
    same = claimed.size == truth.size and claimed.squeeze().shape == truth.squeeze().shape
    if same and (key[0] == "b" or claimed.ndim < 2):
        return claimed.reshape(truth.shape)
    return claimed


def _rel_error(u: Array, t: Array) -> float:
    floor = _FLOOR * float(np.max(np.abs(t), initial=0.0)) or 1e-300
    with np.errstate(all="ignore"):
        err = np.abs(u - t) / np.maximum(np.maximum(np.abs(u), np.abs(t)), floor)
    return float(np.max(np.where(np.isnan(err), np.inf, err), initial=0.0))


def _diagnosis(net: Network, convention: str, points: list, key: str, shown: str, answers: list[Array],
               shape: str, expected: str) -> str:
    found = diagnose(net, convention, points, {key: answers}, tolerance=100 * TOLERANCE, floor=_FLOOR)
    axis = "sum(…, axis=0)" if convention == "rows" else "np.sum(…, axis=1, keepdims=True)"
    if found is not None:
        text = found.describe(key, shown, axis, (shape, expected))
        if text:
            return text
    if shape != expected:
        return f"the claim has shape {shape}, but ∂E/∂{shown} is {expected} in the {convention} convention"
    return "does not match any known mistake"


def _notes(net: Network, program: MatrixClaim) -> tuple[str, ...]:
    notes = []
    if any(k.startswith("dZ") for k in program.names):
        notes.append("dZk is the course's dZ = m·Δ⁽ᵏ⁾ (the derivative of the loss summed over the batch); "
                     "Dk is Δ⁽ᵏ⁾ = ∂E/∂Hk itself")
    loss = LOSSES[net.loss]
    graph = net.graph if isinstance(net, Network) else net
    plain = loss.likelihood and dict(graph.loss_node.options) == kind(net.loss).defaults()
    if loss.one_hot:  # the output's Δ = (Ŷ − Y)/m of plain cross-entropy; another loss's Δ uses Σy = 1 too
        notes.append("targets are one-hot (each sample's sum to 1), as the derivation's Δ = (Ŷ − Y)/m assumes"
                     if plain else "targets are one-hot (each sample's sum to 1), as the derivation assumes")
    return tuple(notes)


# -- the correct expression, as NumPy text in the convention's names ----------------------------------------
def _correct_text(form: MatrixForm, key: str, convention: str) -> str:
    if isinstance(form, GraphMatrixForm):
        return _graph_correct_text(form, key, convention)
    kind, k = key[0], int(key[1:])
    columns = convention == "columns"
    if kind == "W":
        expr = form.layer(k).dW
    elif kind == "b":
        expr = form.layer(k).db
    elif kind == "H":
        expr = form.layer(k).D
    elif k < form.depth:
        expr = form.layer(k + 1).dA_below
    else:
        expr = form.layers[-1].dA
    printer = _NumpyText(columns, form)
    main = printer.text(expr, transposed=columns)
    deltas = sorted({int(str(s.name)[1:]) for s in expr.atoms(sp.MatrixSymbol) if str(s.name).startswith("D")})
    if deltas:
        chain, seen = [], set()
        todo = list(deltas)
        while todo:
            j = todo.pop(0)
            if j in seen:
                continue
            seen.add(j)
            rule = form.layer(j).delta
            chain.append(f"D{j} = {printer.text(rule, transposed=columns)}")
            todo += [int(str(s.name)[1:]) for s in rule.atoms(sp.MatrixSymbol) if str(s.name).startswith("D")]
        main += ", where " + ", ".join(chain)
    return main


def _graph_correct_text(form: GraphMatrixForm, key: str, convention: str) -> str:
    """∂E/∂(key) of a graph as NumPy text, then each delta it reads (and each one those read)."""
    columns = convention == "columns"
    grads = {g.name: g.expr for g in form.gradients}
    deltas = {str(d.D.name): d.expr for d in form.deltas}
    if key in grads:
        expr = grads[key]
    elif key in deltas or key.startswith("H") and f"D{key[1:]}" in deltas:
        expr = deltas[f"D{key[1:]}"]
    else:
        node = next(n for n, arr in form.rules.arrays.items() if str(form.symbols[str(arr.label)].name) == key)
        expr = form.gradient(node)
    printer = _NumpyText(columns, form)
    main = printer.text(expr, transposed=columns)
    chain, seen = [], set()
    todo = sorted(str(s.name) for s in expr.atoms(sp.MatrixSymbol) if str(s.name) in deltas)
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        chain.append(f"{name} = {printer.text(deltas[name], transposed=columns)}")
        todo += sorted(str(s.name) for s in deltas[name].atoms(sp.MatrixSymbol) if str(s.name) in deltas)
    return main + (", where " + ", ".join(chain) if chain else "")


class _NumpyText:
    """A matrix expression of the matrix form as NumPy text; in the columns convention every matrix is
    printed transposed (Xᵀ is the columns' X, so (XᵀΔ)ᵀ = ΔᵀX reads D @ X.T)."""

    _ADD, _MUL, _UNARY, _POW, _ATOM = range(5)

    def __init__(self, columns: bool, form: MatrixForm | GraphMatrixForm):
        self.columns = columns
        # a graph's widths by their symbols: a block of a matrix prints with its numbers (W3[:32])
        self.sizes = {w: form.graph.widths[n] for n, w in form.widths.items()
                      if isinstance(w, sp.Symbol) and n in form.graph.widths} if isinstance(form, GraphMatrixForm) else {}

    def text(self, e: sp.Basic, transposed: bool = False) -> str:
        return self._p(e, transposed)[0]

    def name(self, sym: sp.MatrixSymbol) -> str:
        name = str(sym.name)
        if self.columns and name.startswith("H"):
            return "Z" + name[1:]
        return name

    def _wrap(self, item: tuple[str, int], level: int) -> str:
        return f"({item[0]})" if item[1] < level else item[0]

    def _p(self, e: sp.Basic, t: bool) -> tuple[str, int]:
        if isinstance(e, sp.MatrixSymbol):
            name = self.name(e)
            if str(e.name).startswith("b"):
                return (f"{name}.T" if t != self.columns else name), self._ATOM  # noqa: E501
            flipped = t != self.columns  # the rows symbol is the columns one transposed
            return (f"{name}.T" if flipped else name), self._ATOM
        if isinstance(e, sp.Transpose):
            return self._p(e.arg, not t)
        if isinstance(e, sp.OneMatrix):
            return "1", self._ATOM
        if isinstance(e, sp.MatAdd):
            terms = [self._p(a, t) for a in e.args]
            terms.sort(key=lambda item: item[0].startswith("-"))
            out = terms[0][0]
            for text, level in terms[1:]:
                out += f" - {text[1:]}" if text.startswith("-") else f" + {text}"
            return out, self._ADD
        if isinstance(e, sp.HadamardProduct):
            # as the articles write it: the loss's derivative, then what is carried back, then f′
            def order(a: sp.Basic) -> int:
                names = {str(s.name) for s in a.atoms(sp.MatrixSymbol)}
                return 0 if "Y" in names else 1 if isinstance(a, sp.MatMul) else 2 if a.is_symbol else 3
            factors = sorted(e.args, key=order)
            return " * ".join(self._wrap(self._p(a, t), self._UNARY) for a in factors), self._MUL
        if isinstance(e, sp.HadamardPower):
            if e.exp == -1:
                return f"1 / {self._wrap(self._p(e.base, t), self._POW)}", self._MUL
            return f"{self._wrap(self._p(e.base, t), self._ATOM)}**{e.exp}", self._POW
        if isinstance(e, ElementwiseApplyFunction):
            return f"{_function_name(e.function)}({self._p(e.expr, t)[0]})", self._ATOM
        if isinstance(e, sp.MatMul):
            return self._matmul(e, t)
        if isinstance(e, sp.MatrixSlice):
            (r0, r1, _), (c0, c1, _) = e.rowslice, e.colslice
            rows, cols = (f"{self._int(a)}:{self._int(b)}".replace("0:", ":", 1) if a == 0 else
                          f"{self._int(a)}:{self._int(b)}" for a, b in ((r0, r1), (c0, c1)))
            parent, _ = self._p(e.parent, False)
            sliced = f"{parent}[{rows}, {cols}]".replace(", :]", "]")
            return (f"{sliced}.T" if t != self.columns else sliced), self._ATOM
        if isinstance(e, sp.BlockMatrix):
            parts = [self._p(b, t)[0] for b in e.blocks[0, :]]
            return f"np.hstack([{', '.join(parts)}])" if not t else f"np.vstack([{', '.join(parts)}])", self._ATOM
        return sp.sstr(e), self._ATOM

    def _int(self, e: sp.Expr) -> str:
        return sp.sstr(sp.sympify(e).xreplace(self.sizes))

    def _matmul(self, e: sp.MatMul, t: bool) -> tuple[str, int]:
        scalar = sp.Mul(*(a for a in e.args if not a.is_Matrix))
        mats = [a for a in e.args if a.is_Matrix]
        if len(mats) == 2 and isinstance(mats[0], sp.OneMatrix) and isinstance(mats[1], sp.Transpose):
            body = (self.name(mats[1].arg), self._ATOM)  # 1bᵀ: the bias, broadcast over the batch
        elif len(mats) == 2 and isinstance(mats[0], sp.OneMatrix):
            inner = self._wrap(self._p(mats[1], t), self._ATOM)  # 1ᵀΔ: summed over the samples
            body = (f"np.sum({inner}, axis=1, keepdims=True)" if t else f"{inner}.sum(axis=0)", self._ATOM)
        elif len(mats) == 2 and isinstance(mats[1], sp.OneMatrix):
            inner = self._p(mats[0], t)[0]  # row sums, broadcast over the row
            body = (f"np.sum({inner}, axis={0 if t else 1}, keepdims=True)", self._ATOM)
        elif len(mats) == 1:
            body = self._p(mats[0], t)
        else:
            order = list(reversed(mats)) if t else mats
            body = (" @ ".join(self._wrap(self._p(a, t), self._UNARY) for a in order), self._MUL)
        if scalar == 1:
            return body
        if scalar == -1:
            return f"-{self._wrap(body, self._POW)}", self._UNARY
        num, den = sp.fraction(scalar)
        head = self._wrap(body, self._MUL)
        if num == 1:
            return f"{head} / {sp.sstr(den).replace('lambda', 'lam')}", self._MUL
        return f"{sp.sstr(scalar).replace('lambda', 'lam')} * {self._wrap(body, self._UNARY)}", self._MUL


def _function_name(fn: sp.Lambda) -> str:
    body = fn(_X)
    if isinstance(body, Activation) and body.args == (_X,):
        return type(body).name
    if isinstance(body, (sp.exp, sp.log)) and body.args == (_X,):
        return type(body).__name__  # exp, log: names a claim may call too
    if isinstance(body, sp.Heaviside) and body.args[0] == _X:
        return "step"
    return f"(lambda x: {sp.sstr(body)})"


# -- the proof -------------------------------------------------------------------------------------------------
class _BatchModel:
    """The batch's forward quantities as symbols with definitions, for :func:`symnet.verify.proof.prove`
    (which reads ``definitions`` in forward order and ``forward_expression``)."""

    def __init__(self, definitions: dict[sp.Symbol, sp.Expr]):
        self.definitions = definitions

    def forward_expression(self, sym: sp.Symbol) -> sp.Expr:
        expr = self.definitions.get(sym, sym)
        for s in reversed(list(self.definitions)):
            if expr.has(s):
                expr = expr.xreplace({s: self.definitions[s]})
        return expr


def _proof_size(net: Network) -> int:
    return next(m for m in range(2, 2 + len(net.layers) + 1) if m not in net.layers)


def _prove(net: Network, form: MatrixForm, program: MatrixClaim, key: str, convention: str,
           seconds: float) -> tuple[bool, int | None]:
    """Whether the claim equals the truth entry by entry for a batch of a few samples, all values symbols
    (the forward quantities with their definitions); (False, None) when the network is too large to try."""
    if net.n_params > PROVE_UP_TO or isinstance(net, Graph):
        return False, None
    m, L = _proof_size(net), net.depth
    n = net.layers

    def grid(rows: int, cols: int, name: Callable[[int, int], str]) -> Array:
        out = np.empty((rows, cols), dtype=object)
        for r in range(rows):
            for c in range(cols):
                out[r, c] = sp.Symbol(name(r + 1, c + 1), real=True)
        return out

    X = grid(m, n[0], lambda s, i: f"x{i}|{s}")
    Y = grid(m, n[L], lambda s, j: f"y{j}|{s}")
    params = []
    for k in range(1, L + 1):
        params.append(grid(n[k - 1], n[k], lambda i, j, k=k: f"W{k}[{i},{j}]"))
        params.append(grid(1, n[k], lambda _, j, k=k: f"b{k}[{j}]")[0])
    definitions: dict[sp.Symbol, sp.Expr] = {}
    forward: dict[str, Array] = {}
    below = X
    for k in range(1, L + 1):
        lay = form.layer(k)
        H = grid(m, n[k], lambda s, j, k=k: f"h{k}[{j}]|{s}")
        Hdef = _object_matmul(below, params[2 * k - 2]) + params[2 * k - 1][None, :]
        A = grid(m, n[k], lambda s, j, k=k: (f"yhat[{j}]|{s}" if k == L else f"a{k}[{j}]|{s}"))
        Adef = form.activate(k, H, symbolic=True)
        definitions.update({h: d for h, d in zip(H.flat, Hdef.flat)})
        definitions.update({a: d for a, d in zip(A.flat, Adef.flat)})
        forward[str(lay.H.name)], forward[str(lay.A.name)] = H, A
        below = A
    rows = form.evaluate(params, X, Y, l2=sp.Rational(repr(net.l2)), symbolic=True, m=sp.Integer(m),
                         forward=forward)
    values = _names_values(net, convention, params, rows, sp.Integer(m), sp.Rational(repr(net.l2)))
    values["m_size"] = m
    kind, layer = key[0], int(key[1:])
    truth = rows[{"W": f"dW{layer}", "b": f"db{layer}", "H": f"D{layer}", "A": f"dA{layer}"}[kind]]
    truth = in_convention(convention, net, key, np.reshape(truth, -1) if kind == "b" else truth)
    start = time.monotonic()
    try:
        # a long claim can build large expressions: the time limit covers building them too
        with proof.time_limit(seconds):
            claimed = np.asarray(program.evaluate(values, symbolic=True), dtype=object)
    except (proof.Timeout, InputError, TypeError, ValueError, ArithmeticError, RecursionError):
        return False, None
    seconds -= time.monotonic() - start
    if claimed.size != truth.size or claimed.size > _PROOF_ENTRIES:
        return False, None
    claimed = claimed.reshape(truth.shape)
    y_rule: dict[sp.Symbol, sp.Expr] = {}
    if LOSSES[net.loss].one_hot:
        for s in range(m):
            y_rule[Y[s, -1]] = 1 - sp.Add(*Y[s, :-1])
    model = _BatchModel(definitions)
    deadline = time.monotonic() + seconds
    entries = list(zip(claimed.flat, truth.flat))
    for done, (c, t) in enumerate(entries):
        left = deadline - time.monotonic()
        if left <= 0:
            return False, None
        share = max(left / (len(entries) - done), 0.05)
        if not proof.prove(sp.sympify(c), sp.sympify(t), model, y_rule, share).proved:  # type: ignore[arg-type]
            return False, None
    return True, m
