"""Reading a hand-derived claim — ``(yhat - y)*sigma(h2[1])*(1 - sigma(h2[1]))*W2[1,1]*x1`` — safely.

A claim is user input, so it is never evaluated as Python.  :func:`parse_claim` walks the syntax tree
of ``ast.parse(text, mode="eval")`` and builds SymPy objects itself, allowing only numbers, the
network's quantity names (and the deltas ``delta2[1]`` = ∂E/∂h2[1]), ``+ - * / **`` (``^`` is a power
too: a claim is mathematics), unary minus, parentheses and calls of a few named functions.
Everything else (attributes, other calls, lambdas, comprehensions, strings, subscripts of anything but
a quantity name) is an :class:`~symnet.errors.InputError`.  Sizes are bounded before any work is done:
the text's length, its nesting depth, every exponent and the size of every number, so that a claim
cannot make SymPy compute ``10**10**10`` or build a tree deeper than ``MAX_DEPTH`` levels — shallow
enough that SymPy's recursive algorithms stay far inside Python's recursion limit.

:func:`latex_to_claim` translates the LaTeX that people write by hand (``\\hat{y}``, ``W^{(1)}_{11}``,
``\\sigma(h_1)``, ``\\frac{a}{b}``, ``\\delta^{(2)}_1``, implicit multiplication) into that same grammar;
its reader nests at most ``MAX_DEPTH`` groups and arguments deep, and the result goes through
:func:`parse_claim` like any other claim.
"""
from __future__ import annotations

import ast
import functools
import re
import warnings
from dataclasses import dataclass
from typing import Callable

import sympy as sp
from sympy.printing.str import StrPrinter

from symnet.functions import activations
from symnet.functions.formula import NODE_WORDS
from symnet.errors import InputError
from symnet.functions.regularisers import lam
from symnet.derivation.names import Name, parse_name, symbol
from symnet.derivation.model import named_yhat, unit
from symnet.spec import Graph, Network

MAX_CHARS = 10_000
MAX_DEPTH = 100  # parentheses and nested calls; Python's own parser stops at 200
MAX_EXPONENT = 100  # |p| and q of a rational exponent p/q
MAX_DIGITS = 100  # digits of one numeric literal
MAX_BITS = 1 << 14  # size of a number that an exponent may produce

#: the number of samples, for claims about E = (1/m) Σ over the samples
M = sp.Symbol("m", integer=True, positive=True)
#: what a claim may call λ, the L2 decay of the cost (``lambda`` is Python's keyword; courses write reg)
DECAY_NAMES = ("lam", "reg")

_ELEMENTARY: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    # ReLU′ with the derivation's convention H(0) = 0 (the write-up's 𝟙[h > 0]); claims print it as step
    "step": lambda arg: sp.Heaviside(arg, 0),
    "heaviside": lambda arg: sp.Heaviside(arg, 0),
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    # a defined loss or activation written with abs or where (Huber, ELU-like) has them in its derivative
    "abs": sp.Abs,
    "sign": sp.sign,
}
#: where(cond, a, b), the piecewise form --define formulas use; cond one comparison
_COMPARE = {ast.Lt: sp.StrictLessThan, ast.LtE: sp.LessThan, ast.Gt: sp.StrictGreaterThan, ast.GtE: sp.GreaterThan}


def claim_functions() -> dict[str, Callable[[sp.Expr], sp.Expr]]:
    """Every function a claim may call: the registered activations by their names, and the elementary ones."""
    return {**activations.claim_functions(), **_ELEMENTARY}


def _allowed() -> str:
    return ("numbers, the network's names, + - * / ** (or ^), parentheses, where(cond, a, b) and the functions "
            + ", ".join(claim_functions()))


