"""The web-page write-up: the LaTeX write-up's document model (:mod:`symnet.emit.latex.document`)
through a Jinja2 template, with every formula printed as presentation MathML by
:class:`symnet.emit.html.mathml.MathMLPrinter` and the network drawn as inline SVG.

Nothing is derived here: :func:`render_page` builds the same :class:`~symnet.emit.latex.document.WriteUp`
that :func:`symnet.emit.latex.render.render_document` prints and walks it.  The page is one UTF-8 file
that loads nothing: no script, no style sheet, font or image from anywhere else.
"""
from __future__ import annotations

import re
from pathlib import Path

import sympy as sp
from markupsafe import Markup

from symnet.emit.html.mathml import MathMLPrinter
from symnet.emit.latex.document import Eqn, Math, Ordered, Terms, WriteUp, writeup_of
from symnet.emit.notation import symbol_script
from symnet.emit.templates import html_environment
from symnet.functions.activations import glyph
from symnet.numeric.worked import Values, fmt

#: how each relation of an :class:`Eqn` is written
_RELATIONS = {"=": "=", r"\leftarrow": "\u2190"}
_SUPERSCRIPT = str.maketrans("0123456789()-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾⁻⁺")
_SUBSCRIPT = str.maketrans("0123456789,-+", "₀₁₂₃₄₅₆₇₈₉,₋₊")


class HtmlRenderer:
    """What the template calls: ``math`` (inline), ``display`` (equations), ``num`` (a number),
    ``matrix``, ``chain_numbers``."""

    def __init__(self, w: WriteUp):
        self.settings = {"bias_rows": w.bias_rows or None, "augmented_indexed": bool(w.bias_rows)}
        self.p = MathMLPrinter(self.settings)

    # -- nodes ---------------------------------------------------------------------------------
    def node(self, m: Math):
        p = self.p
        if isinstance(m, Terms):
            nodes = []
            for k, t in enumerate(m.terms):
                if k:
                    nodes.append(p.mo("+"))
                node = self.node(t)
                nodes.append(p.paren(node) if isinstance(t, sp.Add) else node)
            if m.more:
                nodes += [p.mo("+"), p.mo("\u22ef")]
            return p.row(*nodes)
        if isinstance(m, Ordered):
            return self.ordered(list(m.factors))
        return p._print(m)

    def ordered(self, factors: list):
        """A product in the order given — the chain rule's, ∂E/∂ŷ first — factors a thin space apart."""
        p = self.p
        if not factors:
            return p.el("mn", text="1")
        nodes = []
        for k, f in enumerate(factors):
            if k:
                nodes += [p.mo("\u2062"), p.el("mspace", width="0.2em")]
            node = p._print(f)
            if isinstance(f, sp.Add) or (isinstance(f, sp.Mul) and f.could_extract_minus_sign()):
                node = p.paren(node)
            nodes.append(node)
        return p.row(*nodes)

    @staticmethod
    def _xml(node) -> str:
        return node.toxml()

    def _math(self, node, display: bool = False) -> Markup:
        attrs = ' display="block"' if display else ""
        return Markup(f"<math{attrs}>{self._xml(node)}</math>")  # HTML puts <math> in MathML's namespace

    # -- what the template calls ----------------------------------------------------------------
    def math(self, m: Math) -> Markup:
        """An inline formula."""
        return self._math(self.node(m))

    def display(self, eqns: Eqn | list[Eqn]) -> Markup:
        """Equations as one displayed table: left side, relation, right side; a form that repeats the
        one before it is left out, as in the LaTeX."""
        eqns = [eqns] if isinstance(eqns, Eqn) else list(eqns)
        p = self.p
        table = p.el("mtable", columnalign="right center left", class_="eqns")
        for e in eqns:
            lhs, last = self.node(e.lhs), None
            for rel, form in e.forms:
                node = self.node(form)
                # a step that only regroups or respaces the one before it says nothing new
                key = re.sub(r"<mspace[^>]*/>|<mo>\u2062</mo>|</?mrow>", "", self._xml(node))
                if key == last:
                    continue
                left = lhs if last is None else p.el("mrow")
                table.appendChild(p.el("mtr", p.el("mtd", left), p.el("mtd", p.mo(_RELATIONS.get(rel, rel))),
                                       p.el("mtd", node)))
                last = key
        return self._math(table, display=True)

    def matrix(self, mat: sp.Matrix) -> Markup:
        return self._math(self.p._print(mat))

    def chain_numbers(self, chains: list) -> Markup:
        """∂E/∂θ = the factors' numbers multiplied along each path = the gradient, per parameter."""
        p = self.p
        table = p.el("mtable", columnalign="right center left", class_="eqns")
        E = sp.Symbol("E", real=True)
        for param, paths, g in chains:
            lhs = p._print(sp.Derivative(E, param, evaluate=False))
            if paths:
                terms = []
                for k, path in enumerate(paths):
                    if k:
                        terms.append(p.mo("+"))
                    for i, (_, v) in enumerate(path):
                        if i:
                            terms.append(p.mo("\u00b7"))
                        terms.append(self.number(v))
                table.appendChild(p.el("mtr", p.el("mtd", lhs), p.el("mtd", p.mo("=")), p.el("mtd", p.row(*terms))))
                table.appendChild(p.el("mtr", p.el("mtd", p.el("mrow")), p.el("mtd", p.mo("=")),
                                       p.el("mtd", self.number(g))))
            else:
                table.appendChild(p.el("mtr", p.el("mtd", lhs), p.el("mtd", p.mo("=")), p.el("mtd", self.number(g))))
        return self._math(table, display=True)

    def number(self, v: float):
        """A number to 9 significant digits as MathML, powers of ten written out."""
        p = self.p
        text = fmt(v)
        m = re.fullmatch(r"(-?[0-9.]+)e([+-])0*([0-9]+)", text)
        if m:
            exp = ("\u2212" if m[2] == "-" else "") + m[3]
            return p.row(p.el("mn", text=m[1].replace("-", "\u2212")), p.mo("\u00d7"),
                         p.el("msup", p.el("mn", text="10"), p.el("mn", text=exp)))
        return p.el("mn", text=text.replace("-", "\u2212"))

    def num(self, v: float) -> Markup:
        return self._math(self.number(v))


