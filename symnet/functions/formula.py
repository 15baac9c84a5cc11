"""Your own activations and losses, written as formulas: ``swish(x) = x*sigmoid(x)``.

A definition ``name(x) = formula`` is an activation, ``name(yhat, y) = formula`` a loss term
ℓ(ŷⱼ, yⱼ) (any two argument names: the first is the prediction, the second the target), summed over
the outputs and averaged over the batch like the built-in losses.  ``name = formula`` is an activation
of ``x``.  A formula is user input, so it is never evaluated as Python: :func:`parse_formula` walks the
syntax tree of ``ast.parse(text, mode="eval")`` and builds SymPy objects itself, allowing only numbers
(decimals are exact: 0.5 is 1/2), ``pi``, the argument names, ``+ - * / **`` (``^`` is a power too),
unary minus, parentheses, calls of the registered activations by name, ``exp log sqrt abs`` and
``where(cond, a, b)`` with one comparison ``< <= > >=`` as its condition (a ``Piecewise``).  Everything
else is a :class:`FormulaError` (exit status 2, one line).

A defined activation is an :class:`~symnet.functions.activations.Activation` subclass registered like
the built-ins, so its lemma, write-up, kernel helper, gradient check and claims take their path; a
defined loss is a registered :class:`~symnet.functions.losses.Loss` with ``unit_interval`` and
``one_hot`` False (a loss on real targets, as ``mse``).  Registration is process-global and idempotent:
defining the same formula again is a no-op, a different one under a registered name is refused.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import sympy as sp

from symnet.errors import InputError
from symnet.functions import activations, losses

MAX_CHARS = 1_000  # of one formula
MAX_NODES = 400  # syntax-tree nodes of one formula
MAX_DEPTH = 40  # nesting of parentheses and calls
MAX_EXPONENT = 100  # |p| and q of a numeric exponent p/q
MAX_DIGITS = 30  # of one numeric literal

#: names a definition may not take: the formula functions, constants and the special activations
RESERVED = ("exp", "log", "sqrt", "abs", "where", "pi", "e", "step", "heaviside", "sigma", "E", "m",
            activations.IDENTITY, activations.SOFTMAX)

#: the two arguments of a loss term, as every defined loss's expression holds them
YHAT = sp.Symbol("yhat_", real=True)
Y = sp.Symbol("y_", real=True)

_ELEMENTARY: dict[str, Callable[[sp.Expr], sp.Expr]] = {"exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt,
                                                         "abs": sp.Abs}
_COMPARE = {ast.Lt: sp.StrictLessThan, ast.LtE: sp.LessThan, ast.Gt: sp.StrictGreaterThan,
            ast.GtE: sp.GreaterThan}
#: how a refusal names the Python constructs no whitelist here allows (formulas, scalar and matrix claims)
NODE_WORDS = {
    ast.Attribute: "attribute access (.)", ast.Lambda: "lambda", ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension", ast.DictComp: "a dict comprehension", ast.GeneratorExp: "a generator",
    ast.BoolOp: "and/or", ast.IfExp: "if/else", ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict",
    ast.Set: "a set", ast.JoinedStr: "an f-string", ast.NamedExpr: "assignment (:=)", ast.Starred: "*unpacking",
    ast.Await: "await", ast.Yield: "yield", ast.Subscript: "indexing ([])", ast.Slice: "a slice",
    ast.Compare: "a comparison",
}
_NODE_WORDS = NODE_WORDS | {ast.IfExp: "if/else (use where(cond, a, b))",
                            ast.Compare: "a comparison outside where(...)"}
_ALLOWED = ("numbers, pi, the arguments, + - * / ** (or ^), parentheses, the activations by name, "
            "exp, log, sqrt, abs and where(cond, a, b) with < <= > >=")
#: points where a defined function's derivative must be a finite real number (none at a kink at 0)
_X_SAMPLES = ("-3.7", "-2.1", "-1.3", "-0.6", "-0.35", "0.45", "0.8", "1.7", "2.9", "4.1")
_LOSS_SAMPLES = (("0.3", "0.7"), ("0.9", "0.1"), ("0.2", "0.25"), ("0.6", "0.55"), ("0.75", "0.05"),
                 ("0.45", "0.95"))


class FormulaError(InputError):
    """A definition that cannot be read, is unsafe, or does not define a differentiable function."""


@dataclass(frozen=True)
class Definition:
    """One parsed definition: ``name(params) = body``; ``expr`` is in ``x`` (an activation) or in
    :data:`YHAT` and :data:`Y` (a loss term)."""

    name: str
    params: tuple[str, ...]
    body: str
    expr: sp.Expr

    @property
    def is_loss(self) -> bool:
        return len(self.params) == 2

    @property
    def source(self) -> str:
        return f"{self.name}({', '.join(self.params)}) = {self.body}"


#: every definition registered in this process, by name
DEFINED: dict[str, Definition] = {}


# -- reading ---------------------------------------------------------------------------------------
_SPLIT = re.compile(r"\s*(?P<head>[^=<>!]*?)\s*=(?!=)\s*(?P<body>.*)\Z", re.S)
_HEAD = re.compile(r"(?P<name>[A-Za-z]\w*)\s*(?:\(\s*(?P<params>[^()]*?)\s*\))?\Z")


def split_definition(text: str) -> tuple[str, tuple[str, ...], str]:
    """``'huber(yhat, y) = …'`` → ``('huber', ('yhat', 'y'), '…')``; ``'swish = …'`` has the parameter x."""
    if not isinstance(text, str):
        raise FormulaError(f"a definition must be text, not {type(text).__name__}")
    m = _SPLIT.match(text)
    if not m:
        raise FormulaError(f"cannot read the definition {_clip(text)!r}: write NAME(x) = FORMULA for an activation "
                           f"or NAME(yhat, y) = FORMULA for a loss")
    return (*split_head(m["head"]), m["body"].strip())


def split_head(head: str) -> tuple[str, tuple[str, ...]]:
    """``'huber(yhat, y)'`` → ``('huber', ('yhat', 'y'))``; a bare name is an activation of x."""
    m = _HEAD.fullmatch(head.strip())
    if not m:
        raise FormulaError(f"cannot read {_clip(head)!r} as NAME(x) or NAME(yhat, y): a name starts with a letter "
                           f"and has letters, digits and _")
    params = tuple(p.strip() for p in m["params"].split(",")) if m["params"] is not None else ("x",)
    if not 1 <= len(params) <= 2 or not all(re.fullmatch(r"[A-Za-z]\w*", p) for p in params):
        raise FormulaError(f"{m['name']}: the arguments must be one name (an activation, e.g. x) or two (a loss, "
                           f"prediction then target, e.g. yhat, y); got ({m['params']})")
    if len(set(params)) != len(params):
        raise FormulaError(f"{m['name']}: the arguments {', '.join(params)} repeat a name")
    return m["name"], params


def parse_formula(text: str, symbols: Mapping[str, sp.Expr], functions: Mapping[str, Callable[..., sp.Expr]],
                  *, what: str = "the formula", pending: Mapping[str, str] | None = None) -> sp.Expr:
    """The SymPy expression of ``text``, built from the whitelist: ``symbols`` by name, ``functions`` and the
    elementary functions by name, ``where``.  ``pending`` maps names not usable here to the reason (the
    definition itself: recursion; a later definition)."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError(f"{what} is empty")
    if len(text) > MAX_CHARS:
        raise FormulaError(f"{what} is {len(text):,} characters long; at most {MAX_CHARS:,} are accepted")
    if "__" in text:
        raise FormulaError(f"{what} contains '__', which a formula cannot use; allowed: {_ALLOWED}")
    try:
        # ^ is a power, as in mathematics (and binds like **, not like Python's xor)
        tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise FormulaError(f"{what} is not a formula: {_clip(text)!r}; allowed: {_ALLOWED}") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise FormulaError(f"{what} has {nodes} terms and operators; at most {MAX_NODES} are accepted")
    return _Reader(symbols, functions, what, pending or {}).read(tree.body, 0)