class Names:
    """The names a claim may use for one network, with the article-style aliases people write.

    Each name is checked against the layer sizes when it is read: a 784-256-10 network has 203,530
    parameters, and a claim names a handful of them."""

    def __init__(self, net: Network | Graph):
        self.net = net
        # x1 for x, y1 for y, yhat[1] for yhat when there is one; h for the output's
        # pre-activation when there is one output (the first article's h)
        self._aliases: dict[str, str] = {}
        if net.n_in == 1:
            self._aliases["x1"] = "x"
        if net.n_out == 1:
            self._aliases.update({"y1": "y", "yhat[1]": "yhat"})
            if isinstance(net, Network):
                self._aliases["h"] = f"h{net.depth}[1]"

    def get(self, name: str) -> sp.Symbol | None:
        """The symbol a name stands for, or None when this network has no such quantity."""
        if name == "m":
            return M
        if name in DECAY_NAMES and self.net.l2:
            return lam
        name = self._aliases.get(name, name)
        parsed = parse_name(name)
        if parsed is None or str(parsed) != name:
            return None  # only the canonical spelling: x2, not x[2]
        if isinstance(self.net, Graph):
            return self._graph_symbol(parsed)
        bias = self._augmented_bias(parsed)
        if bias is not None:
            return bias
        return symbol(parsed) if self._exists(parsed) else None

    def __getitem__(self, name: str) -> sp.Symbol:
        sym = self.get(name)
        if sym is None:
            raise InputError(f"unknown name {name!r} in the claim; the {self.net.compact} network has {self.summary()}")
        return sym

    def knows(self, sym: sp.Symbol) -> bool:
        """Whether a SymPy symbol is one of this network's (with its assumptions, as the model makes it)."""
        return isinstance(sym, sp.Symbol) and self.get(sym.name) == sym

    def summary(self, claims: bool = True) -> str:
        """The names, by family: ``x1, x2; y; W1[i,j] (i=1..2, j=1..2); b1[j] (j=1..2); …``; with
        ``claims`` also the names only a claim may use (the deltas and m)."""
        net, L = self.net, self.net.depth

        def io(kind: str, count: int) -> str:
            names = [kind] if count == 1 else [str(Name(kind, None, (i,))) for i in range(1, min(count, 3) + 1)]
            return ", ".join(names) if count <= 3 else f"{names[0]}..{Name(kind, None, (count,))}"

        if isinstance(net, Graph):
            parts = [io("x", net.n_in), io("y", net.n_out)]
            parts += [f"{p.name}[i,j] (i=1..{p.shape[0]}, j=1..{p.shape[1]})" if len(p.shape) == 2
                      else f"{p.name}[j] (j=1..{p.shape[0]})" for p in net.params]
            parts += [f"{n.name}[j] (j=1..{net.widths[n.name]})" for n in net.nodes[:-1]
                      if not (n.name == net.prediction and n.number is None)]
            parts.append(io("yhat", net.n_out))
            if claims:
                parts += ["delta<k>[j] = ∂E/∂h<k>[j]", "m (the number of samples)"]
            return "; ".join(parts)
        n = net.layers
        parts = [io("x", n[0]), io("y", n[L])]
        for k in range(1, L + 1):
            parts.append(f"W{k}[i,j] (i=1..{n[k - 1]}, j=1..{n[k]})")
            hidden = f", a{k}[j]" if k < L else ""
            parts.append(f"b{k}[j], h{k}[j]{hidden} (j=1..{n[k]})")
        parts.append(io("yhat", n[L]))
        if claims:
            parts += ["delta<k>[j] = ∂E/∂h<k>[j]", "m (the number of samples)"]
        return "; ".join(parts)

    def _exists(self, name: Name) -> bool:
        n, L = self.net.layers, self.net.depth
        if name.kind in ("x", "y", "yhat"):
            count = n[0] if name.kind == "x" else n[L]
            return name.index == () if count == 1 else bool(name.index) and name.index[0] <= count
        if name.kind not in ("W", "b", "h", "a", "delta") or not 1 <= name.layer <= L:
            return False
        if name.kind == "a" and name.layer == L:
            return False  # the output layer's activations are yhat
        if name.kind == "W":
            i, j = name.index
            return i <= n[name.layer - 1] and j <= n[name.layer]
        return name.index[0] <= n[name.layer]

    def _graph_symbol(self, name: Name) -> sp.Symbol | None:
        """The model's symbol for a name of a graph's (an alias resolved: ``out[2]`` for the prediction's
        ``yhat[2]``, ``z[1]`` for ``h1[1]``), or None when it has no such quantity."""
        g = self.net
        if name.kind in ("x", "y"):
            count = g.n_in if name.kind == "x" else g.n_out
            ok = name.index == () if count == 1 else bool(name.index) and name.index[0] <= count
            return symbol(name) if ok else None
        if name.kind == "delta":
            dense = g.dense(name.layer)
            return symbol(name) if dense is not None and name.index[0] <= g.widths[dense.name] else None
        if name.kind == "yhat":
            node = g.prediction
        else:
            node = g.resolve(name.node)
            if node in g.param:
                shape = g.param[node].shape
                fits = len(shape) == len(name.index) and all(1 <= v <= d for v, d in zip(name.index, shape))
                return symbol(name) if fits else None
        if node not in g.by_name or node == g.loss_node.name:
            return None
        count = g.widths[node]
        if not name.index:
            return unit(g, node, 1) if count == 1 and named_yhat(g, node) else None
        if len(name.index) != 1 or name.index[0] > count:
            return None
        return unit(g, node, name.index[0])

    def _augmented_bias(self, name: Name) -> sp.Symbol | None:
        # the first article's W⁽ᵏ⁾_{n+1,j}: the bias as the weight of a constant input 1
        if self.net.bias != "augmented" or name.kind != "W" or not 1 <= name.layer <= self.net.depth:
            return None
        k, (i, j) = name.layer, name.index
        if i == self.net.layers[k - 1] + 1 and j <= self.net.layers[k]:
            return symbol(Name("b", k, (j,)))
        return None


