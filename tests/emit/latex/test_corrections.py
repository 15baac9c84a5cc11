"""What a reviewer found wrong in the write-ups, each checked in both renderers: the optimiser's words reach
the LaTeX as LaTeX text (an apostrophe, not &#39;); every equation of the worked example's backward pass is
true (with L2 decay its λ·θ is printed, paths left out are ⋯); a loss is described from the loss registry,
a defined one as what it is; the header's command is the exact command; and the update section numbers the
optimiser's own rule, cites it from the worked steps, counts the steps and explains momentum only where
the rule has a velocity."""
import dataclasses
import os
import re
import shutil
from functools import cache

import markupsafe
import pytest

import symnet
from symnet.cli import main
from symnet.derivation import update
from symnet.emit.html.page import render_writeup as html_of
from symnet.emit.latex.document import writeup_of
from symnet.emit.latex.render import Renderer, render_writeup as latex_of
from symnet.functions import formula
from symnet.numeric.worked import random_values

HUBER = "huber(yhat, y) = where(abs(yhat - y) <= 1, (yhat - y)^2/2, abs(yhat - y) - 1/2)"
OPTIMIZERS = ["sgd", "momentum", "nesterov", "rmsprop", "adam"]


@cache
def docs(spec: str, optimizer: str | None = None, **options):
    """The write-up of ``spec`` at random:1 values: the document, its LaTeX and its page."""
    d = symnet.derive(spec, **options)
    w = writeup_of(d, random_values(d.net, 1), optimizer=optimizer)
    return w, latex_of(w), html_of(w)


# -- a: plain words are escaped for LaTeX, not for HTML ----------------------------------------------------
WORDS = "each parameter's step & 50% of it #1 {x} ~ y_2 ^ \\ <"


@pytest.fixture
def awkward_words(monkeypatch):
    """RMSprop explained in words with every character LaTeX treats specially (an apostrophe among them)."""
    monkeypatch.setitem(update.OPTIMIZERS, "rmsprop", dataclasses.replace(update.RMSPROP, why=WORDS))


def test_the_optimisers_words_are_latex_text(awkward_words):
    d = symnet.derive("2-1-1")
    w = writeup_of(d, optimizer="rmsprop")
    tex, page = latex_of(w), html_of(w)
    assert Renderer.text(WORDS) in tex and "&#39;" not in tex and "&amp;" not in tex
    assert Renderer.text(WORDS) == (r"each parameter's step \& 50\% of it \#1 \{x\} \textasciitilde{} y\_2 "
                                    r"\textasciicircum{} \textbackslash{} \textless{}")
    assert str(markupsafe.escape(WORDS)) in page  # the page escapes for HTML, once


# -- b: the worked example's backward pass prints true equations -------------------------------------------
def latex_rows(tex: str) -> list[tuple[str, str]]:
    """(left side, right side) of each row of the worked example's backward pass."""
    worked = tex[tex.index(r"\section{Worked example}"):]
    body = worked[worked.index(r"\begin{align*}") + len(r"\begin{align*}"):worked.index(r"\end{align*}")]
    rows = []
    for line in body.strip().split(" \\\\\n"):
        if line.lstrip().startswith(r"&\quad"):
            rows[-1] = (rows[-1][0], rows[-1][1] + " " + line.split(r"&\quad", 1)[1])
        else:
            lhs, rhs = line.split("&=", 1)
            rows.append((lhs.strip(), rhs))
    return rows


def number(text: str) -> float:
    m = re.fullmatch(r"\(?(-?[0-9.]+)(?: \\times 10\^\{(-?[0-9]+)\})?\)?", text.strip())
    assert m, text
    return float(m[1]) * 10 ** int(m[2] or 0)


def check_sum(terms: list[list[float]], total: float) -> None:
    products = [float(__import__("math").prod(t)) for t in terms]
    scale = sum(abs(p) for p in products) + abs(total)
    assert abs(sum(products) - total) <= 2e-8 * scale + 1e-15, (terms, total)


@pytest.mark.parametrize("spec, options", [("2-1-1", dict(l2=0.1)),
                                           pytest.param("2-3-3-2", dict(hidden="tanh", l2=0.05), marks=pytest.mark.slow)])
def test_every_worked_equation_holds(spec, options):
    w, tex, page = docs(spec, **options)
    rows = latex_rows(tex)
    chains = {str(c.param): c for c in w.worked.chains}
    assert len(rows) == len(chains)
    elided = decayed = 0
    for (lhs, rhs), c in zip(rows, w.worked.chains):
        sides = [s.strip() for s in rhs.split(" = ")]
        if len(sides) == 1:  # one factor: the gradient itself
            assert number(sides[0]) == pytest.approx(c.gradient, rel=1e-8)
            continue
        expr, total = sides
        assert number(total) == pytest.approx(c.gradient, rel=1e-8, abs=1e-15)
        terms = [t for t in re.split(r" \+ ", expr)]
        if r"\cdots" in terms:  # paths left out: the equation says so, and the rest holds for what is shown
            assert c.more > 0
            elided += 1
            continue
        factors = [[number(f) for f in t.split(r" \cdot ")] for t in terms]
        check_sum(factors, number(total))
        decayed += c.decay is not None
        if c.decay is not None:  # the decay term's numbers, λ and θ, are the last term
            assert factors[-1] == pytest.approx(list(c.decay), rel=1e-8)
        assert not re.search(r"\+ -", expr), expr  # + (−0.6), never + −0.6
    assert decayed > 0
    if spec == "2-3-3-2":
        assert elided > 0
    # the page prints the same terms: every decay term's λ · θ, and the ⋯ of the paths left out
    for c in w.worked.chains:
        if c.decay is not None:
            lam, theta = (f"{v:.9g}".replace("-", "\u2212") for v in c.decay)
            assert re.search(rf"<mn>{re.escape(lam)}</mn><mo>·</mo>(<mrow><mo[^>]*>\(</mo>)?<mn>{re.escape(theta)}</mn>",
                             page), (lam, theta)
    assert ("<mo>\u22ef</mo>" in page.split('id="worked"')[1]) == (elided > 0)