def plain_label(sym: sp.Basic, bias_rows: dict[int, int] | None = None) -> str:
    """A quantity in plain Unicode (x₁, a⁽¹⁾₂, ŷ, W⁽²⁾₁₁) for the figure's SVG text, from the same
    notation rules as the formulas."""
    if sym == sp.S.One:
        return "1"
    script = symbol_script(str(sym), bias_rows)
    if script is None:
        return str(sym)
    head = {"yhat": "y\u0302", "delta": "δ"}.get(script.kind, script.kind)
    layer = f"({script.layer})".translate(_SUPERSCRIPT) if script.layer is not None else ""
    sub = "".join(script.index).translate(_SUBSCRIPT) if script.index else ""
    return head + layer + sub


def figure_view(w: WriteUp) -> dict:
    """The network as SVG geometry: nodes in columns, an arrow per weight, a caption per layer."""
    f = w.figure
    rows = max(n.row for n in f.nodes) + 1
    columns = len(f.columns)
    dx, dy, r, top, left = (190 if f.labelled else 150), 70, 24, 30, 90
    width = left * 2 + dx * (columns - 1)
    height = top + dy * (rows - 1) + 2 * r + 64
    at = {n.key: (left + dx * n.column, top + r + dy * n.row) for n in f.nodes}
    nodes = [{"x": at[n.key][0], "y": at[n.key][1], "label": plain_label(n.label, w.bias_rows or None)
              if n.label is not None else None, "bias": n.key.endswith("bias")} for n in f.nodes]
    targets: dict[str, list[str]] = {}
    for s, t, _ in f.edges:
        targets.setdefault(s, []).append(t)
    edges = []
    for s, t, lab in f.edges:
        (x1, y1), (x2, y2) = at[s], at[t]
        length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        ts = targets[s]
        # labels of the edges leaving one neuron sit at different distances from it, so they never overlap
        pos = 0.25 + (0.45 * ts.index(t) / (len(ts) - 1) if len(ts) > 1 else 0.0)
        edges.append({"x1": round(x1 + ux * r, 1), "y1": round(y1 + uy * r, 1), "x2": round(x2 - ux * (r + 4), 1),
                      "y2": round(y2 - uy * (r + 4), 1), "lx": round(x1 + (x2 - x1) * pos, 1),
                      "ly": round(y1 + (y2 - y1) * pos - 3, 1),
                      "label": plain_label(lab, w.bias_rows or None) if lab is not None else None})
    captions = [{"x": left + dx * c, "y": height - 36, "n": n, "act": glyph(act) if act else "",
                 "role": "input" if c == 0 else ("output" if c == columns - 1 else f"hidden {c}")}
                for c, (n, act) in enumerate(f.columns)]
    return {"width": width, "height": height, "r": r, "nodes": nodes, "edges": edges, "captions": captions,
            "labelled": f.labelled}


def render_page(d, values: Values | str | Path | None = None, params: str | list[str] | None = None,
                momentum: float | None = None, optimizer: str | None = None,
                command: str | None = None, **hyperparameters: float | None) -> str:
    """The write-up of a derivation as one self-contained HTML page (same arguments as
    :func:`symnet.emit.latex.render.render_document`)."""
    w = writeup_of(d, values, params, momentum, optimizer, command=command, html=True, **hyperparameters)
    r = HtmlRenderer(w)
    template = html_environment().get_template("page.html.j2")
    text = template.render(w=w, net=w.net, r=r, fig=figure_view(w), glyph=glyph)
    return re.sub(r"\n{3,}", "\n\n", text).lstrip("\n")