def parse_claim(text: str, names: Names) -> sp.Expr:
    """The SymPy expression of a claim in the safe grammar, or an InputError saying what is wrong."""
    check_text(text)
    try:
        with warnings.catch_warnings():
            # "1if x1 else 2" warns on stderr before failing: the one line we print is enough
            warnings.simplefilter("ignore")
            # ^ is a power, as on paper: rewritten before Python reads it as XOR with XOR's precedence
            tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
    except SyntaxError as e:
        raise InputError(f"the claim is not a valid expression ({e.msg}); allowed: {_allowed()}") from None
    except (RecursionError, MemoryError, ValueError):
        raise InputError("the claim is too long or too deeply nested to read") from None
    try:
        expr = _Builder(names).build(tree.body)
    except InputError:
        raise
    except (TypeError, ValueError, ArithmeticError):
        # SymPy evaluates constant parts as it builds, and refuses a function of a non-real constant
        raise InputError("the claim is not a real number (a function of the square root or log of a negative "
                         "number)") from None
    except RecursionError:
        raise InputError("the claim is too deeply nested for SymPy to build") from None
    if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise InputError("the claim is undefined (it divides by zero or is infinite)")
    if expr.has(sp.I):
        raise InputError("the claim is not a real number (it takes the square root or log of a negative number)")
    return expr


class _ClaimPrinter(StrPrinter):
    """SymPy's text with the claim grammar's names, so that what the checker prints can be pasted back."""

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return f"step({self._print(expr.args[0])})"

    def _print_Abs(self, expr: sp.Abs) -> str:
        return f"abs({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        # where(c1, a, where(c2, b, c)): the form claims and --define formulas read
        *pieces, (last, cond) = expr.args
        out = self._print(last) if cond is sp.true else f"where({self._print(cond)}, {self._print(last)}, nan)"
        for piece, cond in reversed(pieces):
            out = f"where({self._print(cond)}, {self._print(piece)}, {out})"
        return out


