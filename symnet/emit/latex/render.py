"""The LaTeX emitter: the write-up's steps (:mod:`symnet.emit.latex.document`) through Jinja2 templates.

Templates hold words and layout; every formula reaches them already printed by
:class:`symnet.emit.latex.printer.LatexPrinter` and broken into lines by :mod:`symnet.emit.latex.layout`.
:func:`compile_pdf` turns the document into a PDF in a temporary directory.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import jinja2
import sympy as sp

from symnet.emit.templates import latex_environment
from symnet.functions.activations import latex_name
from symnet.errors import InputError
from symnet.emit.latex.graph_writeup import graph_symbols, graph_writeup, of_graph
from symnet.emit.latex.printer import LatexPrinter, function_head
from symnet.emit.latex.layout import Break, Row, align_rows, expr_tokens, product_tokens, sum_tokens, Piece, group
from symnet.numeric.worked import Values, fmt
from symnet.emit.latex.document import COUNT_WORDS, WriteUp, writeup_of
from symnet.emit.latex.forms import Eqn, Math, Ordered, Terms

TEX_PACKAGES = "texlive-latex-base texlive-latex-recommended texlive-pictures latexmk"


class TexError(InputError):
    """The TeX engine is missing or the document did not compile (exit status 2, one line)."""


# -- printing the steps ----------------------------------------------------------------------
class Renderer:
    """Filters the templates use: ``tex`` (inline), ``rows`` (an align* body), ``num`` (a number)."""

    def __init__(self, w: WriteUp):
        self.settings = {"bias_rows": w.bias_rows or None, "augmented_indexed": bool(w.bias_rows)}
        self.p = LatexPrinter(self.settings)

    def tex(self, expr: Math) -> str:
        return "".join(_plain(t) for t in self.tokens(expr))

    def tokens(self, m: Math) -> list:
        if isinstance(m, Terms):
            return sum_tokens([self._term(t) for t in m.terms], m.more)
        if isinstance(m, Ordered):
            if len(m.factors) == 1:  # one factor: nothing for parentheses to separate it from
                return self.tokens(m.factors[0])
            return product_tokens(list(m.factors), self.p)
        if isinstance(m, sp.Eq):
            return [Piece(self.p.doprint(m))]
        return expr_tokens(m, self.p)

    def _term(self, t: Math) -> list:
        toks = self.tokens(t)
        if isinstance(t, sp.Add):
            return group(toks)
        return toks

    def rows(self, eqns: Eqn | list[Eqn], numbered: bool = False) -> str:
        """Equations as the body of an ``align*`` (``align`` when ``numbered``): relations aligned, long
        sides broken, a labelled equation's last line numbered, a citation after an equation's last line."""
        eqns = [eqns] if isinstance(eqns, Eqn) else eqns
        rows = []
        for e in eqns:
            lhs, last, mine = self.tex(e.lhs), None, []
            for rel, form in e.forms:
                tokens = self.tokens(form)
                # a step that only reorders or respaces the one before it says nothing new
                key = re.sub(r"\\,|\s|\\left|\\right", "", "".join(_plain(t) for t in tokens))
                if key == last:
                    continue
                mine.append(Row(lhs if last is None else "", rel, tokens))
                last = key
            if e.one_line and len(mine) > 1:
                joined = list(mine[0].rhs)
                for row in mine[1:]:
                    joined += [Break(f" {row.rel} ", f"{row.rel} ", -1), *row.rhs]
                mine = [Row(mine[0].lhs, mine[0].rel, joined)]
            if mine:
                tail = rf"\qquad\text{{by~\eqref{{{e.cite}}}}}" if e.cite else ""
                shape = self.tex(e.shape) if e.shape is not None else ""
                mine[-1] = Row(mine[-1].lhs, mine[-1].rel, mine[-1].rhs, tail, e.label, shape)
            rows += mine
        return align_rows(rows, numbered=numbered)

    def display(self, eqns: Eqn | list[Eqn]) -> str:
        """A displayed group of equations: ``align`` when one of them is numbered, else ``align*``."""
        eqns = [eqns] if isinstance(eqns, Eqn) else list(eqns)
        numbered = any(e.label for e in eqns)
        env = "align" if numbered else "align*"
        return f"\\begin{{{env}}}\n{self.rows(eqns, numbered)}\n\\end{{{env}}}"

    def inline(self, e: Eqn) -> str:
        """An equation in running text: lhs = form = …"""
        return " = ".join([self.tex(e.lhs), *(self.tex(f) for _, f in e.forms)])

    @staticmethod
    def text(words: str) -> str:
        """Plain words (an optimiser's explanation, a loss's name) as LaTeX text: its special characters
        escaped, so that an apostrophe stays one and an ampersand cannot end a table cell."""
        return "".join(_TEXT_ESCAPES.get(c, c) for c in words)

    @staticmethod
    def code(words: str) -> str:
        """A command line as LaTeX typewriter text (inside ``\\texttt``): every character as typed,
        straight quotes, no ligature of ``--``, and places to break after ``/``."""
        return re.sub(r"-(?=-)", "-{}", "".join(_CODE_ESCAPES.get(c, c) for c in words))

    @staticmethod
    def function(f) -> str:
        """An undefined function's name alone: f⁽ᵏ⁾, ℓ, A."""
        return function_head(f.__name__)

    def ref(self, label: str) -> str:
        """A citation of a numbered equation: (4)."""
        return rf"\eqref{{{label}}}"

    def chain_numbers(self, chains: list) -> str:
        """∂E/∂θ = the factors' numbers multiplied along each path (+ ⋯ for paths left out, + λ·θ for the
        decay term) = the gradient, one row per parameter: every row a true equation."""
        rows = []
        for c in chains:
            lhs = self.tex(sp.Derivative(sp.Symbol("E", real=True), c.param, evaluate=False))
            factors = [[v for _, v in path] for path in c.paths] + ([list(c.decay)] if c.decay else [])
            if not factors:
                rows.append(Row(lhs, "=", [Piece(self.num(c.gradient))]))
                continue
            # a negative number after the first in parentheses: 0.2 · (−0.83) and + (−0.62) · 0.89, not + −0.62
            terms = [[Piece(r" \cdot ".join(self.num(v) if (k == 0 and n == 0) or v >= 0 else rf"({self.num(v)})"
                                             for k, v in enumerate(values)))] for n, values in enumerate(factors)]
            if c.more:  # the paths left out, before the decay term
                terms.insert(len(c.paths), [Piece(r"\cdots")])
            single = len(factors) == 1 and len(factors[0]) == 1
            tail = [] if single else [Break(" = ", "= ", -1), Piece(self.num(c.gradient))]
            rows.append(Row(lhs, "=", sum_tokens(terms) + tail))
        return align_rows(rows)

    def matrix(self, mat: sp.Matrix) -> str:
        return LatexPrinter({**self.settings, "mat_str": "pmatrix", "mat_delim": ""}).doprint(mat)

    @staticmethod
    def num(v: float) -> str:
        """A number to 9 significant digits, powers of ten written out (−0 as 0)."""
        text = fmt(0.0 if v == 0 else v)
        m = re.fullmatch(r"(-?[0-9.]+)e([+-])0*([0-9]+)", text)
        if m:
            sign = "-" if m[2] == "-" else ""
            return rf"{m[1]} \times 10^{{{sign}{m[3]}}}"
        return text


