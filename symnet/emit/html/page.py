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
from symnet.emit.latex.document import COUNT_WORDS, WriteUp, writeup_of
from symnet.emit.latex.forms import Eqn, Math, Ordered, Terms
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
            if len(m.factors) == 1:
                return self.node(m.factors[0])
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
        """Equations as one displayed table: left side, relation, right side, and a fourth column for an
        equation's number or the equation it follows from ("by (4)"); a form that repeats the one before
        it is left out, as in the LaTeX."""
        eqns = [eqns] if isinstance(eqns, Eqn) else list(eqns)
        p = self.p
        table = p.el("mtable", columnalign="right center left left right", class_="eqns")
        for e in eqns:
            lhs, last, rows = self.node(e.lhs), None, []
            for rel, form in e.forms:
                node = self.node(form)
                # a step that only regroups or respaces the one before it says nothing new
                key = re.sub(r"<mspace[^>]*/>|<mo>\u2062</mo>|</?mrow>", "", self._xml(node))
                if key == last:
                    continue
                left = lhs if last is None else p.el("mrow")
                rows.append([p.el("mtd", left), p.el("mtd", p.mo(_RELATIONS.get(rel, rel))), p.el("mtd", node)])
                last = key
            for k, cells in enumerate(rows):
                last = k == len(rows) - 1
                # what the equation follows from ("by (4)"), and its own number at the right, as in the LaTeX
                if last and e.shape is not None:  # the shape of what it defines (the matrix form)
                    note = self.node(e.shape)
                else:
                    note = p.el("mtext", text=f"by {self.ref(e.cite)}" if last and e.cite else "")
                cells.append(p.el("mtd", note, class_="note"))
                cells.append(p.el("mtd", p.el("mtext", text=_number(e.label) if last and e.label else ""),
                                  class_="number"))
                row = p.el("mtr", *cells)
                if e.label and k == len(rows) - 1:
                    row.setAttribute("id", e.label.replace(":", "-"))
                table.appendChild(row)
        return self._math(table, display=True)

    @staticmethod
    def ref(label: str) -> str:
        """A citation of a numbered equation, (4): a mark that :func:`render_page` numbers once the page
        is written, in the order the equations appear."""
        return f"\u27e6ref:{label}\u27e7"

    def cite(self, label: str) -> Markup:
        """A citation in running text, linked to the equation."""
        return Markup(f'<a href="#{label.replace(":", "-")}">{self.ref(label)}</a>')

    def inline(self, e: Eqn) -> Markup:
        """An equation in running text: lhs = form = …"""
        p = self.p
        nodes = [self.node(e.lhs)]
        for rel, form in e.forms:
            nodes += [p.mo(_RELATIONS.get(rel, rel)), self.node(form)]
        return self._math(p.row(*nodes))

    def function(self, f) -> Markup:
        """An undefined function's name alone: f⁽ᵏ⁾, ℓ, A."""
        return self._math(self.p.function_head(f.__name__))

    def matrix(self, mat: sp.Matrix) -> Markup:
        return self._math(self.p._print(mat))

    def chain_numbers(self, chains: list) -> Markup:
        """∂E/∂θ = the factors' numbers multiplied along each path (+ ⋯ for paths left out, + λ·θ for the
        decay term) = the gradient, per parameter: every row a true equation, as in the LaTeX."""
        p = self.p
        table = p.el("mtable", columnalign="right center left", class_="eqns")
        E = sp.Symbol("E", real=True)
        for c in chains:
            lhs = p._print(sp.Derivative(E, c.param, evaluate=False))
            factors = [[v for _, v in path] for path in c.paths] + ([list(c.decay)] if c.decay else [])
            if not factors:
                table.appendChild(p.el("mtr", p.el("mtd", lhs), p.el("mtd", p.mo("=")),
                                       p.el("mtd", self.number(c.gradient))))
                continue
            terms = []
            for n, values in enumerate(factors):
                if n == len(c.paths) and c.more:  # the paths left out, before the decay term
                    terms += [p.mo("+"), p.mo("\u22ef")]
                if n:
                    terms.append(p.mo("+"))
                for k, v in enumerate(values):
                    if k:
                        terms.append(p.mo("\u00b7"))
                    # a negative number after the first in parentheses: 0.2 · (−0.83), + (−0.62) · 0.89
                    first = k == 0 and n == 0
                    terms.append(self.number(v) if first or v >= 0 else p.paren(self.number(v)))
            if c.more and len(factors) == len(c.paths):
                terms += [p.mo("+"), p.mo("\u22ef")]
            table.appendChild(p.el("mtr", p.el("mtd", lhs), p.el("mtd", p.mo("=")), p.el("mtd", p.row(*terms))))
            if not (len(factors) == 1 and len(factors[0]) == 1):
                table.appendChild(p.el("mtr", p.el("mtd", p.el("mrow")), p.el("mtd", p.mo("=")),
                                       p.el("mtd", self.number(c.gradient))))
        return self._math(table, display=True)

    def number(self, v: float):
        """A number to 9 significant digits as MathML, powers of ten written out."""
        p = self.p
        text = fmt(0.0 if v == 0 else v)  # −0 as 0
        m = re.fullmatch(r"(-?[0-9.]+)e([+-])0*([0-9]+)", text)
        if m:
            exp = ("\u2212" if m[2] == "-" else "") + m[3]
            return p.row(p.el("mn", text=m[1].replace("-", "\u2212")), p.mo("\u00d7"),
                         p.el("msup", p.el("mn", text="10"), p.el("mn", text=exp)))
        return p.el("mn", text=text.replace("-", "\u2212"))

    def num(self, v: float) -> Markup:
        return self._math(self.number(v))