class _Reader:
    def __init__(self, symbols, functions, what, pending):
        self.symbols, self.functions, self.what, self.pending = symbols, functions, what, pending

    def fail(self, message: str) -> FormulaError:
        return FormulaError(f"{self.what}: {message}")

    def read(self, node: ast.AST, depth: int) -> sp.Expr:
        if depth > MAX_DEPTH:
            raise self.fail(f"nests more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.BinOp):
            a, b = self.read(node.left, depth + 1), self.read(node.right, depth + 1)
            op = type(node.op)
            if op is ast.Add:
                return a + b
            if op is ast.Sub:
                return a - b
            if op is ast.Mult:
                return a * b
            if op is ast.Div:
                return a / b
            if op is ast.Pow:
                if b.is_number and (not b.is_Rational or abs(b.p) > MAX_EXPONENT or b.q > MAX_EXPONENT):
                    raise self.fail(f"the exponent {b} is not a fraction p/q with |p|, q <= {MAX_EXPONENT}")
                return a ** b
            raise self.fail(f"the operator {type(node.op).__name__} is not allowed; allowed: {_ALLOWED}")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.read(node.operand, depth + 1)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Constant):
            return self.number(node.value)
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.fail(f"{_NODE_WORDS.get(type(node), type(node).__name__)} is not allowed; allowed: {_ALLOWED}")

    def number(self, value: object) -> sp.Expr:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "text in quotes" if isinstance(value, (str, bytes)) else f"the constant {value!r}"
            raise self.fail(f"{kind} is not allowed; allowed: {_ALLOWED}")
        if isinstance(value, int):
            if len(str(value)) > MAX_DIGITS:
                raise self.fail(f"a number has more than {MAX_DIGITS} digits")
            return sp.Integer(value)
        if value != value or value in (float("inf"), float("-inf")) or len(repr(value)) > MAX_DIGITS + 8:
            raise self.fail("a number is too large or too long")
        return sp.Rational(repr(value))  # exact, so that the lemmas can be proved

    def name(self, name: str) -> sp.Expr:
        if name in self.symbols:
            return self.symbols[name]
        if name == "pi":
            return sp.pi
        if name in self.pending:
            raise self.fail(self.pending[name])
        if name in self.functions or name in _ELEMENTARY or name == "where":
            raise self.fail(f"{name} is a function: call it, e.g. {name}(x)")
        raise self.fail(f"unknown name {name!r}; the arguments are {', '.join(self.symbols)}")

    def call(self, node: ast.Call, depth: int) -> sp.Expr:
        if not isinstance(node.func, ast.Name):
            raise self.fail(f"only named functions can be called; allowed: {_ALLOWED}")
        fname = node.func.id
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(f"{fname}(...) takes plain arguments only")
        if fname in self.pending:
            raise self.fail(self.pending[fname])
        if fname == "where":
            if len(node.args) != 3:
                raise self.fail("where takes three arguments: where(cond, a, b)")
            cond = self.condition(node.args[0], depth + 1)
            a, b = (self.read(arg, depth + 1) for arg in node.args[1:])
            return sp.Piecewise((a, cond), (b, True))
        f = self.functions.get(fname) or _ELEMENTARY.get(fname)
        if f is None:
            raise self.fail(f"unknown function {fname!r}; functions: "
                            f"{', '.join([*self.functions, *_ELEMENTARY, 'where'])}")
        if len(node.args) != 1:
            raise self.fail(f"{fname} takes one argument, got {len(node.args)}")
        return f(self.read(node.args[0], depth + 1))

    def condition(self, node: ast.AST, depth: int) -> sp.Basic:
        if not isinstance(node, ast.Compare) or len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
            raise self.fail("the condition of where must be one comparison a < b, a <= b, a > b or a >= b")
        return _COMPARE[type(node.ops[0])](self.read(node.left, depth), self.read(node.comparators[0], depth))


