"""Every write-up teaches: the chain-rule primer, the composite view, the computational graph, the σ′/tanh′/
softmax steps and the words on the learning rate, batches and momentum are there for each reference
article's network and for the wide nets; and it is typeset concisely (α ∂C/∂W, no · 1, the indicator
instead of a second δ, E and C apart, natural index order, numbered equations cited later, chains of one
shape as one chain and a table, Σ for wide outputs, no b in the augmented notation)."""
import re
from pathlib import Path

import pytest
import sympy as sp

import symnet
from symnet.emit.latex.printer import latex as tex_of
from symnet.emit.latex.render import render_document
from tests.emit.latex import writeups
from tests.emit.latex.writeups import NAMES, SLOW

ROOT = Path(__file__).resolve().parents[3]


def cases(names=NAMES):
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


@pytest.mark.parametrize("name", cases())
def test_every_teaching_section_is_there(name):
    tex = writeups.latex(name)
    w = writeups.writeup(name)
    # (a) the chain rule for one variable and the sum over intermediate variables, numbered
    assert r"\section{The chain rule}" in tex and r"\label{eq:chain}" in tex and r"\label{eq:chain-sum}" in tex
    assert r"\frac{\partial}{\partial x} f(g(x))" in tex and r"f'(g(x)) g'(x)" in tex
    # (b) the network as a composite, SymPy's derivative the product of the layers' derivatives
    assert r"\subsection{The network as a composite function}" in tex
    L = w.net.depth
    assert r"\ell'" in tex and all(f"f^{{({k})\\prime}}" in tex for k in range(1, L + 1))
    # (c) the computational graph: a row of ×W (+b) f per layer, the error, local derivatives on the edges
    assert r"\section{The computational graph}" in tex and r"\label{fig:graph}" in tex
    figure = tex[tex.index(r"\label{sec:graph}"):tex.index(r"\label{fig:graph}")]
    assert figure.count(r"node[op]") == L * (2 if w.bias_rows else 3) and figure.count("node[loss]") == 1
    assert figure.count("node[midway, local]") >= 2 * L + 1 and "upstream" in figure
    # (d) the activations' and the softmax's steps
    if "sigmoid" in w.net.activations:
        assert r"\frac{1}{1 + e^{- x}} \, \frac{e^{- x}}{1 + e^{- x}}" in tex
    if w.net.output == "softmax":
        assert "By the quotient rule" in tex and r"\hat{y}_{1} \, (1 - \hat{y}_{1})" in tex
        assert re.search(r"-\s?\\hat\{y\}_\{1\} \\hat\{y\}_\{2\}", tex)  # −ŷ₁ŷ₂
    # (e) the learning rate, full batch against mini-batches, and momentum where the write-up uses it — in
    # words, the rules from SymPy
    for heading in ("The learning rate.", "Full batch or mini-batches."):
        assert rf"\paragraph{{{heading}}}" in tex
    momentum = w.update.optimizer.name in ("momentum", "nesterov")
    assert (r"\paragraph{Momentum.}" in tex) == momentum
    assert (r"v &\leftarrow \mu v - \alpha \frac{\partial C}{\partial \theta}" in tex) == momentum
    # (f) the matrix form: the forward and backward pass over a batch, every equation with its shape
    assert r"\section{The matrix form: a whole batch at once}" in tex
    matrix = tex[tex.index(r"\label{sec:matrix}"):tex.index(r"\label{sec:update}")]
    for k in range(1, L + 1):
        assert rf"H^{{({k})}} &= " in matrix and rf"\Delta^{{({k})}} &= " in matrix
        assert rf"\tag*{{$m \times n_{{{k}}}$}}" in matrix
        below = rf"(n_{{{k - 1}}} + 1)" if w.bias_rows else f"n_{{{k - 1}}}"
        assert rf"\frac{{\partial C}}{{\partial W^{{({k})}}}} &= " in matrix
        assert rf"\tag*{{${below} \times n_{{{k}}}$}}" in matrix
        assert (rf"\tag*{{$1 \times n_{{{k}}}$}}" in matrix) != bool(w.bias_rows)  # ∂C/∂b⁽ᵏ⁾, a row
    assert rf"\Delta^{{({L})}} &= \frac{{1}}{{m}}" in matrix  # the mean's 1/m
    if L > 1:
        assert r"\odot" in matrix and r"\Delta^{(2)} " in matrix
    assert "gemm" in matrix and "index rules" in matrix and r"\eqref{eq:delta-1}" in matrix


def test_the_matrix_form_is_printed_where_the_templates_kept_its_place():
    for template in ("templates/latex/writeup.tex.j2", "templates/html/page.html.j2"):
        text = (ROOT / template).read_text()
        assert "MATRIX FORM GOES HERE" not in text and "matrix_form(w.matrix_form)" in text


