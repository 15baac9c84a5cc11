"""The web page has the write-up's teaching sections too — read from the page's text, no browser: the
chain-rule primer, the composite view, the computational graph as inline SVG with MathML labels, the
softmax's quotient rule, the words on the learning rate, batches and momentum, and numbered equations
whose citations resolve."""
import re

import pytest

from symnet.derivation.layer_form import width
from symnet.derivation.matrix_form import M
from symnet.emit.html.mathml import mathml
from symnet.emit.latex.forms import Shape
from tests.emit.latex import writeups
from tests.emit.latex.test_sections import cases


@pytest.mark.parametrize("name", cases())
def test_the_page_has_every_teaching_section(name):
    page = writeups.html(name)
    w = writeups.writeup(name)
    for heading in ('<h2 id="chain">The chain rule</h2>', '<h3 id="composite">The network as a composite function</h3>',
                    '<h2 id="graph-section">The computational graph</h2>', "<b>The learning rate.</b>",
                    "<b>Full batch or mini-batches.</b>", '<h2 id="matrix">The matrix form: a whole batch at once</h2>',
                    "<b>Why matrices.</b>"):
        assert heading in page, heading
    assert ("<b>Momentum.</b>" in page) == (w.update.optimizer.name in ("momentum", "nesterov"))
    # the matrix form's shapes, MathML in the column at the right of each equation
    matrix = page[page.index('<h2 id="matrix">'):page.index('<h2 id="update">')]
    for k in range(1, w.net.depth + 1):
        assert mathml(Shape(M, width(k))) in matrix
    assert "\u2299" in matrix or w.net.depth == 1  # ⊙
    # the graph: an inline SVG of its own, a box per operation, every label MathML
    svg = page[page.index('<figure id="graph">'):]
    svg = svg[:svg.index("</figure>")]
    L = w.net.depth
    assert svg.count("<rect ") == L * (2 if w.bias_rows else 3) and svg.count("<circle ") == 1
    assert svg.count("<foreignObject") >= svg.count("<rect ") and "<math>" in svg and "upstream gradient" in svg
    if w.net.output == "softmax":
        assert "By the quotient rule" in page and "indicator" in page
    # numbered equations: every mark replaced by its number, every citation by one that exists
    assert "\u27e6" not in page and "(?)" not in page
    numbers = re.findall(r'<mtext>\((\d+)\)</mtext>', page)
    assert numbers and [int(n) for n in numbers] == list(range(1, len(numbers) + 1))
    assert re.search(r"<mtext>by \(\d+\)", page)
    # E for a sample, C for the batch; α before the gradient; the indicator, not a second δ
    assert "<mo>\u2212</mo><mrow><mi>α</mi><mo>\u2062</mo><mfrac><mrow><mo>\u2202</mo><mi>C</mi></mrow>" in page
    assert '<msub><mi>δ</mi><mrow><mi>' not in page


@pytest.mark.parametrize("name", cases())
def test_the_page_and_the_pdf_have_the_same_sections(name):
    tex, page = writeups.latex(name), writeups.html(name)
    sections = re.findall(r"\\section\{([^}]*)\}", tex)
    headings = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<h2[^>]*>(.*?)</h2>", page)]
    assert headings == sections