def _number(label: str) -> str:
    return f"\u27e6num:{label}\u27e7"


def numbered(page: str) -> str:
    """The equation numbers: each labelled equation numbered in the order the page shows them, and each
    citation of it given that number, (4)."""
    order: dict[str, int] = {}
    for label in re.findall(r"\u27e6num:([^\u27e7]+)\u27e7", page):
        order.setdefault(label, len(order) + 1)
    page = re.sub(r"\u27e6num:([^\u27e7]+)\u27e7", lambda m: f"({order[m[1]]})", page)
    return re.sub(r"\u27e6ref:([^\u27e7]+)\u27e7", lambda m: f"({order.get(m[1], '?')})", page)


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
    places = f.label_positions(dx, dy, 40, 18, 2 * r)
    edges = []
    for s, t, lab in f.edges:
        (x1, y1), (x2, y2) = at[s], at[t]
        length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        # each label where it overlaps no other label and no neuron
        pos = places.get((s, t), 0.5)
        edges.append({"x1": round(x1 + ux * r, 1), "y1": round(y1 + uy * r, 1), "x2": round(x2 - ux * (r + 4), 1),
                      "y2": round(y2 - uy * (r + 4), 1), "lx": round(x1 + (x2 - x1) * pos, 1),
                      "ly": round(y1 + (y2 - y1) * pos - 3, 1),
                      "label": plain_label(lab, w.bias_rows or None) if lab is not None else None})
    captions = [{"x": left + dx * c, "y": height - 36, "n": n, "act": glyph(act) if act else "",
                 "role": "input" if c == 0 else ("output" if c == columns - 1 else f"hidden {c}")}
                for c, (n, act) in enumerate(f.columns)]
    return {"width": width, "height": height, "r": r, "nodes": nodes, "edges": edges, "captions": captions,
            "labelled": f.labelled}


#: the computational graph's grid in px: columns, rows, a parameter's height above its operation
_GX, _GY, _GPARAM, _GLEFT, _GTOP = 170, 118, 52, 40, 70
#: half the width each kind of node takes on its row
_HALF = {"times": 36, "plus": 36, "activation": 36, "loss": 18, "value": 20, "param": 14}


def graph_view(w: WriteUp, r: HtmlRenderer) -> dict | None:
    """The computational graph as SVG geometry, from the same nodes and edges as the LaTeX figure: each
    label is MathML (in a ``foreignObject``), the local derivative under its arrow."""
    g = w.graph
    if g is None:
        return None
    at, nodes = {}, []
    for n in g.nodes:
        x = _GLEFT + _GX * n.column
        y = _GTOP + _GY * n.row - (_GPARAM if n.kind == "param" else 0)
        at[n.key] = (x, y, n.kind)
        if n.kind == "activation":
            label = r._math(r.p.function_name(n.activation))
        elif n.kind in ("times", "plus"):
            sign = r.p.mo("\u00d7" if n.kind == "times" else "+")
            label = r._math(r.p.row(sign, r.p._print(n.symbol)))
        else:
            label = r.math(n.symbol)
        nodes.append({"x": x, "y": y, "kind": n.kind, "label": label})
    edges = []
    for e in g.edges:
        (x1, y1, k1), (x2, y2, k2) = at[e.src], at[e.dst]
        vertical = k1 == "param"
        if vertical:
            line = (x1, y1 + 12, x2, y2 - (18 if k2 == "loss" else 16) - 3)
        else:
            line = (x1 + _HALF[k1], y1, x2 - _HALF[k2] - 3, y2)
        edges.append({"x1": line[0], "y1": line[1], "x2": line[2], "y2": line[3], "vertical": vertical,
                      "mx": round((line[0] + line[2]) / 2), "my": round((line[1] + line[3]) / 2),
                      "local": r.math(e.local) if e.local is not None else None,
                      "value": r.math(e.value) if e.value is not None else None})
    width = _GLEFT * 2 + _GX * (max(n.column for n in g.nodes))
    height = _GTOP + _GY * (g.rows - 1) + 50
    return {"nodes": nodes, "edges": edges, "width": width, "height": height}


def render_page(d, values: Values | str | Path | None = None, params: str | list[str] | None = None,
                momentum: float | None = None, optimizer: str | None = None,
                command: str | None = None, **hyperparameters: float | None) -> str:
    """The write-up of a derivation as one self-contained HTML page (same arguments as
    :func:`symnet.emit.latex.render.render_document`); a graph spec's is
    :func:`symnet.emit.html.graph_page.render_graph_page`'s."""
    return render_writeup(writeup_of(d, values, params, momentum, optimizer, command=command, html=True,
                                     **hyperparameters))


def render_writeup(w: WriteUp) -> str:
    """A built document (:func:`symnet.emit.latex.document.writeup_of`) as one HTML page."""
    r = HtmlRenderer(w)
    template = html_environment().get_template("page.html.j2")
    text = template.render(w=w, net=w.net, r=r, fig=figure_view(w), graph=graph_view(w, r), glyph=glyph,
                           count_words=COUNT_WORDS)
    return numbered(re.sub(r"\n{3,}", "\n\n", text).lstrip("\n"))
