"""Reading one node of a graph spec — ``relu(dense(a1, 8) + a1)`` — by a whitelist, never as Python.

:func:`parse_node` walks the syntax tree of ``ast.parse(text, mode="eval")`` and builds a small tree of
its own: a :class:`Ref` to a node by name, or an :class:`Apply` of a kind to its arguments, with ``N + M``
as the kind ``add``.  Allowed: names, calls of a name with plain arguments (nodes, whole numbers,
decimals) and keywords (``bias=false``, ``T=2.0``, ``W=W1.T``), and ``+``.  Everything else — other
operators, attributes (but ``.T`` in ``W=``), strings, subscripts, lambdas — is one :class:`GraphError`
naming the node and what to write instead.  Sizes are bounded before any work: the text's length, its
syntax tree's size and nesting.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

from symnet.functions.formula import NODE_WORDS
from symnet.functions.layers import ADD, Tie
from symnet.spec.errors import GraphError

MAX_CHARS = 1_000  # of one node's expression
MAX_TERMS = 200  # syntax-tree nodes of one expression
MAX_DEPTH = 32  # nesting of calls
_BOOLEANS = {"true": True, "false": False, "True": True, "False": False}
_ALLOWED = ("node names, kind calls such as dense(a1, 8) or relu(...), keywords such as bias=false, T=2.0 or "
            "W=W1.T, and + between two nodes")


@dataclass(frozen=True)
class Ref:
    """A node named in an expression (``a1``, ``x``, ``y``)."""

    name: str


@dataclass(frozen=True)
class Apply:
    """A kind applied to arguments: nodes (Ref or Apply) and option values, positional then by keyword."""

    kind: str
    args: tuple = ()
    keywords: tuple[tuple[str, object], ...] = field(default=())


def parse_node(text: object, key: str) -> Ref | Apply:
    """The tree of node ``key``'s expression ``text``."""
    what = f"node {key}"
    if not isinstance(text, str):
        raise GraphError(f"{what}: its definition must be a string such as \"relu(dense(x, 8))\", not {text!r}")
    if not text.strip():
        raise GraphError(f"{what} is empty; write what it computes, e.g. \"relu(dense(x, 8))\"")
    if len(text) > MAX_CHARS:
        raise GraphError(f"{what} is {len(text):,} characters long; at most {MAX_CHARS:,} are accepted "
                         f"(name parts of it as nodes of their own)")
    if "__" in text:
        raise GraphError(f"{what} contains '__', which a node cannot use; allowed: {_ALLOWED}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise GraphError(f"{what} is not a node expression: {_clip(text)!r}; allowed: {_ALLOWED}") from None
    terms = sum(1 for _ in ast.walk(tree))
    if terms > MAX_TERMS:
        raise GraphError(f"{what} has {terms} terms; at most {MAX_TERMS} are accepted (name parts of it as nodes of "
                         f"their own)")
    return _Reader(what).node(tree.body, 0)


class _Reader:
    def __init__(self, what: str):
        self.what = what

    def fail(self, message: str) -> GraphError:
        return GraphError(f"{self.what}: {message}")

    def node(self, tree: ast.AST, depth: int) -> Ref | Apply:
        if depth > MAX_DEPTH:
            raise self.fail(f"nests more than {MAX_DEPTH} calls deep; name parts of it as nodes of their own")
        if isinstance(tree, ast.Name):
            if tree.id in _BOOLEANS:
                raise self.fail(f"{tree.id} is a value, not a node")
            return Ref(tree.id)
        if isinstance(tree, ast.BinOp):
            if not isinstance(tree.op, ast.Add):
                raise self.fail(f"the operator {_operator(tree.op)} is not allowed: + adds two nodes (a skip "
                                f"connection), every other operation is a kind, e.g. dense(...) or relu(...)")
            return Apply(ADD.name, (self.node(tree.left, depth + 1), self.node(tree.right, depth + 1)))
        if isinstance(tree, ast.Call):
            return self.call(tree, depth)
        if isinstance(tree, ast.Constant):
            raise self.fail(f"{tree.value!r} is a value where a node belongs; a node is x, an earlier node or a call "
                            f"such as dense(x, 8)")
        raise self.fail(f"{NODE_WORDS.get(type(tree), type(tree).__name__)} is not allowed; allowed: {_ALLOWED}")

    def call(self, tree: ast.Call, depth: int) -> Apply:
        if not isinstance(tree.func, ast.Name):
            raise self.fail(f"only a kind can be called by its name, e.g. dense(x, 8); allowed: {_ALLOWED}")
        kind = tree.func.id
        if any(isinstance(a, ast.Starred) for a in tree.args) or any(k.arg is None for k in tree.keywords):
            raise self.fail(f"{kind}(...) takes plain arguments only")
        args = tuple(self.argument(a, depth + 1) for a in tree.args)
        keywords = tuple((k.arg, self.value(k.value, k.arg)) for k in tree.keywords)
        return Apply(kind, args, keywords)

    def argument(self, tree: ast.AST, depth: int) -> object:
        """A node, or a positional option's value (a number)."""
        if isinstance(tree, ast.Constant) or (isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.USub)):
            return self.value(tree, "a positional option")
        return self.node(tree, depth)

    def value(self, tree: ast.AST, name: str) -> object:
        """An option's value: a number, true or false, a word (``'sum'``), or a weight (``W1``, ``W1.T``)."""
        negative = isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.USub)
        inner = tree.operand if negative else tree
        if isinstance(inner, ast.Constant) and isinstance(inner.value, str) and not negative:
            if not inner.value.isidentifier() or len(inner.value) > 30:
                raise self.fail(f"{name}={_clip(repr(inner.value))}: a word option's value is a short word, "
                                f"such as reduction='sum'")
            return inner.value
        if isinstance(inner, ast.Constant):
            v = inner.value
            if isinstance(v, bool) or not isinstance(v, (int, float)) or negative and isinstance(v, bool):
                raise self.fail(f"{name}={v!r}: an option's value is a number, true, false, a word in quotes or a weight such as W1.T")
            if isinstance(v, int) and len(str(v)) > 30:
                raise self.fail(f"{name}: the number has more than 30 digits")
            return -v if negative else v
        if negative:
            raise self.fail(f"{name}: only a number can be negative")
        if isinstance(tree, ast.Name):
            if tree.id in _BOOLEANS:
                return _BOOLEANS[tree.id]
            return Tie(tree.id, False)
        if isinstance(tree, ast.Attribute) and isinstance(tree.value, ast.Name) and tree.attr == "T":
            return Tie(tree.value.id, True)
        raise self.fail(f"{name}: an option's value is a number, true, false or a weight such as W1 or W1.T")


def _operator(op: ast.operator) -> str:
    return {ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}.get(type(op), type(op).__name__)


def _clip(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."
