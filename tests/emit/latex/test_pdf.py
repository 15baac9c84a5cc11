"""Every write-up compiles: zero LaTeX errors and no Overfull \\hbox wider than 20pt.

One document per (output, loss) pair the spec accepts, the hidden activations taking turns so that each
appears, plus nets of one, two and three hidden layers; compiled in parallel.  Skipped only when no TeX
engine is installed outside CI (in CI, with $CI set, a missing engine fails).
"""
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import symnet
from symnet.cli import main
from symnet.regenerate import GENERATED
from tests.conftest import HIDDEN, OUTPUT_LOSSES

HAVE_TEX = shutil.which("pdflatex") is not None
if not HAVE_TEX and not os.environ.get("CI"):
    pytest.skip("pdflatex is not installed (CI installs it)", allow_module_level=True)

pytestmark = pytest.mark.slow  # LaTeX runs
NETS = {f"{out}-{loss}-{HIDDEN[k % len(HIDDEN)]}": dict(spec="2-2-2", hidden=HIDDEN[k % len(HIDDEN)],
                                                        output=out, loss=loss)
        for k, (out, loss) in enumerate(OUTPUT_LOSSES)}
NETS.update({
    "one-hidden-augmented": dict(spec="2-2-1", hidden="sigmoid", output="sigmoid", loss="mse", bias="augmented"),
    "two-hidden": dict(spec="2-3-2-2", hidden="tanh,relu", output="softmax", loss="cce"),
    "three-hidden": dict(spec="2-2-2-2-1", hidden="tanh", output="sigmoid", loss="bce"),
    "no-hidden": dict(spec="3-2", output="softmax", loss="cce"),
    "wide": dict(spec="64-32-10", hidden="relu", output="softmax", loss="cce"),
})


def compile_log(tex: str) -> tuple[int, str, int]:
    """Compile twice in a temporary directory; the exit status, the log and the page count."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "doc.tex").write_text(tex)
        for _ in range(2):
            proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                                  cwd=tmp, capture_output=True, text=True, errors="replace")
            if proc.returncode:
                break
        log = Path(tmp, "doc.log").read_text(errors="replace")
        pages = re.search(r"Output written on doc\.pdf \((\d+) page", log)
        return proc.returncode, log, int(pages[1]) if pages else 0


def problems(log: str) -> list[str]:
    errors = re.findall(r"^! .*$", log, re.M)
    wide = [m for m in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log) if float(m) > 20]
    return errors + [f"Overfull \\hbox {w}pt" for w in wide]


@pytest.fixture(scope="module")
def compiled():
    docs = {}
    for name, opts in NETS.items():
        spec = opts.pop("spec")
        docs[name] = symnet.latex(symnet.derive(spec, **opts))
    docs["article1-values"] = symnet.latex(symnet.derive("2-2-1", bias="augmented"), 
        values=GENERATED / "article1_2-2-1.values.toml")
    docs["momentum"] = symnet.latex(symnet.derive("2-16-3", hidden="relu", output="softmax", loss="cce"), momentum=0.9)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip(docs, pool.map(compile_log, docs.values())))


@pytest.mark.parametrize("name", [*NETS, "article1-values", "momentum"])
def test_compiles_without_errors_or_wide_overfull_boxes(compiled, name):
    rc, log, pages = compiled[name]
    assert rc == 0 and problems(log) == [], problems(log) or log[-2000:]
    assert pages > 0


def test_wide_net_is_a_few_pages(compiled):
    assert compiled["wide"][2] <= 12


@pytest.mark.parametrize("article", sorted(p.stem for p in GENERATED.glob("*.tex")))
def test_generated_articles_compile(article):
    rc, log, _ = compile_log((GENERATED / f"{article}.tex").read_text())
    assert rc == 0 and problems(log) == [], problems(log) or log[-2000:]


def test_pdf_is_written_next_to_the_tex(tmp_path, capsys):
    out = tmp_path / "net.tex"
    assert main(["derive", "2-1-1", "--hidden", "relu", "--output", "identity", "-o", str(out), "--pdf"]) == 0
    assert out.read_text().splitlines()[1].startswith(r"\documentclass")
    assert out.with_suffix(".pdf").read_bytes().startswith(b"%PDF")


def test_missing_tex_engine_names_the_packages(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = tmp_path / "net.tex"
    assert main(["derive", "2-1-1", "-o", str(out), "--pdf"]) == 2
    err = capsys.readouterr().err
    assert "no TeX engine found" in err and "texlive-latex-base" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_latex_error_is_one_line(monkeypatch, tmp_path):
    from symnet.emit.latex.render import TexError, compile_pdf
    with pytest.raises(TexError) as err:
        compile_pdf("\\documentclass{article}\\begin{document}\\undefinedcommand\\end{document}\n",
                    tmp_path / "bad.pdf")
    assert "Undefined control sequence" in str(err.value) and "\n" not in str(err.value)