def text(expr: sp.Expr) -> str:
    """An expression in the claim grammar, terms in their natural order (``yhat - y``)."""
    return _ClaimPrinter({"order": "none"}).doprint(expr)


def check_text(text: object) -> None:
    """What every claim must be before it is parsed (scalar or matrix): text, not empty, within
    ``MAX_CHARS`` characters and ``MAX_DEPTH`` levels of parentheses."""
    if not isinstance(text, str):
        raise InputError(f"a claim must be text, not {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise InputError(f"the claim is {len(text):,} characters long; at most {MAX_CHARS:,} are accepted")
    if not text.strip():
        raise InputError("the claim is empty")
    _check_nesting(text)


def _check_nesting(text: str) -> None:
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise InputError(f"the claim nests parentheses {deepest} deep; at most {MAX_DEPTH} levels are accepted")


class _Builder:
    """Builds SymPy from a whitelisted AST; chains of + and * are gathered without recursion."""

    def __init__(self, names: Names):
        self.names = names

    def build(self, node: ast.AST, depth: int = 0) -> sp.Expr:
        if depth > MAX_DEPTH:
            raise InputError(f"the claim is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            return sp.Add(*(self._signed(n, sign, depth) for n, sign in _chain(node, (ast.Add, ast.Sub))))
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
            factors = []
            for n, inverse in _chain(node, (ast.Mult, ast.Div)):
                f = self.build(n, depth + 1)
                factors.append(self._power(f, sp.Integer(-1)) if inverse else f)
            return sp.Mul(*factors)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return self._power(self.build(node.left, depth + 1), self.build(node.right, depth + 1))
        if isinstance(node, ast.BinOp):
            raise InputError(f"operator {_OPS.get(type(node.op), type(node.op).__name__)} is not allowed in a claim")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.build(node.operand, depth + 1)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Constant):
            return _number(node.value)
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        raise InputError(f"{_describe(node)} is not allowed in a claim; allowed: {_allowed()}")

    def _signed(self, node: ast.AST, negative: bool, depth: int) -> sp.Expr:
        term = self.build(node, depth + 1)
        return -term if negative else term

    def _name(self, ident: str) -> sp.Symbol:
        if ident.startswith("_"):
            raise InputError(f"name {ident!r} is not allowed in a claim (no underscore names)")
        if ident in claim_functions():
            raise InputError(f"{ident} is a function; call it, e.g. {ident}(h1[1])")
        return self.names[ident]

    def _subscript(self, node: ast.Subscript) -> sp.Symbol:
        if not isinstance(node.value, ast.Name):
            raise InputError(f"{_describe(node)} is not allowed in a claim; only names like W1[1,2] take indices")
        base = node.value.id
        if base.startswith("_"):
            raise InputError(f"name {base!r} is not allowed in a claim (no underscore names)")
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if not all(isinstance(p, ast.Constant) and type(p.value) is int and 0 < p.value < 10**6 for p in parts):
            raise InputError(f"the indices of {base}[...] must be whole numbers from 1, e.g. {base}[1] or W1[1,2]")
        return self.names[f"{base}[{','.join(str(p.value) for p in parts)}]"]

    def _call(self, node: ast.Call, depth: int) -> sp.Expr:
        if isinstance(node.func, ast.Attribute):
            raise InputError(f"attribute access (.) is not allowed in a claim; functions: {', '.join(claim_functions())}")
        if not isinstance(node.func, ast.Name):
            raise InputError(f"only the functions {', '.join(claim_functions())} can be called in a claim")
        fname = node.func.id
        if fname == "where":
            return self._where(node, depth)
        if fname not in claim_functions():
            raise InputError(f"function {fname!r} is not allowed in a claim; functions: {', '.join(claim_functions())}")
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise InputError(f"{fname}(...) takes exactly one argument")
        return claim_functions()[fname](self.build(node.args[0], depth + 1))

    def _where(self, node: ast.Call, depth: int) -> sp.Expr:
        if node.keywords or len(node.args) != 3:
            raise InputError("where(cond, a, b) takes a comparison and two values")
        cond = node.args[0]
        if not (isinstance(cond, ast.Compare) and len(cond.ops) == 1 and type(cond.ops[0]) in _COMPARE):
            raise InputError("the condition of where(cond, a, b) must be one comparison: < <= > >=")
        test = _COMPARE[type(cond.ops[0])](self.build(cond.left, depth + 1), self.build(cond.comparators[0], depth + 1))
        return sp.Piecewise((self.build(node.args[1], depth + 1), test), (self.build(node.args[2], depth + 1), True))

    @staticmethod
    def _power(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
        if not exponent.is_Rational:
            raise InputError(f"exponent {exponent} is not a number; write exp(...) for e to a power")
        p, q = exponent.p, exponent.q
        if abs(p) > MAX_EXPONENT or q > MAX_EXPONENT:
            raise InputError(f"exponent {_short(exponent)} is too large; exponents are at most {MAX_EXPONENT}")
        if base.is_Rational:
            # a number to a power is computed right away: bound the size of the result first
            if base == 0 and p < 0:
                raise InputError("the claim divides by zero")
            bits = max(abs(base.p).bit_length(), base.q.bit_length()) * abs(p) // q
            if bits > MAX_BITS:
                raise InputError(f"the number {_short(base)}**{_short(exponent)} is too large")
        return sp.Pow(base, exponent)


def _chain(node: ast.BinOp, ops: tuple[type, ...]) -> list[tuple[ast.AST, bool]]:
    """The operands of a left-associated chain a ± b ± c (or a */ b */ c), each with whether it is
    subtracted (divided); gathered with a loop, since a long sum is a deep tree."""
    out: list[tuple[ast.AST, bool]] = []
    while isinstance(node, ast.BinOp) and isinstance(node.op, ops):
        out.append((node.right, isinstance(node.op, (ast.Sub, ast.Div))))
        node = node.left
    out.append((node, False))
    return out[::-1]


def _number(value: object) -> sp.Expr:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        what = "text in quotes" if isinstance(value, (str, bytes)) else f"the constant {value!r}"
        raise InputError(f"{what} is not allowed in a claim; allowed: {_allowed()}")
    if isinstance(value, int):
        if len(str(value)) > MAX_DIGITS:
            raise InputError(f"a number in the claim has more than {MAX_DIGITS} digits")
        return sp.Integer(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise InputError("the claim contains a number too large to represent")
    # exact: 0.5 is 1/2, so that claims with decimals can still be proved symbolically
    return sp.Rational(repr(value))


_OPS = {ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<",
        ast.RShift: ">>"}

def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.UnaryOp):
        return {ast.Not: "not", ast.Invert: "~"}.get(type(node.op), "this operator")
    return NODE_WORDS.get(type(node), type(node).__name__)


def _short(n: sp.Expr) -> str:
    s = str(n)
    return s if len(s) <= 20 else f"{s[:8]}...({len(s)} digits)"


# -- LaTeX --------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?P<cmd>\\(?:[A-Za-z]+|[,;:! ]))|(?P<num>\d+(?:\.\d+)?|\.\d+)|(?P<space>\s+)|(?P<ch>.)",
    re.S,
)
_SKIP = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", ",", ";", ":", "!", " ",
         "quad", "qquad", "displaystyle"}
