"""Plain-text names of the network's quantities and their SymPy symbols.

A symbol's name *is* its plain-text name from DESIGN.md (``W1[1,1]``, ``b2[3]``, ``h1[2]``, ``a1[2]``,
``yhat[1]``, ``x1``, ``y2``, and a graph's own nodes: ``add1[3]``, ``enc[2]``), so every printer can
recover the structured name from the symbol alone and parsing a user's name is the inverse of printing it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

_NAME = re.compile(
    r"^(?:(?P<stem>[A-Za-z][A-Za-z_]*?)(?P<layer>[1-9][0-9]*)?\[(?P<idx>[1-9][0-9]*(?:,[1-9][0-9]*)?)\]"
    r"|(?P<io>yhat|x|y|E)(?:(?P<ionum>[1-9][0-9]*)|\[(?P<iobr>[1-9][0-9]*)\])?)$"
)
#: a node's name: letters (and _), then its number if it has one (h2, add1, enc)
NODE_NAME = re.compile(r"^(?P<stem>[A-Za-z][A-Za-z_]*?)(?P<layer>[1-9][0-9]*)?$")
#: the stems of the layer list's quantities (a weight has two indices, every other one)
LAYERED = ("W", "b", "h", "a", "delta")


@dataclass(frozen=True)
class Name:
    """A structured name: ``kind`` is W b h a delta x y yhat E, or a graph node's stem (``add``, ``enc``)."""

    kind: str
    layer: int | None = None
    index: tuple[int, ...] = ()

    @classmethod
    def of_node(cls, node: str, index: tuple[int, ...]) -> "Name":
        """The name of entry ``index`` of a node or parameter array called ``node`` (``h2``, ``W1``, ``enc``)."""
        m = NODE_NAME.match(node)
        if not m:
            raise ValueError(f"{node!r} is not a node's name")
        return cls(m["stem"], int(m["layer"]) if m["layer"] else None, index)

    @property
    def node(self) -> str:
        """The node or array the entry belongs to: ``h2`` of ``h2[1]``."""
        return f"{self.kind}{self.layer if self.layer is not None else ''}"

    def __str__(self) -> str:
        if self.kind == "yhat":
            return f"yhat[{self.index[0]}]" if self.index else "yhat"
        if self.kind in ("x", "y"):
            return f"{self.kind}{self.index[0]}" if self.index else self.kind
        if self.index:
            return f"{self.node}[{','.join(map(str, self.index))}]"
        return self.kind


def parse_name(text: str) -> Name | None:
    """Parse ``W1[1,1]``, ``b2[3]``, ``h1[2]``, ``a1[2]``, ``add1[2]``, ``x1``, ``y``, ``yhat[2]``; None if
    not a name."""
    m = _NAME.match(text.replace(" ", ""))
    if not m:
        return None
    if m["stem"]:
        idx = tuple(int(i) for i in m["idx"].split(","))
        kind = m["stem"]
        if (kind == "W") != (len(idx) == 2):
            return None
        layer = int(m["layer"]) if m["layer"] else None
        if kind in LAYERED and layer is None:
            return None
        if kind in ("x", "y", "E"):
            return Name(kind, None, idx) if kind != "E" and layer is None and len(idx) == 1 else None
        return Name(kind, layer, idx)
    num = m["ionum"] or m["iobr"]
    if m["io"] == "E":
        return None if num else Name("E")
    return Name(m["io"], None, (int(num),) if num else ())


def symbol(name: Name | str) -> sp.Symbol:
    """The SymPy symbol for a name; every quantity of a network is real."""
    return sp.Symbol(str(name), real=True)


#: the error of one sample (the cost of a batch is its mean over the samples)
E = sp.Symbol("E", real=True)