# -- c: a loss is described from the registry ------------------------------------------------------------
@pytest.mark.parametrize("spec, options, words", [
    ("2-1-1", dict(), "half the squared error between prediction and target"),
    ("2-1-2", dict(output="sigmoid", loss="bce"), "the binary cross-entropy between prediction and target, summed over the outputs"),
    ("2-1-2", dict(output="softmax", loss="cce"), "the cross-entropy between the predicted distribution"),
    ("2-1-1", dict(output="identity", loss="huber"), "the loss huber, defined with"),
])
def test_the_loss_is_described_from_the_registry(spec, options, words):
    if options.get("loss") == "huber":
        formula.define([HUBER])
    d = symnet.derive(spec, **options)
    w = writeup_of(d)
    tex, page = latex_of(w), html_of(w)
    error = tex[tex.index(r"\section{The error function}"):tex.index(r"\section{Lemmas")]
    assert f"The error of one sample is {words}" in error
    assert f"The error of one sample is {words}" in page
    if options.get("loss") != "cce":
        assert "one-hot" not in error and "cross-entropy" not in error.replace("binary cross-entropy", "")


# -- d: the header's command is the exact command ----------------------------------------------------------
def test_the_header_names_the_exact_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["derive", "2-1-1", "--define", HUBER, "--loss", "huber", "--output", "identity", "--optimizer", "adam"]
    assert main([*args, "-o", "out.tex"]) == 0
    tex = (tmp_path / "out.tex").read_text()
    command = tex.splitlines()[0][2:]
    assert command.startswith("symnet derive --define") and "--optimizer adam" in command
    assert rf"Written by symnet: \texttt{{{Renderer.code(command)}}}" in tex
    assert r"-{}-define \textquotesingle{}huber(yhat, y)" in tex and "-{}-optimizer adam" in tex
    assert main([*args, "--html", "-o", "out.html"]) == 0
    page = (tmp_path / "out.html").read_text()
    command = re.search(r'<meta name="generator" content="([^"]*)">', page)[1]
    assert f"Written by symnet: <code>{command}</code>" in page
    assert "--define" in command and "--optimizer adam" in command and "--html" in command
    capsys.readouterr()


def test_a_document_without_a_command_has_no_header_line():
    w, _, _ = docs("2-1-1")
    blank = writeup_of(symnet.derive("2-1-1"))
    blank.command = ""
    assert "Written by symnet" not in latex_of(blank) and "Written by symnet" not in html_of(blank)
    assert "Written by symnet" in latex_of(w)


# -- e: the update section, optimiser by optimiser -------------------------------------------------------
def page_number(page: str, label: str) -> str:
    """The number the page gives the equation labelled ``label``."""
    row = page[page.index(f'id="{label.replace(":", "-")}"'):]
    return re.search(r'<mtd class="number"><mtext>\((\d+)\)</mtext>', row)[1]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_the_update_section_fits_the_optimiser(optimizer):
    w, tex, page = docs("2-1-1", optimizer)
    momentum = optimizer in ("momentum", "nesterov")
    steps = 1 if optimizer == "sgd" else 2
    assert (r"\paragraph{Momentum.}" in tex) == momentum and ("<b>Momentum.</b>" in page) == momentum
    # the optimiser's own rule is numbered, and the worked steps cite it
    label = "eq:update" if optimizer == "sgd" else "eq:optimizer"
    assert (r"\label{eq:optimizer}" in tex) == (optimizer != "sgd")
    worked = tex[tex.index(r"\section{Worked example}"):]
    assert re.search(rf"takes (one step|two steps on this sample)~\\eqref\{{{label}\}}:", worked)
    number = page_number(page, label)
    assert re.search(rf"takes (one step|two steps on this sample) <a href=\"#{label.replace(':', '-')}\">\({number}\)</a>",
                     page)
    # the rule is written out once: momentum's in the words on momentum, the others' in their own paragraph
    update = tex[tex.index(r"\section{The gradient-descent update}"):tex.index(r"\section{Worked example}")]
    assert update.count(r"\label{eq:optimizer}") == (optimizer != "sgd")
    if optimizer not in ("sgd", "momentum"):
        title = w.update.optimizer.title
        assert rf"\paragraph{{{title[0].upper()}{title[1:]}.}}" in update
        assert Renderer.text(w.update.optimizer.why) in update
    # the worked example's words count its steps
    intro = "one training step on one sample" if steps == 1 else "two training steps on one sample"
    assert intro in worked and intro in page
    assert ("one training step" in worked) == (steps == 1) and len(w.worked.steps) == steps


HAVE_TEX = shutil.which("pdflatex") is not None


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_TEX and not os.environ.get("CI"), reason="pdflatex is not installed (CI installs it)")
@pytest.mark.usefixtures("awkward_words")
@pytest.mark.parametrize("args", [["--optimizer", "rmsprop"],
                                  ["--define", HUBER, "--loss", "huber", "--output", "identity", "--optimizer", "adam",
                                   "--l2", "0.1", "--values", "random:1"]], ids=["rmsprop", "huber-adam-l2"])
def test_the_corrected_documents_compile(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    assert main(["derive", "2-2-1", *args, "-o", "net.tex", "--pdf"]) == 0, capsys.readouterr().err
    assert (tmp_path / "net.pdf").read_bytes().startswith(b"%PDF")