_ELEMENTARY_TEX = {"exp": "exp", "log": "log", "ln": "log", "sqrt": "sqrt"}


def _functions_tex() -> dict[str, str]:
    """LaTeX commands that are functions (\\sigma, \\tanh, \\exp) → their claim names."""
    commands = {cls.latex_name[1:]: (cls.claim_names or (cls.name,))[0] for cls in activations.ACTIVATION_CLASSES.values()
                if re.fullmatch(r"\\[A-Za-z]+", cls.latex_name)}
    return {**commands, **_ELEMENTARY_TEX}


def _named_tex() -> dict[str, str]:
    """Words inside \\operatorname{…} and the like → claim names (case-insensitive)."""
    words = {name.lower(): name for name in claim_functions()}
    for cls in activations.ACTIVATION_CLASSES.values():
        word = re.fullmatch(r"\\operatorname\{(\w+)\}", cls.latex_name)
        if word:
            words[word[1].lower()] = cls.name
    return {**words, "h": "heaviside"}
_OPERATORS_TEX = {"cdot": "*", "times": "*", "ast": "*"}
_FRAC = {"frac", "dfrac", "tfrac"}
_HATS = {"hat", "widehat"}
_FONTS = {"operatorname", "mathrm", "text", "textrm", "mathit", "rm"}


