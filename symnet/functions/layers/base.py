"""What a layer kind is: one forward definition, from which every other stage derives the rest.

A kind (dense, an element-wise activation, softmax, a sum of two nodes, a concatenation, a loss) states

* its **options** (``units``, ``bias=false``, ``W=W1.T``, ``T=2.0``) and the **width** of its output;
* its **parameters** (names, shapes, the L2 decay's reach), numbered with the layer where it owns them;
* its **forward definition**, twice over: per unit for a concrete network (the scalar form, one SymPy
  expression per output unit, in the order the articles write it) and per entry j for any width (the index
  form: ``Sum(W[i, j]*a[i], (i, 1, n)) + b[j]``), as *segments* of its output (a concatenation has one per
  input, every other kind one);
* how a derivative is written back in its own outputs (σ(h) as a, e^{hⱼ}/Σ e^{hₗ} as ŷⱼ): notation, so
  that σ′ reads a(1 − a).

Nothing else: local derivatives, pullbacks, deltas, the layer and matrix forms are derived from the
forward definition by :mod:`symnet.derivation` (the seam of autograd's ``defvjp`` and PyTensor's
``Op.pullback``, with SymPy differentiating instead of a person typing the derivative).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import sympy as sp

from symnet.errors import InputError
from symnet.functions.options import Option


class LayerError(InputError):
    """A node that its kind cannot build: a bad option, width or number of inputs."""


@dataclass(frozen=True)
class Tie:
    """``W=W1.T``: a dense layer's weight is another dense layer's (``transposed``: its transpose)."""

    param: str
    transposed: bool

    def __str__(self) -> str:
        return self.param + (".T" if self.transposed else "")


@dataclass(frozen=True)
class Node:
    """One node of the graph: its ``name`` (the quantity's: ``h2``, ``a1``, ``yhat``), the ``kind`` it was
    called by (``dense``, ``relu``), the names of its ``inputs`` (``x`` for the network's input, ``y`` for
    the target), its options with the defaults filled in, and its layer ``number`` (k of W{k}, b{k})
    where the kind owns parameters."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    options: tuple[tuple[str, object], ...] = ()
    number: int | None = None

    def option(self, name: str) -> object:
        return dict(self.options)[name]


@dataclass(frozen=True)
class Param:
    """A parameter array a node owns: ``W2`` (role W) of shape (8, 3); ``decayed``: under L2 decay."""

    name: str
    role: str
    shape: tuple[int, ...]
    decayed: bool
    #: the scheme's fan-in and fan-out (symnet.functions.initialisation); None: every entry ``fill``
    fan: tuple[int, int] | None = None
    fill: float = 0.0


@dataclass(frozen=True)
class Segment:
    """A block of a node's output: entries ``offset + 1 … offset + extent`` are ``value(j)`` for j = 1 … extent."""

    offset: sp.Expr
    extent: sp.Expr
    value: sp.Expr
    index: sp.Symbol


class Transposed:
    """An array read transposed: ``Transposed(W1)[i, j]`` is ``W1[j, i]`` (a tied decoder's weight)."""

    def __init__(self, base: sp.IndexedBase):
        self.base = base

    def __getitem__(self, idx: tuple) -> sp.Indexed:
        i, j = idx
        return self.base[j, i]


def transpose_rows(rows: Sequence[Sequence[sp.Expr]]) -> list[list[sp.Expr]]:
    """A matrix given as rows, transposed (the scalar form of a tied weight)."""
    return [list(col) for col in zip(*rows)]


class Layer:
    """A kind of node.  Subclasses set the class attributes and implement the forward definitions."""

    #: the name a spec calls it by
    name: ClassVar[str] = ""
    #: how many inputs it takes (None: two or more)
    arity: ClassVar[int | None] = 1
    #: its keywords; a kind's first keyword may also be given positionally after the inputs (``dense(x, 8)``)
    options: ClassVar[tuple[Option, ...]] = ()
    #: the family whose count numbers it, when it owns parameters named with its number (dense layers are
    #: "layer": W{k}, b{k}; a kind of another family is counted on its own), else None
    numbered: ClassVar[str | None] = None
    #: the stem of its output's name when the spec gives it none (``h`` for dense: h{k}), numbered per kind
    stem: ClassVar[str] = ""
    #: what it is, in prose
    title: ClassVar[str] = ""
    #: whether it is a loss (the graph's last node, whose value is E)
    is_loss: ClassVar[bool] = False
    #: whether its output is a function of each input entry alone (an activation: f(hⱼ) reads hⱼ only)
    elementwise: ClassVar[bool] = False
    #: positional options (after the inputs), in order
    positional: ClassVar[tuple[str, ...]] = ()
    #: how a figure draws it: an operation's sign (+), or None for a node drawn as its values
    sign: ClassVar[str | None] = None
    #: what its backward pass teaches, in words (the write-up prints the formulas from the derivation)
    lesson: ClassVar[str] = ""

    def width(self, node: Node, widths: Sequence[int]) -> int:
        """The output's number of units, given the inputs' (raises LayerError when they do not fit)."""
        return widths[0]

    def parameters(self, node: Node, widths: Sequence[int]) -> list[Param]:
        """The parameter arrays the node owns (a tied weight is the other layer's)."""
        return []

    def reads(self, node: Node) -> dict[str, str | Tie]:
        """The parameters the forward definition reads, by role: its own by name, or a tie."""
        return {p.role: p.name for p in self.parameters(node, (1,) * max(1, len(node.inputs)))}

    def scalar(self, node: Node, inputs: Sequence[Sequence[sp.Expr]],
               params: dict[str, list]) -> list[sp.Expr]:
        """Each output unit's definition in the inputs' units and the parameters' symbols (W as rows)."""
        raise NotImplementedError

    def segments(self, node: Node, inputs: Sequence[sp.IndexedBase], params: dict[str, object],
                 widths: Sequence[sp.Expr], j: sp.Symbol) -> list[Segment]:
        """The output entry j for any widths, as segments (one, but for a concatenation)."""
        return [Segment(sp.S.Zero, self.width_expr(node, widths), self.indexed(node, inputs, params, widths, j), j)]

    def indexed(self, node: Node, inputs: Sequence[sp.IndexedBase], params: dict[str, object],
                widths: Sequence[sp.Expr], j: sp.Symbol) -> sp.Expr:
        raise NotImplementedError

    def width_expr(self, node: Node, widths: Sequence[sp.Expr]) -> sp.Expr:
        """The output's width in symbols (n_k), for the index form."""
        return widths[0]

    def equal_widths(self, node: Node, widths: Sequence[sp.Expr]) -> list[tuple[sp.Expr, sp.Expr]]:
        """The pairs of the inputs' widths (in symbols) that the kind makes one: none unless it needs equal ones."""
        return []

    def named(self, expr: sp.Expr, node: Node, inputs: Sequence[sp.IndexedBase], out: sp.IndexedBase,
              widths: Sequence[sp.Expr]) -> sp.Expr:
        """``expr`` with the node's definition written as its output where it occurs (index form)."""
        return expr

    def named_scalar(self, expr: sp.Expr, definitions: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
        """``expr`` with the node's per-unit definitions written as its output symbols (scalar form)."""
        return expr.xreplace({d: s for s, d in definitions.items() if not d.is_Atom})

    def defaults(self) -> dict[str, object]:
        """Each option's default, by name."""
        return {o.name: o.default for o in self.options}

    def describe(self, node: Node) -> str:
        """The node as a spec writes it, without its inputs' own definitions: ``dense(a1, 8, bias=false)``."""
        defaults = self.defaults()
        shown = [str(v) for k, v in node.options if k in self.positional]
        shown += [f"{k}={_text(v)}" for k, v in node.options if k not in self.positional and v != defaults.get(k)]
        return f"{node.kind}({', '.join([*node.inputs, *shown])})"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


#: the kinds that are neither an activation nor a loss, by name
KINDS: dict[str, Layer] = {}


def register(kind: Layer) -> Layer:
    """Make a layer kind known to every stage (spec, derivation, write-up, kernels, claims)."""
    if not kind.name.isidentifier() or kind.name in KINDS:
        raise ValueError(f"layer kind name {kind.name!r} is not a new identifier")
    KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Forget a kind (tests that add one at run time)."""
    KINDS.pop(name, None)