def _clip(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


# -- defining --------------------------------------------------------------------------------------
def _builtin_names() -> set[str]:
    taken = set(RESERVED) | set(losses.LOSSES) | set(activations.ACTIVATION_CLASSES)
    return taken - set(DEFINED)


def define(texts: Iterable[str] | Mapping[str, str]) -> list[Definition]:
    """Parse and register definitions in order (a later one may use an earlier one).  ``texts``: strings
    ``'name(args) = formula'``, or a mapping (a TOML ``[define]`` table) from ``name`` or ``'name(args)'`` to
    the formula.  Raises :class:`FormulaError` (an InputError) for the first bad one."""
    if isinstance(texts, Mapping):
        items = []
        for head, body in texts.items():
            if not isinstance(body, str):
                raise FormulaError(f"[define] {head}: the formula must be a string, not {body!r}")
            items.append((*split_head(head), body.strip()))
    else:
        items = [split_definition(t) for t in texts]
    heads = [name for name, _, _ in items]
    done = []
    for k, (name, params, body) in enumerate(items):
        pending = {later: f"{later} is defined after {name}; define it first" for later in heads[k + 1:]}
        pending[name] = f"{name} names itself; a definition cannot be recursive"
        done.append(_register(_parse(name, params, body, pending)))
    return done


def _parse(name: str, params: tuple[str, ...], body: str, pending: Mapping[str, str]) -> Definition:
    if name in _builtin_names() or name.lower() in (activations.IDENTITY, activations.SOFTMAX):
        raise FormulaError(f"{name} is a built-in name; choose another name for your definition")
    clash = [p for p in params if p in _builtin_names() or p in activations.claim_functions() or p in DEFINED]
    if clash:
        raise FormulaError(f"{name}: the argument name {clash[0]!r} is a function; choose another")
    canonical = (activations.x,) if len(params) == 1 else (YHAT, Y)
    what = f"the definition of {name}"
    functions = {n: cls for n, cls in activations.claim_functions().items() if n not in pending}
    expr = parse_formula(body, dict(zip(params, canonical)), functions, what=what, pending=pending)
    if isinstance(expr, sp.Piecewise) or expr.has(sp.Piecewise):
        expr = sp.piecewise_fold(expr)
    if not expr.free_symbols <= set(canonical) or not expr.free_symbols:
        raise FormulaError(f"{what} does not depend on its argument{'s' if len(params) > 1 else ''} "
                           f"{', '.join(params)}")
    if len(params) == 2 and YHAT not in expr.free_symbols:
        raise FormulaError(f"{what} does not depend on the prediction {params[0]}: nothing to learn from it")
    definition = Definition(name, params, body, expr)
    _check_differentiable(definition)
    return definition


def _check_differentiable(d: Definition) -> None:
    """The function and its derivative (∂ℓ/∂ŷ for a loss) are finite real numbers at sampled points, and
    the derivative is not 0 at all of them."""
    if d.is_loss:
        points = [{YHAT: sp.Rational(p), Y: sp.Rational(t)} for p, t in _LOSS_SAMPLES]
        wrt, where = YHAT, lambda pt: f"{d.params[0]} = {float(pt[YHAT]):g}, {d.params[1]} = {float(pt[Y]):g}"
    else:
        points = [{activations.x: sp.Rational(v)} for v in _X_SAMPLES]
        wrt, where = activations.x, lambda pt: f"{d.params[0]} = {float(pt[activations.x]):g}"
    what = f"the definition of {d.name}"
    try:
        derivative = sp.diff(d.expr, wrt)
    except Exception as e:  # noqa: BLE001 - SymPy's own failures, as one line
        raise FormulaError(f"{what}: SymPy cannot differentiate it ({type(e).__name__})") from None
    nonzero = False
    for pt in points:
        for label, expr in (("its value", d.expr), ("its derivative", derivative)):
            try:
                v = sp.N(expr.xreplace(pt), 20)
            except Exception:  # noqa: BLE001
                v = sp.nan
            if not (v.is_number and v.is_finite and v.is_real):
                raise FormulaError(f"{what}: {label} is not a finite real number at {where(pt)}")
            if label == "its derivative" and v != 0:
                nonzero = True
    if not nonzero:
        raise FormulaError(f"{what}: its derivative is 0 at every sampled point, so no gradient flows through it")


def _register(d: Definition) -> Definition:
    old = DEFINED.get(d.name)
    if old is not None:
        if len(old.params) == len(d.params) and sp.simplify(old.expr - d.expr) == 0:
            return old
        raise FormulaError(f"{d.name} is already defined as {old.source}; a different definition needs another name")
    if d.is_loss:
        expr = d.expr
        losses.register(losses.Loss(d.name, lambda p, t, at: expr.xreplace({YHAT: p, Y: t}), f"the loss {d.name}"))
    else:
        activations.register(_activation_class(d))
    DEFINED[d.name] = d
    return d


def _activation_class(d: Definition) -> type[activations.Activation]:
    expr = d.expr

    def definition(cls, arg: sp.Expr) -> sp.Expr:
        return expr.xreplace({activations.x: arg})

    def kinked(cls) -> bool:
        inner = activations.expand_definitions(expr)
        return isinstance(expr, sp.Piecewise) or inner.has(sp.Piecewise, sp.Abs, sp.Heaviside, sp.Max, sp.Min)

    namespace = {"name": d.name, "latex_name": rf"\operatorname{{{d.name.replace('_', chr(92) + '_')}}}",
                 "glyph": d.name, "source": d.source, "defined": True,
                 "definition": classmethod(definition), "kinked": classmethod(kinked)}
    return type(f"Defined_{d.name}", (activations.Activation,), namespace)


def undefine(*names: str) -> None:
    """Forget definitions (tests): the registries lose them and the lemma cache is cleared."""
    for name in names or tuple(DEFINED):
        d = DEFINED.pop(name, None)
        if d is None:
            continue
        (losses.LOSSES if d.is_loss else activations.ACTIVATION_CLASSES).pop(name, None)
    activations.lemma.cache_clear()


def sources(names: Iterable[str]) -> dict[str, str]:
    """The ``[define]`` table entries (``'name(args)'`` → formula) of the defined functions among ``names``."""
    out = {}
    for name in names:
        d = DEFINED.get(name)
        if d is not None:
            out[f"{d.name}({', '.join(d.params)})"] = d.body
    return out