_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_CODE_ESCAPES = {**_TEXT_ESCAPES, "'": r"\textquotesingle{}", "`": r"\textasciigrave{}", "/": r"/\allowbreak{}",
                 "<": "<", ">": ">", "|": "|", "\"": "\""}


def _plain(t) -> str:
    from symnet.emit.latex.layout import Break, Close, Open
    if isinstance(t, Piece):
        return t.tex
    if isinstance(t, Break):
        return t.op
    return r"\left(" if isinstance(t, Open) else r"\right)"


def _figure_view(w: WriteUp, r: Renderer) -> dict:
    f = w.figure
    tallest = max(n.row for n in f.nodes) + 1
    # the columns share the text width (15 cm of 16) however deep the network
    dx = round(min(4.2, 12.6 / max(1, len(f.columns) - 1)), 3)
    places = f.label_positions(dx, 1.9, 0.9, 0.45, 1.0, sloped=True)

    def pos(s: str, t: str) -> float:
        return places.get((s, t), 0.5)

    return {
        "nodes": [{"key": n.key, "x": round(dx * n.column, 3), "y": round(-1.9 * n.row, 3), "label": r.tex(n.label) if n.label is not None
                   else None} for n in f.nodes],
        "edges": [{"src": s, "dst": t, "pos": round(pos(s, t), 3), "label": r.tex(lab) if lab is not None else None}
                  for s, t, lab in f.edges],
        "columns": [{"x": round(dx * c, 3), "n": n, "act": act} for c, (n, act) in enumerate(f.columns)],
        "bottom": round(-1.9 * (tallest - 1) - 1.1, 3),
        "labelled": f.labelled,
    }