@dataclass
class _Tok:
    kind: str  # cmd | num | ch
    text: str


def latex_to_claim(tex: str, net: Network) -> str:
    """The claim grammar's text for a LaTeX expression, e.g. ``(\\hat{y}-y)\\sigma(h)(1-\\sigma(h))x_1``
    → ``(yhat-y)*sigma(h)*(1-sigma(h))*x1``.  Raises InputError for what it cannot read."""
    if not isinstance(tex, str):
        raise InputError(f"a LaTeX claim must be text, not {type(tex).__name__}")
    if len(tex) > MAX_CHARS:
        raise InputError(f"the LaTeX claim is {len(tex):,} characters long; at most {MAX_CHARS:,} are accepted")
    _check_nesting(tex)
    tex = tex.strip().strip("$").strip()
    tokens = [_Tok(m.lastgroup, m.group()) for m in _TOKEN.finditer(tex)
              if m.lastgroup != "space" and not (m.lastgroup == "cmd" and m.group()[1:] in _SKIP)]
    out = _TexReader(tokens, net).expression()
    if not out.strip():
        raise InputError("the LaTeX claim is empty")
    return out


def _nested(method: Callable[..., str]) -> Callable[..., str]:
    """One level of the reader's recursion: a group or an argument inside another, at most MAX_DEPTH
    deep — ``\\sqrt\\sqrt\\sqrt…`` and ``x^x^x…`` nest without a single brace."""

    @functools.wraps(method)
    def level(self: "_TexReader", *args: str) -> str:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise InputError(f"the LaTeX claim nests groups and arguments more than {MAX_DEPTH} levels deep")
            return method(self, *args)
        finally:
            self.depth -= 1

    return level


