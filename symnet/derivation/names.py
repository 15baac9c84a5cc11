"""Plain-text names of the network's quantities and their SymPy symbols.

A symbol's name *is* its plain-text name from DESIGN.md (``W1[1,1]``, ``b2[3]``,
``h1[2]``, ``a1[2]``, ``yhat[1]``, ``x1``, ``y2``), so every printer can recover
the structured name from the symbol alone and parsing a user's name is the
inverse of printing it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

_NAME = re.compile(
    r"^(?:(?P<layered>[Wbha]|delta)(?P<layer>[1-9][0-9]*)\[(?P<idx>[1-9][0-9]*(?:,[1-9][0-9]*)?)\]"
    r"|(?P<io>yhat|x|y|E)(?:(?P<ionum>[1-9][0-9]*)|\[(?P<iobr>[1-9][0-9]*)\])?)$"
)


@dataclass(frozen=True)
class Name:
    """A structured name: ``kind`` is one of W b h a delta x y yhat E."""

    kind: str
    layer: int | None = None
    index: tuple[int, ...] = ()

    def __str__(self) -> str:
        if self.kind in ("W", "b", "h", "a", "delta"):
            return f"{self.kind}{self.layer}[{','.join(map(str, self.index))}]"
        if self.kind == "yhat":
            return f"yhat[{self.index[0]}]" if self.index else "yhat"
        if self.kind in ("x", "y"):
            return f"{self.kind}{self.index[0]}" if self.index else self.kind
        return self.kind


def parse_name(text: str) -> Name | None:
    """Parse ``W1[1,1]``, ``b2[3]``, ``h1[2]``, ``a1[2]``, ``x1``, ``y``, ``yhat[2]``; None if not a name."""
    m = _NAME.match(text.replace(" ", ""))
    if not m:
        return None
    if m["layered"]:
        idx = tuple(int(i) for i in m["idx"].split(","))
        kind = m["layered"]
        if (kind == "W") != (len(idx) == 2):
            return None
        return Name(kind, int(m["layer"]), idx)
    num = m["ionum"] or m["iobr"]
    if m["io"] == "E":
        return None if num else Name("E")
    return Name(m["io"], None, (int(num),) if num else ())


def symbol(name: Name | str) -> sp.Symbol:
    """The SymPy symbol for a name; every quantity of a network is real."""
    return sp.Symbol(str(name), real=True)


#: the error of one sample (the cost of a batch is its mean over the samples)
E = sp.Symbol("E", real=True)
