"""Breaking long equations across lines, so that no formula runs off the page.

An expression becomes a stream of tokens: unbreakable pieces of LaTeX, break opportunities between the
terms of a sum and the factors of a product (each with its nesting depth), and parentheses that may
enclose a break.  :func:`layout` fills lines greedily up to the text width, preferring to break at the
shallowest depth, and sizes the parentheses afterwards: ``\\left(``/``\\right)`` when a group stays on one
line, ``\\bigl(``/``\\bigr)`` when a break falls inside it (``\\left``/``\\right`` cannot span lines).

Widths are estimated from the LaTeX itself in em: close enough to choose break points; the compile
tests check the result against TeX's own Overfull-box warnings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import count

import sympy as sp

from symnet.emit.latex.printer import LatexPrinter, split_coefficient

#: the usable width of a display line in em (A4, 2.5 cm margins, 11 pt: 41.5 em), with room to spare
LINE_EM = 37.0


@dataclass(frozen=True)
class Piece:
    tex: str


@dataclass(frozen=True)
class Break:
    """A place to break: ``op`` joins the neighbours on one line, ``lead`` starts the next line."""

    op: str
    lead: str
    depth: int


@dataclass(frozen=True)
class Open:
    gid: int
    big: bool  # holds a fraction or a sum sign: a broken group needs \Bigl( rather than \bigl(


@dataclass(frozen=True)
class Close:
    gid: int
    big: bool


Token = Piece | Break | Open | Close
_ids = count()


# -- tokens from expressions -------------------------------------------------------------
def expr_tokens(expr: sp.Basic, p: LatexPrinter, depth: int = 0) -> list[Token]:
    """An expression as the printer prints it, with break opportunities between terms and factors."""
    if isinstance(expr, sp.MatrixExpr):
        # MatAdd and MatMul are Add and Mul too, but their order is the matrix product's: never reorder
        return matrix_tokens(expr, p, depth)
    if isinstance(expr, sp.Add):
        out: list[Token] = []
        for i, term in enumerate(p.ordered_terms(expr)):
            negative = bool(term.could_extract_minus_sign())
            if negative:
                term = -term
            if i == 0:
                out += [Piece("-")] if negative else []
            else:
                op = "-" if negative else "+"
                out.append(Break(f" {op} ", f"{op} ", depth))
            out += _term_tokens(term, p, depth)
        return out
    if isinstance(expr, sp.Mul):
        parts = p.mul_parts(expr)
        if parts.denom or not parts.numer or (parts.coeff.is_Rational and parts.coeff.q != 1):
            return [Piece(p.doprint(expr))]
        out = [Piece("-")] if parts.negative else []
        factors = ([parts.coeff] if parts.coeff != 1 else []) + parts.numer
        return out + product_tokens(factors, p, depth, sep=" ")
    if isinstance(expr, sp.Derivative) and isinstance(expr.expr, sp.Add) and len(expr.variable_count) == 1:
        (var, n), = expr.variable_count
        return [Piece(p.derivative_operator(var, n)), *group(expr_tokens(expr.expr, p, depth + 1), p)]
    return [Piece(p.doprint(expr))]


def matrix_tokens(expr: sp.MatrixExpr, p: LatexPrinter, depth: int = 0) -> list[Token]:
    """A matrix expression as the printer prints it, breakable between the terms of a sum and the
    factors of an entry-by-entry product (never inside a matrix product, whose order matters)."""
    if isinstance(expr, sp.MatAdd):
        out: list[Token] = []
        for k, (negative, coeff, core) in enumerate(p.matadd_terms(expr)):
            if k == 0:
                out += [Piece("-")] if negative else []
            else:
                op = "-" if negative else "+"
                out.append(Break(f" {op} ", f"{op} ", depth))
            if coeff == 1 and isinstance(core, sp.MatAdd):
                out += group(matrix_tokens(core, p, depth + 1), p)
            elif coeff == 1 and isinstance(core, sp.HadamardProduct):
                out += matrix_tokens(core, p, depth + 1)
            else:
                out.append(Piece(p.matrix_term_tex(coeff, core)))
        return out
    coeff, core = split_coefficient(expr)
    if coeff != 1 and isinstance(core, (sp.MatAdd, sp.HadamardProduct)):
        head = [Piece(p.coefficient_tex(coeff).strip())] if coeff != -1 else [Piece("-")]
        inner = matrix_tokens(core, p, depth + 1)
        return head + (group(inner, p) if isinstance(core, sp.MatAdd) else inner)
    if coeff == 1 and isinstance(core, sp.HadamardProduct) and not p.hadamard_parts(core)[1]:
        numer = p.hadamard_parts(core)[0]
        if len(numer) > 1:
            out = []
            for k, f in enumerate(numer):
                if k:
                    out.append(Break(r" \odot ", r"\odot ", depth))
                out += group(matrix_tokens(f, p, depth + 1), p) if isinstance(f, sp.MatAdd) else [
                    Piece(p.matrix_factor_tex(f))]
            return out
    return [Piece(p.doprint(expr))]


def _term_tokens(term: sp.Basic, p: LatexPrinter, depth: int) -> list[Token]:
    if isinstance(term, sp.Add):
        return group(expr_tokens(term, p, depth + 1), p)
    return expr_tokens(term, p, depth)


def group(inner: list[Token], p: LatexPrinter | None = None) -> list[Token]:
    gid = next(_ids)
    big = any(isinstance(t, Piece) and (r"\frac" in t.tex or r"\sum" in t.tex) for t in inner)
    return [Open(gid, big), *inner, Close(gid, big)]


def product_tokens(factors: list[sp.Basic], p: LatexPrinter, depth: int = 0, sep: str = r" \, ") -> list[Token]:
    """A product in the order given (the chain's), breakable between factors and inside sums."""
    out: list[Token] = []
    for i, f in enumerate(factors):
        if i:
            out.append(Break(sep, r"\times ", depth))
        if isinstance(f, sp.Add):
            out += group(expr_tokens(f, p, depth + 1), p)
        else:
            out.append(Piece(p.factor_tex(f, last=i == len(factors) - 1)))
    return out


def sum_tokens(terms: list[list[Token]], more: int = 0, depth: int = 0) -> list[Token]:
    """Terms already tokenised, joined by +; ``more`` further terms shown as ⋯."""
    out: list[Token] = []
    for i, t in enumerate(terms):
        if i:
            out.append(Break(" + ", "+ ", depth))
        out += t
    if more:
        out += [Break(" + ", "+ ", depth), Piece(r"\cdots")]
    return out


# -- widths --------------------------------------------------------------------------------
_CMD_EM = {
    ",": 0.17, ";": 0.28, ":": 0.22, "!": -0.17, " ": 0.33, "quad": 1.0, "qquad": 2.0,
    "cdot": 0.78, "times": 1.2, "leftarrow": 1.56, "in": 1.2, "odot": 1.2, "cdots": 1.5, "ldots": 1.2,
    "vdots": 0.5, "sum": 1.45, "prod": 1.3, "partial": 0.57, "log": 1.35, "tanh": 1.95, "exp": 1.55,
    "top": 0.8, "infty": 1.0, "circ": 1.2, "approx": 1.3, "mid": 0.6, "to": 1.5, "hat": 0.0,
}
_WRAPPERS = {"hat", "mathbf", "boldsymbol", "mathrm", "mathit", "mathbb", "bar", "tilde", "underbrace"}
_TEXT = {"operatorname", "text", "textrm", "textit", "mathrm"}
_DELIMS = {"left", "right", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr", "big", "Big"}


class _Measure:
    def __init__(self, tex: str):
        self.s, self.i = tex, 0

    def width(self) -> float:
        return self.seq()

    def seq(self, stop: str | None = None) -> float:
        total, last_script = 0.0, False
        while self.i < len(self.s):
            c = self.s[self.i]
            if stop and c == stop:
                break
            if c in "^_":
                self.i += 1
                w = 0.72 * self.atom()
                # a superscript and a subscript stack: count the wider of the two once
                total += max(0.0, w - last_script) if last_script else w
                last_script = w if not last_script else max(last_script, w)
                continue
            last_script = 0.0
            total += self.atom()
        return total

    def atom(self) -> float:
        s = self.s
        if self.i >= len(s):
            return 0.0
        c = s[self.i]
        if c == "{":
            self.i += 1
            w = self.seq("}")
            self.i += 1
            return w
        if c == "\\":
            return self.command()
        self.i += 1
        if c in "+-":
            return 1.22
        if c in "=<>":
            return 1.34
        if c in "()[]|":
            return 0.39
        if c in ",.;'":
            return 0.3
        if c in " &~\n":
            return 0.0
        return 0.52

    def text_arg(self) -> float:
        start = self.i
        self.atom()
        inner = self.s[start:self.i].strip("{}")
        return 0.5 * len(inner)

    def command(self) -> float:
        s = self.s
        j = self.i + 1
        if j < len(s) and not s[j].isalpha():
            self.i = j + 1
            return 0.0 if s[j] == "\\" else _CMD_EM.get(s[j], 0.4)
        while j < len(s) and s[j].isalpha():
            j += 1
        name, self.i = s[self.i + 1:j], j
        if name == "frac":
            return max(self.atom(), self.atom()) + 0.3
        if name in _DELIMS:
            if self.i < len(s) and s[self.i] == "\\":
                self.command()
            else:
                self.i += 1
            return 0.45
        if name in _TEXT:
            return self.text_arg()
        if name in _WRAPPERS:
            return self.atom()
        if name == "sqrt":
            return self.atom() + 1.0
        if name == "begin":
            return self.environment()
        if name in _CMD_EM:
            return _CMD_EM[name]
        return 0.6

    def environment(self) -> float:
        s = self.s
        close = s.index("}", self.i)
        env = s[self.i + 1:close]
        opening, closing = rf"\begin{{{env}}}", rf"\end{{{env}}}"
        # the matching end: environments of one kind may nest (a vector inside a vector)
        depth, at = 1, close
        while depth:
            nxt_end = s.index(closing, at)
            nxt_begin = s.find(opening, at)
            if 0 <= nxt_begin < nxt_end:
                depth, at = depth + 1, nxt_begin + len(opening)
            else:
                depth, at = depth - 1, nxt_end + len(closing)
        end = at - len(closing)
        body = s[close + 1:end]
        self.i = at
        if opening in body:  # a nested environment: measured as one piece, rows not split through it
            return _Measure(body).width() + 1.5
        rows = [r.split("&") for r in body.split(r"\\")]
        ncols = max(len(r) for r in rows)
        cols = [max((tex_width(r[k]) for r in rows if k < len(r)), default=0.0) for k in range(ncols)]
        return sum(cols) + 1.0 * (ncols - 1) + 1.5


def tex_width(tex: str) -> float:
    """The approximate width of display-style math in em."""
    return _Measure(tex).width()


def _token_width(t: Token) -> float:
    if isinstance(t, Piece):
        return tex_width(t.tex)
    if isinstance(t, Break):
        return tex_width(t.op.strip()) if t.op.strip() else 0.3
    return 0.45


# -- layout --------------------------------------------------------------------------------
def break_lines(tokens: list[Token], first: float, rest: float) -> list[list[Token]]:
    """Greedy line filling; a line starting after a break begins with that Break token."""
    lines: list[list[Token]] = [[]]
    width, avail = 0.0, first
    for tok in tokens:
        w = _token_width(tok)
        line = lines[-1]
        if width + w > avail:
            cut = _choose_break(line, avail)
            if cut is not None:
                moved = line[cut:]
                del line[cut:]
                lines.append(moved)
                avail = rest
                width = tex_width(moved[0].lead) + sum(_token_width(t) for t in moved[1:])
                line = lines[-1]
        line.append(tok)
        width += w
    return lines


def _choose_break(line: list[Token], avail: float) -> int | None:
    """The break to cut at: the shallowest one in the second half of the line, the latest among equals."""
    pos, candidates = 0.0, []
    for k, t in enumerate(line):
        if isinstance(t, Break) and k > 0:
            candidates.append((k, pos, t.depth))
        pos += _token_width(t)
    if not candidates:
        return None
    late = [c for c in candidates if c[1] >= 0.45 * avail] or candidates
    best = min(c[2] for c in late)
    return max(c[0] for c in late if c[2] == best)


def render_lines(lines: list[list[Token]]) -> list[str]:
    """The LaTeX of each line, parentheses sized by whether a break falls inside them."""
    line_of: dict[tuple[str, int], int] = {}
    for n, line in enumerate(lines):
        for t in line:
            if isinstance(t, Open):
                line_of[("open", t.gid)] = n
            elif isinstance(t, Close):
                line_of[("close", t.gid)] = n
    out = []
    for n, line in enumerate(lines):
        parts = []
        for k, t in enumerate(line):
            if isinstance(t, Piece):
                parts.append(t.tex)
            elif isinstance(t, Break):
                parts.append(t.lead if k == 0 and n > 0 else t.op)
            else:
                split = line_of[("open", t.gid)] != line_of[("close", t.gid)]
                size = ("\\Big" if t.big else "\\big") if split else ("" if not t.big else None)
                if isinstance(t, Open):
                    parts.append(r"\left(" if size is None else f"{size}l(" if size else "(")
                else:
                    parts.append(r"\right)" if size is None else f"{size}r)" if size else ")")
        out.append("".join(parts).strip())
    return out


@dataclass(frozen=True)
class Row:
    """One displayed relation: ``lhs rel rhs`` where rhs is a token stream (lhs may be empty:
    a further step of the equation above); ``tail`` is said after its last line ("by (3)"), and
    ``label`` numbers that line in a numbered display."""

    lhs: str
    rel: str
    rhs: list[Token]
    tail: str = ""
    label: str | None = None
    #: said at the right margin of its last line, where an equation number goes (a matrix's shape)
    tag: str = ""


def align_rows(rows: list[Row], width: float = LINE_EM, numbered: bool = False) -> str:
    """The body of an ``align*`` environment (``align`` when ``numbered``: every line is \\notag but
    the last of a labelled row): relations aligned, long right-hand sides broken."""
    lhs_w = max((tex_width(r.lhs) for r in rows), default=0.0)
    out = []
    for r in rows:
        # a citation is as wide as its number, (12), not as its label; an equation number takes 3 em
        room = tex_width(re.sub(r"\\eqref\{[^}]*\}", "(00)", r.tail)) + (0.0 if not numbered else 3.0)
        room += tex_width(r.tag) + 2.0 if r.tag else 0.0
        first = width - lhs_w - tex_width(r.rel) - 0.6 - room
        rest = width - lhs_w - 1.0 - 0.6 - room
        lines = render_lines(break_lines(r.rhs, first, rest))
        marks = [r"\notag"] * len(lines) if numbered else [""] * len(lines)
        if numbered and r.label:
            marks[-1] = rf"\label{{{r.label}}}"
        if r.tag:
            marks[-1] = rf"\tag*{{${r.tag}$}}"
        lines[-1] = lines[-1] + r.tail
        text = f"{r.lhs} &{r.rel} {lines[0]}".rstrip() + (f" {marks[0]}" if marks[0] else "")
        for line, mark in zip(lines[1:], marks[1:]):
            text += f" \\\\\n  &\\quad {line}" + (f" {mark}" if mark else "")
        out.append(text)
    return " \\\\\n".join(out)
