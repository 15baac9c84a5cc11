"""Every write-up's first line is the command that writes it again, byte for byte, and the reference
articles' worked examples are the numbers an independent NumPy forward and backward pass gives."""
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

import symnet
from symnet.cli import main
from symnet.emit.latex.document import writeup_of
from symnet.numeric.worked import load_values
from symnet.regenerate import GENERATED, articles

ARTICLES = articles()


@pytest.mark.parametrize("article", [pytest.param(a, marks=[pytest.mark.slow] if n else []) for n, a in
                                     enumerate(ARTICLES)], ids=lambda a: a.name)
def test_the_first_line_regenerates_the_file_byte_for_byte(article, tmp_path, monkeypatch, capsys):
    written = (GENERATED / f"{article.name}.tex").read_text()
    first = written.splitlines()[0]
    assert first.startswith("% symnet derive ")
    (tmp_path / "generated").mkdir()
    for values in GENERATED.glob("*.values.toml"):
        shutil.copy(values, tmp_path / "generated" / values.name)
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(first[len("% symnet "):])) == 0
    assert (tmp_path / "generated" / f"{article.name}.tex").read_text() == written


@pytest.mark.slow
def test_a_command_line_write_up_names_its_own_options(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["derive", "2-3-1", "--hidden", "tanh", "--l2", "0.01", "--optimizer", "adam", "--beta1", "0.8",
            "--values", "random:3", "--params", "W1[1,1],b2[1]", "-o", "my file.tex"]
    assert main(args) == 0
    first = (tmp_path / "my file.tex").read_text().splitlines()[0]
    assert first == ("% symnet derive 2-3-1 --hidden tanh --output sigmoid --loss mse --l2 0.01 --values random:3 "
                     "--params 'W1[1,1],b2[1]' --optimizer adam --beta1 0.8 -o 'my file.tex'")
    again = tmp_path / "again"
    again.mkdir()
    monkeypatch.chdir(again)
    assert main(shlex.split(first[len("% symnet "):])) == 0
    assert (again / "my file.tex").read_text() == (tmp_path / "my file.tex").read_text()


def numpy_pass(net, values):
    """E and ∂E/∂θ of one sample by a plain NumPy forward and backward pass (relu hidden, softmax + cce)."""
    params, a, pre = values.params, values.x, []
    acts = [values.x]
    for k in range(net.depth):
        h = a @ params[2 * k] + params[2 * k + 1]
        pre.append(h)
        a = np.exp(h - h.max()) / np.exp(h - h.max()).sum() if k == net.depth - 1 else np.maximum(h, 0)
        acts.append(a)
    error = -float(np.sum(values.y * np.log(a)))
    delta, grads = a - values.y, []
    for k in reversed(range(net.depth)):
        grads[:0] = [np.outer(acts[k], delta), delta]
        if k:
            delta = (params[2 * k] @ delta) * (pre[k - 1] > 0)
    return error, np.concatenate([g.reshape(-1) for g in grads])


@pytest.mark.parametrize("article", [pytest.param(a, marks=[pytest.mark.slow] if n else []) for n, a in
                                     enumerate(a for a in ARTICLES if a.net.output == "softmax")],
                         ids=lambda a: a.name)
def test_worked_numbers_of_articles_2_to_4_equal_numpy(article):
    values = load_values(GENERATED / article.values, article.net)
    ws = writeup_of(symnet.derive(article.net), values, momentum=article.momentum).worked
    error, grads = numpy_pass(article.net, values)
    assert ws.error == pytest.approx(error, rel=1e-12)
    shown = {str(p): g for p, _, g, _, _ in ws.steps[0].rows}
    flat = dict(zip(map(str, symnet.derive(article.net).model.params), grads))
    assert shown and all(g == pytest.approx(flat[name], rel=1e-9, abs=1e-15) for name, g in shown.items())
    assert len(ws.steps) == (2 if article.momentum else 1)
    assert ws.steps[-1].error_after < ws.error  # the step lowers this sample's error
