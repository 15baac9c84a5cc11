"""The web-page write-up of a graph spec: the LaTeX write-up's document model
(:mod:`symnet.emit.latex.graph_writeup`) through a Jinja2 template, every formula MathML, the graph inline
SVG; one UTF-8 file that loads nothing."""
from __future__ import annotations

import re
from pathlib import Path

from symnet.emit.html.page import HtmlRenderer, numbered
from symnet.emit.latex.graph_writeup import GraphWriteUp, graph_symbols, graph_writeup
from symnet.emit.templates import html_environment
from symnet.numeric.worked import Values

#: the figure's grid in px: the distance between columns (closer for a long graph) and rows, the node radius
_DX, _DY, _R, _LEFT, _TOP = 110, 90, 20, 40, 80


def render_graph_page(d, values: Values | str | Path | None = None, *, command: str | None = None,
                      optimizer: str | None = None, momentum: float | None = None,
                      **hyperparameters: float | None) -> str:
    """The write-up of a graph's derivation as one self-contained HTML page."""
    w = graph_writeup(d, values, command=command, optimizer=optimizer, momentum=momentum, **hyperparameters)
    r = HtmlRenderer(w)
    template = html_environment().get_template("graph.html.j2")
    text = template.render(w=w, g=w.graph, r=r, fig=_figure_view(w, r), **graph_symbols(w))
    return numbered(re.sub(r"\n{3,}", "\n\n", text).lstrip("\n"))


def _figure_view(w: GraphWriteUp, r: HtmlRenderer) -> dict:
    """The graph as SVG geometry: a circle per node (its label MathML in a foreignObject), a line per edge, an
    arc above the others for a skip, each edge's local derivative above it."""
    f = w.figure
    dx = min(_DX, 780 // max(1, f.columns - 1))
    at = {n.key: (_LEFT + dx * n.column, _TOP + _DY * n.row) for n in f.nodes}
    nodes = []
    for n in f.nodes:
        x, y = at[n.key]
        label = n.op if n.op else r.math(n.symbol)
        nodes.append({"x": x, "y": y, "label": label, "op": n.op is not None, "loss": n.loss, "caption": n.caption})
    edges = []
    for e in f.edges:
        (x1, y1), (x2, y2) = at[e.src], at[e.dst]
        local = r.math(e.local) if e.local is not None else None
        if e.skip:
            lift = 34 + 6 * (x2 - x1) / dx
            mx, my = (x1 + x2) / 2, min(y1, y2) - lift
            path = f"M{x1},{y1 - _R} Q{mx},{my} {x2},{y2 - _R - 4}"
            edges.append({"path": path, "lx": mx, "ly": my / 2 + min(y1, y2) / 2 - 28, "local": local})
        else:
            path = f"M{x1 + _R},{y1} L{x2 - _R - 4},{y2}"
            edges.append({"path": path, "lx": (x1 + x2) / 2, "ly": min(y1, y2) - 30, "local": local})
    width = _LEFT * 2 + dx * (f.columns - 1)
    height = _TOP + _DY * (f.rows - 1) + 60
    return {"nodes": nodes, "edges": edges, "width": width, "height": height, "r": _R}


__all__ = ["render_graph_page"]