#: the computational graph's grid in cm: columns, rows, and how far above its operation a parameter sits
GRAPH_DX, GRAPH_DY, GRAPH_PARAM = 3.7, 2.2, 1.0


def _graph_view(w: WriteUp, r: Renderer) -> dict | None:
    """The computational graph as TikZ geometry: operations in boxes, values as plain text, parameters
    above their operations; every edge with the local derivative below it (and the value it carries
    above it where no node names it)."""
    g = w.graph
    if g is None:
        return None
    operand = {"times": r"\times ", "plus": "+"}
    nodes = []
    for n in g.nodes:
        x, y = round(GRAPH_DX * n.column, 3), round(-GRAPH_DY * n.row + (GRAPH_PARAM if n.kind == "param" else 0), 3)
        if n.kind == "activation":
            tex = latex_name(n.activation)
        elif n.kind in operand:
            tex = operand[n.kind] + r.tex(n.symbol)
        else:
            tex = r.tex(n.symbol)
        nodes.append({"key": n.key, "kind": n.kind, "x": x, "y": y, "tex": tex})
    kinds = {n.key: n.kind for n in g.nodes}
    edges = [{"src": e.src, "dst": e.dst, "vertical": kinds[e.src] == "param",
              "local": r.tex(e.local) if e.local is not None else None,
              "value": r.tex(e.value) if e.value is not None else None} for e in g.edges]
    return {"nodes": nodes, "edges": edges}


def render_document(d, values: Values | str | Path | None = None, params: str | list[str] | None = None,
                    momentum: float | None = None, optimizer: str | None = None,
                    command: str | None = None, **hyperparameters: float | None) -> str:
    """The write-up of a derivation as a standalone LaTeX document.

    ``values``: a :class:`symnet.numeric.worked.Values` or a VALUES.toml path, for the worked example;
    ``params``: ``"all"`` (default) or names such as ``"W1[1,1],b2[1]"``; ``optimizer``
    (sgd, momentum, nesterov, rmsprop, adam; none: momentum when ``momentum`` is given) with ``momentum``
    and ``hyperparameters`` (beta1, beta2, eps): the update rule shown and, with values, stepped twice.
    A graph spec's derivation is written by :func:`render_graph_document`.
    """
    if of_graph(d, params):
        return render_graph_document(d, values, command=command, optimizer=optimizer, momentum=momentum,
                                     **hyperparameters)
    return render_writeup(writeup_of(d, values, params, momentum, optimizer, command=command, **hyperparameters))


def render_writeup(w: WriteUp) -> str:
    """A built document (:func:`symnet.emit.latex.document.writeup_of`) as LaTeX."""
    r = Renderer(w)
    template = latex_environment().get_template("writeup.tex.j2")
    text = template.render(w=w, net=w.net, r=r, fig=_figure_view(w, r), graph=_graph_view(w, r),
                           activation_tex=latex_name, count_words=COUNT_WORDS)
    return re.sub(r"\n{3,}", "\n\n", text).lstrip("\n")



