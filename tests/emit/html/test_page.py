"""`symnet derive --html`: the web-page write-up from the same document model as the LaTeX — parsed as HTML,
self-contained, its formulas SymPy's presentation MathML in the articles' notation, its figure SVG — and
drawn by a real headless browser (Debian's ``chromium``; the browser tests are slow and skip only outside
CI when it is missing)."""
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sympy as sp

import symnet
from symnet.cli import main
from symnet.emit.html.mathml import mathml
from symnet.emit.html.page import render_page
from symnet.regenerate import GENERATED

ROOT = Path(__file__).resolve().parents[3]
VALUES = GENERATED / "article1_2-2-1.values.toml"
E = sp.Symbol("E", real=True)
W111 = sp.Symbol("W1[1,1]", real=True)


@pytest.fixture(scope="module")
def article1_page():
    return render_page(symnet.derive("2-2-1", bias="augmented"), values=VALUES)


class Page(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def named(self, tag):
        return [a for t, a in self.tags if t == tag]


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    p.close()
    return p


def xml(fragment: str) -> ET.Element:
    # the printer's entities (&InvisibleTimes;, &ExponentialE;) are HTML's; give XML their characters
    fragment = fragment.replace("&InvisibleTimes;", "\u2062").replace("&ExponentialE;", "\u2147")
    return ET.fromstring(f"<math>{fragment}</math>")


def test_page_parses_and_holds_mathml_and_an_svg_figure(article1_page):
    p = parse(article1_page)
    assert article1_page.startswith("<!DOCTYPE html>")
    assert p.named("meta")[0] == {"charset": "utf-8"}
    assert len(p.named("math")) > 50
    # the network (2 + 2 + 1 neurons, two bias inputs) and the computational graph (its error node)
    assert len(p.named("svg")) == 2 and len(p.named("circle")) == 8
    # the chain rule of ∂E/∂W⁽¹⁾₁₁ is a displayed <math>: ∂E/∂W⁽¹⁾₁₁ = ∂E/∂ŷ ∂ŷ/∂h⁽²⁾₁ ∂h⁽²⁾₁/∂h⁽¹⁾₁ ∂h⁽¹⁾₁/∂W⁽¹⁾₁₁
    displays = re.findall(r'<math display="block">(.*?)</math>', article1_page, re.S)
    lhs = mathml(sp.Derivative(E, W111, evaluate=False))
    chain = [d for d in displays if d.count("<mfrac>") == 5 and lhs in d]
    assert chain, "no display holds the chain rule of ∂E/∂W⁽¹⁾₁₁"
    factors = [mathml(sp.Derivative(a, b, evaluate=False)) for a, b in (
        (E, sp.Symbol("yhat", real=True)), (sp.Symbol("yhat", real=True), sp.Symbol("h2[1]", real=True)),
        (sp.Symbol("h2[1]", real=True), sp.Symbol("h1[1]", real=True)), (sp.Symbol("h1[1]", real=True), W111))]
    positions = [chain[0].find(f) for f in factors]
    assert -1 not in positions and positions == sorted(positions)
    # the augmented notation: no b anywhere, the bias is W⁽¹⁾₃₁
    assert "<mi>b</mi>" not in article1_page.replace('<mi mathvariant="bold">b</mi>', "")
    assert mathml(sp.Symbol("W1[3,1]", real=True)) in article1_page
    # the worked example's numbers (the first article's ∂E/∂W⁽¹⁾₁₁ and E)
    assert "<mn>0.274811083</mn>" in article1_page


def test_page_loads_nothing_from_anywhere(article1_page):
    p = parse(article1_page)
    assert not p.named("script") and not p.named("link") and not p.named("iframe") and not p.named("img")
    for tag, attrs in p.tags:
        for name in ("src", "href", "srcset", "data", "action", "poster"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:|//|data:)", value, re.I), (tag, name, value)
    assert "http://" not in article1_page and "https://" not in article1_page
    assert "@import" not in article1_page and "url(" not in article1_page.replace('url(#arrow)', "")
    article1_page.encode("utf-8")


def test_mathml_of_a_weight_and_its_gradient_is_the_articles_notation():
    # W⁽¹⁾₁₁: msubsup(W, 11, (1))
    w = xml(mathml(W111))[0]
    assert w.tag == "msubsup"
    base, sub, sup = list(w)
    assert (base.tag, base.text) == ("mi", "W") and (sub.tag, sub.text) == ("mn", "11")
    assert sup.tag == "mrow" and [(c.tag, c.text) for c in sup] == [("mo", "("), ("mn", "1"), ("mo", ")")]
    # ∂E/∂W⁽¹⁾₁₁: a fraction with ∂E over ∂W⁽¹⁾₁₁
    frac = xml(mathml(sp.Derivative(E, W111, evaluate=False)))[0]
    assert frac.tag == "mfrac"
    num, den = list(frac)
    assert [(c.tag, c.text) for c in num] == [("mo", "\u2202"), ("mi", "E")]
    assert den[0].text == "\u2202" and ET.tostring(den[1]) == ET.tostring(w)
    # the gradient of 2-2-1, in chain order: (ŷ − y) ŷ (1 − ŷ) W⁽²⁾₁₁ a⁽¹⁾₁ (1 − a⁽¹⁾₁) x₁
    g = xml(mathml(symnet.derive("2-2-1").gradient("W1[1,1]")))[0]
    top = [c for c in g if not (c.tag == "mo" and c.text == "\u2062")]
    assert [c.tag for c in top] == ["mrow", "mover", "mrow", "msubsup", "msubsup", "mrow", "msub"]
    assert top[1][0].text == "y" and top[1][1].text == "^" and top[1].get("accent") == "true"  # ŷ
    assert [c.text for c in top[3][:2]] == ["W", "11"] and top[3][2][1].text == "2"
    assert [c.text for c in top[4][:2]] == ["a", "1"]
    assert [c.text for c in top[6]] == ["x", "1"]


def test_names_follow_the_latex_printers_rules():
    assert xml(mathml(sp.Symbol("b1[2]", real=True), bias_rows={1: 3}))[0][1].text == "32"  # W⁽¹⁾₃₂
    assert xml(mathml(sp.Symbol("W1[1,10]", real=True)))[0][1].tag == "mrow"  # W⁽¹⁾_{1,10}
    delta = xml(mathml(sp.Symbol("delta2[1]", real=True)))[0]
    assert delta.tag == "msubsup" and delta[0].text == "δ"
    sig = xml(mathml(symnet.functions.activations.ACTIVATION_CLASSES["sigmoid"](sp.Symbol("h1[1]", real=True))))[0]
    assert sig[0].text == "σ"
    relu = symnet.functions.activations.ACTIVATION_CLASSES["relu"]
    assert xml(mathml(relu(sp.Symbol("x"))))[0][0].text == "ReLU"


@pytest.mark.parametrize("spec,options", [
    ("2-3-2", ["--hidden", "relu", "--output", "softmax", "--loss", "cce"]),
    ("2-2-2-1", ["--hidden", "elu,silu", "--output", "identity", "--bias", "augmented"]),
    pytest.param("3-2-2", ["--hidden", "tanh", "--loss", "bce"], marks=pytest.mark.slow),
    pytest.param("64-32-10", ["--output", "softmax", "--loss", "cce"], marks=pytest.mark.slow),
])
def test_cli_writes_a_page_for_every_kind_of_network(tmp_path, capsys, spec, options):
    out = tmp_path / "page.html"
    assert main(["derive", spec, *options, "--html", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    p = parse(page)
    assert p.named("math") and p.named("svg") and not p.named("script")
    assert "Elementwise" not in page and "Piecewise" not in page and "yhat" not in page
    assert f"wrote {out}" in capsys.readouterr().out


def test_cli_html_default_name_and_refusals(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["derive", "2-2-1", "--html"]) == 0
    assert (tmp_path / "2-2-1.html").is_file()
    capsys.readouterr()
    assert main(["derive", "2-2-1", "--html", "--pdf", "-o", "x.html"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--html" in err and "--pdf" in err
    assert not (tmp_path / "x.html").exists()


def test_templates_load_from_the_checkout():
    from symnet.emit.templates import html_environment
    env = html_environment()
    assert env.autoescape is True
    source, filename, _ = env.loader.get_source(env, "page.html.j2")
    assert Path(filename) == ROOT / "templates" / "html" / "page.html.j2"


# -- a real browser ---------------------------------------------------------------------------
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI (.ci/run installs it: apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def screenshot(tmp_path: Path, page: str, name: str, height: int = 2000):
    import matplotlib.image

    browser = chromium()
    html = tmp_path / f"{name}.html"
    html.write_text(page, encoding="utf-8")
    png = tmp_path / f"{name}.png"
    subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox", f"--user-data-dir={tmp_path / 'profile'}",
                    f"--screenshot={png}", f"--window-size=1000,{height}", "--hide-scrollbars",
                    html.resolve().as_uri()], check=True, capture_output=True, timeout=180,
                   stdin=subprocess.DEVNULL)
    img = matplotlib.image.imread(str(png))[..., :3]
    return (img < 0.9).any(axis=-1)  # ink: any channel clearly below white


@pytest.mark.slow
def test_browser_draws_the_page(tmp_path, article1_page):
    ink = screenshot(tmp_path, article1_page, "page")
    assert ink.mean() > 0.01


@pytest.mark.slow
def test_browser_gives_the_formulas_boxes(tmp_path, article1_page):
    # everything but the MathML hidden: what ink is left is the formulas', laid out with real sizes
    only_math = article1_page.replace(
        "</style>", "* { visibility: hidden !important; } math, math * { visibility: visible !important; }\n</style>")
    ink = screenshot(tmp_path, only_math, "math")
    assert ink.mean() > 0.003
    rows = ink.any(axis=1).nonzero()[0]
    first = ink[rows[0]:rows[0] + 40]  # the first formula, in the notation list (xᵢ)
    assert first.any(axis=0).sum() >= 8 and first.any(axis=1).sum() >= 8
    # a displayed chain rule is tall (fractions over fractions) and wide
    cols = ink.any(axis=0).nonzero()[0]
    assert cols[-1] - cols[0] > 300
    # the browser prints the text of the formulas into a PDF: ∂, σ, ŷ are glyphs, not empty boxes
    pdftotext = shutil.which("pdftotext")
    if pdftotext:
        full, pdf = tmp_path / "full.html", tmp_path / "page.pdf"
        full.write_text(article1_page, encoding="utf-8")
        subprocess.run([chromium(), "--headless", "--disable-gpu", "--no-sandbox",
                        f"--user-data-dir={tmp_path / 'profile'}", f"--print-to-pdf={pdf}", "--no-pdf-header-footer",
                        full.resolve().as_uri()], check=True, capture_output=True, timeout=180,
                       stdin=subprocess.DEVNULL)
        text = subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "\u2202" in text and "σ" in text and "0.274811083" in text