class _TexReader:
    """A small recursive reader: operands, operators and groups, emitted with explicit ``*``."""

    def __init__(self, tokens: list[_Tok], net: Network):
        self.toks, self.pos, self.net = tokens, 0, net
        self.depth = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise InputError("the LaTeX claim ends too early (an unclosed group or a missing argument)")
        self.pos += 1
        return tok

    @_nested
    def expression(self, until: str | None = None) -> str:
        """Read up to the closing ``until`` ('}' or ')') or the end; return claim text."""
        pieces: list[str] = []
        last = "start"  # start | operand | operator

        def emit(text: str, kind: str) -> None:
            nonlocal last
            if kind in ("operand", "open") and last == "operand":
                pieces.append("*")  # implicit multiplication: x_1 x_2, 2\sigma(h), (a)(b)
            pieces.append(text)
            last = "operand" if kind in ("operand", "open") else "operator"

        while True:
            tok = self.peek()
            if tok is None:
                if until is not None:
                    raise InputError(f"the LaTeX claim has an unclosed {'{' if until == '}' else '('}")
                return "".join(pieces)
            if tok.kind == "ch" and tok.text == until:
                self.pos += 1
                return "".join(pieces)
            if tok.kind == "ch" and tok.text in ")}]":
                raise InputError(f"the LaTeX claim has an unmatched {tok.text!r}")
            if tok.kind == "ch" and tok.text == "^":
                self.pos += 1
                if last != "operand":
                    raise InputError("the LaTeX claim has ^ with nothing before it")
                pieces.append(f"**({self.argument()})")
                continue
            self.pos += 1
            if tok.kind == "num":
                emit(tok.text, "operand")
            elif tok.kind == "ch" and tok.text in "+-/*":
                emit(tok.text, "operator")
            elif tok.kind == "ch" and tok.text in "([":
                emit(f"({self.expression(')' if tok.text == '(' else ']')})", "open")
            elif tok.kind == "ch" and tok.text == "{":
                emit(f"({self.expression('}')})", "open")
            elif tok.kind == "ch" and tok.text.isalpha():
                emit(self.letter(tok.text), "operand")
            elif tok.kind == "cmd":
                text, kind = self.command(tok.text[1:])
                emit(text, kind)
            elif tok.kind == "ch" and tok.text == "'":
                raise InputError("primes (\\sigma') are not supported; write the derivative out, "
                                 "e.g. \\sigma(h)(1-\\sigma(h))")
            else:
                raise InputError(f"the LaTeX claim contains {tok.text!r}, which a claim cannot use")

    @_nested
    def argument(self) -> str:
        """A group ``{...}`` or a single token, as claim text."""
        tok = self.take()
        if tok.kind == "ch" and tok.text == "{":
            return self.expression("}")
        if tok.kind == "num":
            # \frac12 means \frac{1}{2}: a bare digit string is one argument per digit
            if len(tok.text) > 1 and "." not in tok.text:
                self.toks.insert(self.pos, _Tok("num", tok.text[1:]))
                return tok.text[0]
            return tok.text
        if tok.kind == "ch" and tok.text.isalpha():
            return self.letter(tok.text)
        if tok.kind == "cmd":
            text, _ = self.command(tok.text[1:])
            return text
        raise InputError(f"the LaTeX claim has {tok.text!r} where an argument was expected")

    def raw_group(self) -> str:
        """The raw text of a sub- or superscript: ``{11}``, ``{(1)}``, ``1``."""
        tok = self.take()
        if not (tok.kind == "ch" and tok.text == "{"):
            return tok.text
        parts = []
        while (t := self.take()).text != "}":
            parts.append(t.text)
        return "".join(parts)

    def scripts(self) -> tuple[str | None, str | None, str | None]:
        """Subscript, layer superscript ``^{(k)}`` and a power superscript after a letter."""
        sub = layer = power = None
        while (tok := self.peek()) is not None and tok.kind == "ch" and tok.text in "_^":
            if tok.text == "_" and sub is None:
                self.pos += 1
                sub = self.raw_group().replace(" ", "")
            elif tok.text == "^" and layer is None and power is None:
                save = self.pos
                self.pos += 1
                raw = self.raw_group().replace(" ", "")
                m = re.fullmatch(r"\((\d+)\)", raw)
                if m:
                    layer = m.group(1)
                else:
                    self.pos = save + 1
                    power = self.argument()
            else:
                break
        return sub, layer, power

    def letter(self, ch: str, hat: bool = False) -> str:
        sub, layer, power = self.scripts()
        if ch == "e" and not hat and sub is None and layer is None and power is not None:
            return f"exp({power})"
        name = self.name(ch, sub, layer, hat)
        return f"{name}**({power})" if power is not None else name

    def name(self, ch: str, sub: str | None, layer: str | None, hat: bool) -> str:
        if hat:
            if ch != "y" or layer:
                raise InputError(f"\\hat{{{ch}}} is not a quantity; the prediction is \\hat{{y}} or \\hat{{y}}_j")
            return f"yhat[{sub}]" if sub else "yhat"
        if ch == "e" and sub is None and layer is None:
            return "exp(1)"
        if ch in ("x", "y", "m") and layer is None:
            return f"{ch}{sub}" if sub else ch
        if ch in ("W", "w", "b", "h", "a") and sub is not None:
            if layer is None:
                layer = self._default_layer(ch, sub)
            idx = sub
            if ch in "Ww":
                idx = sub if "," in sub else (",".join(sub) if len(sub) == 2 else None)
                if idx is None:
                    raise InputError(f"cannot split the index {sub!r} of W into i,j; write W^{{({layer})}}_{{i,j}}")
            return f"{ch.upper() if ch == 'w' else ch}{layer}[{idx}]"
        if ch == "h" and sub is None and layer is None:
            return "h"
        raise InputError(f"the LaTeX claim uses {ch!r}, which is not a quantity of the network; write x_1, y, "
                         f"\\hat{{y}}, W^{{(k)}}_{{ij}}, b^{{(k)}}_j, h^{{(k)}}_j or a^{{(k)}}_j")

    def _default_layer(self, ch: str, sub: str) -> str:
        # the first article writes h_1, h_2 for the one hidden layer and h for the output
        L = self.net.depth
        if ch in ("h", "a") and L <= 2:
            return "1"
        raise InputError(f"{ch}_{{{sub}}} needs its layer in this {L}-layer network: write {ch}^{{(k)}}_{{{sub}}}")

    def command(self, cmd: str) -> tuple[str, str]:
        if cmd in _OPERATORS_TEX:
            return _OPERATORS_TEX[cmd], "operator"
        if cmd in _FRAC:
            num, den = self.argument(), self.argument()
            return f"(({num})/({den}))", "open"
        if cmd == "sqrt":
            if (tok := self.peek()) is not None and tok.text == "[":
                self.pos += 1
                root = self.expression("]")
                return f"(({self.argument()})**(1/({root})))", "open"
            return f"sqrt({self.argument()})", "operand"
        if cmd in _HATS:
            tok = self.take()
            letter = self._hat_letter() if tok.text == "{" else tok.text
            return self.letter(letter, hat=True), "operand"
        if cmd in _functions_tex() or cmd in _FONTS:
            fname = _functions_tex().get(cmd) or self._named_function()
            return self.call(fname), "operand"
        if cmd == "delta":
            return self.delta(), "operand"
        if cmd == "partial":
            raise InputError("write only the right-hand side of the derivative (no \\partial) in --claim-latex")
        raise InputError(f"the LaTeX command \\{cmd} is not supported in a claim")

    def delta(self) -> str:
        """δ^{(k)}_j, the claim's delta{k}[j] = ∂E/∂h{k}[j]; the layer may be left out with one layer."""
        sub, layer, power = self.scripts()
        if layer is None and self.net.depth == 1:
            layer = "1"
        if sub is None or layer is None:
            raise InputError("write a delta with its layer and unit, as \\delta^{(k)}_j")
        name = f"delta{layer}[{sub}]"
        return f"{name}**({power})" if power is not None else name

    def _hat_letter(self) -> str:
        # after \hat{ : one letter, then }
        inner = self.take()
        if not (inner.kind == "ch" and inner.text.isalpha()) or self.take().text != "}":
            raise InputError("\\hat{...} takes one letter, as in \\hat{y}")
        return inner.text

    def _named_function(self) -> str:
        word = self.raw_group().replace(" ", "").replace("\\_", "_").lower()
        named = _named_tex()
        if word not in named:
            raise InputError(f"unknown function {word!r} in the LaTeX claim; functions: {', '.join(claim_functions())}")
        return named[word]

    def call(self, fname: str) -> str:
        powers = []
        while (tok := self.peek()) is not None and tok.kind == "ch" and tok.text == "^":
            # \sigma^2(h) is (σ(h))²
            self.pos += 1
            powers.append(self.argument())
        if tok is not None and tok.text == "'":
            raise InputError("primes (\\sigma') are not supported; write the derivative out, "
                             "e.g. \\sigma(h)(1-\\sigma(h))")
        if tok is None or tok.text not in "({[":
            raise InputError(f"\\{fname} needs its argument in parentheses, e.g. \\{fname}(h)")
        self.pos += 1
        closing = {"(": ")", "{": "}", "[": "]"}[tok.text]
        return f"{fname}({self.expression(closing)})" + "".join(f"**({p})" for p in reversed(powers))
