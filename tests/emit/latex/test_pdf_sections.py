"""The write-ups compile with latexmk with no Overfull \\hbox at all — the generated ones of the reference
articles, the wide nets 784-256-10 and 64-128-128-128-10, and 3-4-2 — and 3-4-2 (tanh, softmax,
cross-entropy: every parameter) is no longer than 784-256-10 (samples of 203,530).  Slow: LaTeX runs."""
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import symnet
from symnet.emit.latex.render import render_document
from symnet.regenerate import GENERATED
from tests.emit.latex import writeups

HAVE_TEX = shutil.which("latexmk") is not None and shutil.which("pdflatex") is not None
if not HAVE_TEX and not os.environ.get("CI"):
    pytest.skip("latexmk/pdflatex are not installed (CI installs them)", allow_module_level=True)

pytestmark = pytest.mark.slow


def latexmk(tex: str) -> tuple[int, str, int]:
    """Compile with latexmk in a temporary directory: the exit status, the log and the page count."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "doc.tex").write_text(tex)
        proc = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                              cwd=tmp, capture_output=True, text=True, errors="replace", timeout=600,
                              stdin=subprocess.DEVNULL)
        log = Path(tmp, "doc.log").read_text(errors="replace") if Path(tmp, "doc.log").exists() else proc.stdout
        pages = re.search(r"Output written on doc\.pdf \((\d+) page", log)
        return proc.returncode, log, int(pages[1]) if pages else 0


def problems(log: str) -> list[str]:
    return re.findall(r"^! .*$", log, re.M) + re.findall(r"^Overfull \\hbox.*$", log, re.M)


@pytest.fixture(scope="module")
def compiled():
    docs = {p.stem: p.read_text() for p in sorted(GENERATED.glob("*.tex"))}
    docs["784-256-10"] = writeups.latex("784-256-10")
    docs["64-128-128-128-10"] = writeups.latex("64-128-128-128-10")
    docs["3-4-2"] = render_document(symnet.derive("3-4-2", hidden="tanh", output="softmax", loss="cce"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(docs, pool.map(latexmk, docs.values())))


@pytest.mark.parametrize("name", [*sorted(p.stem for p in GENERATED.glob("*.tex")), "784-256-10",
                                  "64-128-128-128-10", "3-4-2"])
def test_compiles_with_no_overfull_box(compiled, name):
    rc, log, pages = compiled[name]
    assert rc == 0 and pages > 0 and problems(log) == [], problems(log) or log[-2000:]


def test_every_parameter_of_3_4_2_takes_no_more_pages_than_samples_of_784_256_10(compiled):
    assert compiled["3-4-2"][2] <= compiled["784-256-10"][2]