@pytest.mark.parametrize("name", cases())
def test_concise_and_well_typeset(name):
    tex = writeups.latex(name)
    w = writeups.writeup(name)
    # W − α ∂C/∂W: the learning rate first, of the batch's cost C (E is one sample's error)
    assert r"W^{(k)}_{ij} - \alpha \frac{\partial C}{\partial W^{(k)}_{ij}}" in tex
    assert r"\alpha \\" not in tex and r"} \alpha" not in tex
    assert r"C &= \frac{1}{m} \sum_{s=1}^{m} E_{s}" in tex and r"E &= \frac{1}{m}" not in tex
    # no factor 1 multiplied into a bias's chain, symbolically or in numbers
    assert not re.search(r"\\, 1(?![0-9.])", tex) and not re.search(r"\\cdot 1(?![0-9.])", tex)
    # the Kronecker delta is the indicator 1[q = j], never a δ without its layer
    assert r"\delta_{" not in tex
    if w.net.output == "softmax":
        assert r"\mathbf{1}[j = q]" in tex
    # numbered equations, each citation resolving to one of them
    labels = set(re.findall(r"\\label\{(eq:[^}]*)\}", tex))
    cited = set(re.findall(r"\\eqref\{([^}]*)\}", tex))
    assert {"eq:chain", "eq:chain-sum", "eq:update"} <= labels and cited and cited <= labels
    assert re.search(r"\\qquad\\text\{by~\\eqref\{eq:lemma-|\\qquad\\text\{by~\\eqref\{eq:softmax-error", tex)
    # a wide output layer is summed with Σ, never written out term by term
    if w.net.layers[-1] > 3:
        text = re.sub(r"\\begin\{tikzpicture\}.*?\\end\{tikzpicture\}", "", tex, flags=re.S)  # (the figures)
        assert r"\sum_{q=1}^{" in text and r"\hat{y}_{10}" not in text and "e^{h^{(2)}_{10}}" not in text


def test_article1_shows_one_chain_per_shape_and_no_bias_vector():
    tex = writeups.latex("article1_2-2-1")
    # W⁽¹⁾₁₁ (the first article's four-factor chain) and W⁽²⁾₁₁ written out, the rest as tables
    assert tex.count(r"\subsection*{The derivative with respect to") == 2
    assert tex.count(r"\subsection*{The derivatives with respect to the bias row") == 2
    for rest in ("W^{(1)}_{12}", "W^{(1)}_{21}", "W^{(1)}_{22}", "W^{(1)}_{31}", "W^{(1)}_{32}", "W^{(2)}_{21}"):
        assert re.search(re.escape(rest) + r" & ", tex), rest
    # the augmented notation's vector form multiplies x̃ = (x₁, x₂, 1); it has no b
    assert r"\mathbf{b}" not in tex and r"\mathbf{h}^{(1)} &= W^{(1)\top} \tilde{\mathbf{x}}" in tex
    assert r"\tilde{\mathbf{x}} &= \begin{pmatrix}x_{1}\\x_{2}\\1\end{pmatrix}" in tex, "x̃ = (x₁, x₂, 1)"


def test_chains_of_one_shape_are_one_chain_and_a_table():
    tex = render_document(symnet.derive("3-4-2", hidden="tanh", output="softmax", loss="cce"))
    # W⁽¹⁾ (12 weights), b⁽¹⁾, W⁽²⁾ (8), b⁽²⁾: one chain written out per layer, biases and the rest in tables
    assert tex.count(r"\subsection*{The derivative with respect to") == 2
    assert tex.count(r"\subsection*{The derivatives with respect to the biases") == 2
    assert "The other 11 parameters of this kind" in tex and "The other 7 parameters of this kind" in tex


def test_terms_in_natural_index_order():
    ys = [sp.Symbol(f"y{k}", real=True) for k in range(1, 11)]
    yh = [sp.Symbol(f"yhat[{k}]", real=True) for k in range(1, 11)]
    tex = tex_of(-sp.Add(*(a * sp.log(b) for a, b in zip(ys, yh))))
    positions = [tex.index(f"y_{{{k}}} \\log") for k in range(1, 11)]
    assert positions == sorted(positions)  # y₁, y₂, …, y₁₀ — not y₁, y₁₀, y₂
    w = [sp.Symbol(f"W1[{i},1]", real=True) for i in (1, 2, 10)]
    x = [sp.Symbol(f"x{i}", real=True) for i in (1, 2, 10)]
    tex = tex_of(sp.Add(*(a * b for a, b in zip(w, x))))
    assert tex.index("x_{2}") < tex.index("x_{10}")