def render_graph_document(d, values: Values | str | Path | None = None, *, command: str | None = None,
                          optimizer: str | None = None, momentum: float | None = None,
                          **hyperparameters: float | None) -> str:
    """The write-up of a graph spec's derivation as a standalone LaTeX document
    (:mod:`symnet.emit.latex.graph_writeup`)."""
    w = graph_writeup(d, values, command=command, optimizer=optimizer, momentum=momentum, **hyperparameters)
    r = Renderer(w)
    template = latex_environment().get_template("graph.tex.j2")
    text = template.render(w=w, g=w.graph, r=r, fig=_graph_figure_view(w, r), **graph_symbols(w))
    return re.sub(r"\n{3,}", "\n\n", text).lstrip("\n")


def _graph_figure_view(w, r: Renderer) -> dict:
    """The graph's figure as TikZ geometry: columns a fixed distance apart (closer for a long graph), rows
    below each other."""
    f = w.figure
    dx = round(min(2.2, 15.0 / max(1, f.columns - 1)), 3)
    nodes = []
    for n in f.nodes:
        style = "loss" if n.loss else "op" if n.op else "value"
        tex = n.op if n.op else r.tex(n.symbol)
        nodes.append({"key": n.key, "x": round(dx * n.column, 3), "y": round(-1.6 * n.row, 3), "style": style,
                      "tex": tex, "caption": r.text(n.caption)})
    edges = [{"src": e.src, "dst": e.dst, "skip": e.skip, "local": r.tex(e.local) if e.local is not None else None}
             for e in f.edges]
    return {"nodes": nodes, "edges": edges}


# -- compiling ---------------------------------------------------------------------------------
#: the longest a LaTeX run may take (the 784-256-10 write-up takes about 5 s)
LATEX_SECONDS = 180


def compile_pdf(tex: str, out_pdf: Path, runs: int = 2) -> bytes:
    """Compile in a temporary directory and return the PDF's bytes; a LaTeX error becomes one line."""
    latexmk, pdflatex = shutil.which("latexmk"), shutil.which("pdflatex")
    if not pdflatex:
        raise TexError(f"no TeX engine found (pdflatex); install it, e.g. on Debian/Ubuntu: "
                       f"apt-get install {TEX_PACKAGES}")
    with tempfile.TemporaryDirectory(prefix="symnet-tex-") as tmp:
        src = Path(tmp) / "writeup.tex"
        src.write_text(tex, encoding="utf-8")
        if latexmk:
            cmds = [[latexmk, "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
                     "writeup.tex"]]
        else:
            cmds = [[pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
                     "writeup.tex"]] * runs
        name = out_pdf.with_suffix(".tex").name
        for cmd in cmds:
            try:
                proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, errors="replace",
                                      timeout=LATEX_SECONDS, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise TexError(f"LaTeX did not finish {name} in {LATEX_SECONDS} s; is the TeX installation "
                               f"waiting for something? (try pdflatex by hand)") from None
            if proc.returncode != 0:
                log = (Path(tmp) / "writeup.log")
                raise TexError(f"LaTeX failed on {name}: "
                               f"{first_error(log.read_text(errors='replace') if log.exists() else proc.stdout)}")
        pdf = Path(tmp) / "writeup.pdf"
        if not pdf.is_file() or pdf.stat().st_size == 0:
            raise TexError(f"LaTeX reported success on {name} but wrote no PDF; check the TeX installation")
        return pdf.read_bytes()


def first_error(log: str) -> str:
    """The first LaTeX error of a log, with its line number, as one line."""
    m = re.search(r"^(?:\./)?writeup\.tex:(\d+): (.*)$", log, re.M)
    if m:
        return f"line {m[1]}: {m[2].strip()}"
    m = re.search(r"^! (.*)$", log, re.M)
    return m[1].strip() if m else "see the log (no error line found)"
