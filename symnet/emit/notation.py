"""The articles' notation for the network's quantities, independent of the output language.

A quantity's name (``W1[1,1]``, ``b2[3]``, ``yhat[1]``) or an indexed array of the layer form
(``Wk[i, j]``, ``delta2[j]``) says which letter it is, which layer it belongs to and which indices it
carries; :func:`symbol_script` and :func:`indexed_script` return exactly that, and each printer
(:mod:`symnet.emit.latex.printer`, :mod:`symnet.emit.html.mathml`) only decides how a letter, a
superscript ``(k)`` and a subscript are written in its language.  The rules live here once:
the augmented notation's bias b⁽ᵏ⁾ⱼ is the row n_{k-1} + 1 of W⁽ᵏ⁾, indices run together (W₁₁) unless
one of them has more than one character (W_{1,10}).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from symnet.derivation.names import parse_name

#: the labels of the layer form's arrays: a letter and a layer number or letter (``W1``, ``hk``, ``deltak``)
LABEL = re.compile(r"^(W|b|h|a|delta)([0-9]+|[a-z])$")
#: the kinds that carry a layer superscript
LAYERED = ("W", "b", "h", "a", "delta")


@dataclass(frozen=True)
class Script:
    """How a quantity is written: a letter (``kind``: W b h a delta x y yhat E), its layer (the
    superscript ``(layer)``, None for none) and its indices (the subscript, None for none)."""

    kind: str
    layer: str | None
    index: tuple[str, ...] | None


def joined(parts: tuple | list) -> tuple[str, str]:
    """Indices as one subscript: (the indices' text, their separator): ``11`` or ``1,10``."""
    texts = [str(p) for p in parts]
    sep = "," if any(len(p) > 1 for p in texts) else ""
    return sep.join(texts), sep


def symbol_script(name: str, bias_rows: dict[int, int] | None = None) -> Script | None:
    """The script of a network quantity's plain-text name; None when the name is not one.

    ``bias_rows`` maps a layer k to the row n_{k-1} + 1 that holds the bias in the augmented notation:
    b⁽ᵏ⁾ⱼ is then written W⁽ᵏ⁾_{n+1, j}.
    """
    parsed = parse_name(name)
    if parsed is None:
        return None
    if parsed.kind == "b" and bias_rows and parsed.layer in bias_rows:
        return Script("W", str(parsed.layer), tuple(str(i) for i in (bias_rows[parsed.layer], parsed.index[0])))
    if parsed.kind in LAYERED:
        return Script(parsed.kind, str(parsed.layer), tuple(str(i) for i in parsed.index))
    if parsed.kind not in ("x", "y", "yhat", "E"):  # a graph's own node: add1[2], code[1]
        return Script(parsed.kind, str(parsed.layer) if parsed.layer is not None else None,
                      tuple(str(i) for i in parsed.index) or None)
    return Script(parsed.kind, None, (str(parsed.index[0]),) if parsed.index else None)


#: a graph's node or matrix name: letters, then its number (add1, code, Add1); ``g_`` and a name is ∂E/∂ it
NODE = re.compile(r"^(?P<grad>g_)?(?P<stem>[A-Za-z][A-Za-z_]*?)(?P<layer>[1-9][0-9]*)?$")


def node_script(label: str) -> tuple[str, str | None, bool] | None:
    """(stem, layer, whether it is ∂E/∂ the node) of a graph node's array label (``add1``, ``g_a1``), or None."""
    m = NODE.match(label)
    if not m:
        return None
    return m["stem"], m["layer"], bool(m["grad"])


def upright(stem: str) -> bool:
    """Whether a node's name prints upright (a word, ``add``, ``code``) rather than as an italic letter (``s``)."""
    return len(stem) > 1 and stem not in ("yhat", "delta")


def indexed_script(label: str) -> tuple[str, str] | None:
    """(kind, layer) of a layer-form array's label (``W1``, ``hk``); None for any other label."""
    m = LABEL.match(label)
    return (m[1], m[2]) if m else None


def layer_below(layer: str) -> str:
    """The layer under ``layer``, as text: ``1`` under ``2``, ``k-1`` under ``k``."""
    return f"{int(layer) - 1}" if layer.isdigit() else f"{layer}-1"
