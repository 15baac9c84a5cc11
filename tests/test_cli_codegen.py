"""`symnet codegen`, `symnet gradcheck`, `python -m symnet.regenerate` and the committed generated/."""
import os
import types
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet.functions.activations import Sigmoid, Softplus, Tanh
from symnet.cli import main
from symnet.emit.numba.builder import generate
from symnet.regenerate import articles, kernel, regenerate
from symnet.emit.numba.stable import LOG_RULES, shifted_log_sum_exp, shifted_softmax, softmax_from_lse

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def kernel_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SYMNET_CACHE", str(tmp_path_factory.getbasetemp() / "symnet-cache-cli"))


@pytest.mark.slow
def test_codegen_writes_the_generated_module(tmp_path, capsys):
    out = tmp_path / "k.py"
    assert main(["codegen", "2-4-3", "--hidden", "tanh", "--output", "softmax", "--loss", "cce",
                 "-o", str(out), "--mode", "indexed", "--dtype", "float32"]) == 0
    net = symnet.Network.parse("2-4-3", hidden="tanh", output="softmax", loss="cce")
    assert out.read_text() == generate(net, "indexed", "float32", output=str(out))
    assert f"wrote {out}: {net.describe()}, loops layout, float32" in capsys.readouterr().out


def test_codegen_reads_a_toml_spec(tmp_path):
    spec, out = tmp_path / "net.toml", tmp_path / "k.py"
    spec.write_text('layers = [2, 2, 1]\nhidden = "tanh"\noutput = "sigmoid"\nloss = "bce"\n')
    assert main(["codegen", str(spec), "-o", str(out)]) == 0
    assert "LOSS = 'bce'" in out.read_text()


@pytest.mark.parametrize("argv, message", [
    (["codegen", "2-2-1", "-o", "/no/such/dir/k.py"], "symnet: cannot write /no/such/dir/k.py: directory /no/such/dir does not exist"),
    (["codegen", "2-2-1", "--hidden", "swish", "-o", "k.py"], "symnet: unknown activation 'swish' for hidden layer 1"),
    (["codegen", "2-2-1"], "Missing option '-o'"),
    (["codegen", "2-2-1", "-o", "k.py", "--mode", "fast"], "Invalid value for '--mode'"),
])
def test_codegen_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "k.py").exists()


@pytest.mark.slow
def test_gradcheck_passes_a_generated_kernel(capsys):
    assert main(["gradcheck", "2-3-2", "--hidden", "relu", "--output", "softmax", "--loss", "cce"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gradcheck 2-3-2 --hidden relu --output softmax --loss cce (auto, float64): "
                          "max relative error ")
    assert out.rstrip().endswith("over 17 of 17 parameters (tolerance 1e-06): ok")
    assert float(out.split("max relative error ")[1].split()[0]) < 1e-8


@pytest.mark.slow
def test_gradcheck_fails_a_kernel_whose_gradients_are_wrong(capsys, monkeypatch):
    real = symnet.compile(symnet.Network.parse("2-2-1"), "auto")
    broken = types.SimpleNamespace(**{k: getattr(real, k) for k in ("LAYERS", "ACTIVATIONS", "LOSS", "DTYPE",
                                                                     "init_params", "loss")})
    broken.gradients = lambda p, X, Y: [1.01 * g for g in real.gradients(p, X, Y)]
    monkeypatch.setattr("symnet.emit.numba.cache.compile", lambda net, mode, dtype: broken)
    assert main(["gradcheck", "2-2-1"]) == 1
    err = capsys.readouterr().err
    assert "max relative error 9.9" in err and err.rstrip().endswith("(tolerance 1e-06): FAILED")
    assert err.startswith("symnet: gradcheck 2-2-1 --hidden sigmoid --output sigmoid --loss mse (auto, float64): ")
    assert err.count("\n") == 1


@pytest.mark.slow
def test_float32_gradcheck_uses_a_float32_tolerance(capsys):
    assert main(["gradcheck", "2-2-1", "--dtype", "float32"]) == 0
    assert "(tolerance 1e-02): ok" in capsys.readouterr().out


# -- generated/ -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_generated_files_are_fresh(tmp_path):
    """generated/ is what `python -m symnet.regenerate` writes today, byte for byte: kernels and write-ups."""
    written = regenerate(tmp_path)
    assert {p.name for p in written} == {f"{a.name}{ext}" for a in articles() for ext in (".py", ".tex")}
    for path in written:
        committed = ROOT / "generated" / path.name
        assert committed.is_file(), f"generated/{path.name} is missing: run python -m symnet.regenerate"
        assert committed.read_bytes() == path.read_bytes(), \
            f"generated/{path.name} is stale: run python -m symnet.regenerate"


def test_each_article_kernel_says_how_to_regenerate_it():
    for article in articles():
        name = f"{article.name}.py"
        assert f"symnet codegen {article.net.describe()} -o generated/{name} --mode auto" in kernel(article)


@pytest.mark.slow
def test_first_articles_kernel_trains_the_first_articles_network(tmp_path):
    copy = tmp_path / "article1.py"  # Numba's cache goes beside the module: not into generated/
    copy.write_bytes((ROOT / "generated" / "article1_2-2-1.py").read_bytes())
    kernel = symnet.emit.numba.cache.load(copy)
    params = kernel.init_params(0)
    X, Y = np.array([[0.05, 0.10]]), np.array([[0.01]])
    before = kernel.loss(params, X, Y)
    for _ in range(50):
        kernel.train_epoch(params, X, Y, 0.5, 1)
    assert kernel.loss(params, X, Y) < before / 10


# -- the stable forms are identities ---------------------------------------------------------------
def test_log_rules_are_identities_of_the_logistic_function():
    z = sp.Symbol("z", real=True)
    wild = LOG_RULES[0][0].atoms(sp.Wild).pop()
    for pattern, replacement in LOG_RULES:
        lhs, rhs = pattern.xreplace({wild: z}), replacement.xreplace({wild: z})
        definition = {Sigmoid(z): Sigmoid.definition(z), Softplus(z): Softplus.definition(z),
                      Softplus(-z): Softplus.definition(-z)}
        difference = sp.simplify(sp.expand_log((lhs - rhs).xreplace(definition), force=True))
        assert difference == 0
        for value in (-30.0, -1.0, 0.0, 2.5, 30.0):
            assert float(lhs.xreplace(definition).evalf(50, subs={z: value})) == pytest.approx(
                float(rhs.xreplace(definition).evalf(50, subs={z: value})), rel=1e-14)


def test_shifted_log_sum_exp_and_softmax_from_lse_are_identities():
    h = sp.symbols("h1:4", real=True)
    M, lse = sp.Symbol("M", real=True), sp.Symbol("lse", real=True)
    total = sum(sp.exp(v) for v in h)
    assert sp.simplify(sp.exp(shifted_log_sum_exp(total, M)) - total) == 0
    softmax = sp.exp(h[0]) / total
    assert softmax_from_lse(softmax, lse) == sp.exp(h[0] - lse)
    assert sp.simplify(softmax_from_lse(softmax, lse).subs(lse, sp.log(total)) - softmax) == 0
    shifted = shifted_softmax(softmax, M)
    assert shifted == sp.exp(h[0] - M) / sum(sp.exp(v - M) for v in h)
    assert sp.simplify(shifted - softmax) == 0


@pytest.mark.slow
def test_stable_helpers_match_the_activation_definitions_everywhere():
    kernel = symnet.compile(symnet.Network.parse("1-1-1", hidden="tanh", output="softplus"), "loops")
    z = sp.Symbol("z", real=True)
    values = [-800.0, -40.0, -1.0, -0.5, -1e-9, 0.0, 1e-300, 1e-3, 0.49, 0.51, 3.0, 19.0, 40.0, 800.0]
    for value in values + list(np.random.default_rng(0).normal(0, 2, 50)):
        for name, cls in (("sigmoid", Sigmoid), ("tanh", Tanh), ("softplus", Softplus)):
            exact = float(cls.definition(z).evalf(60, subs={z: value}))
            assert getattr(kernel, f"_{name}")(value) == pytest.approx(exact, rel=4e-16, abs=1e-100), (name, value)


@pytest.mark.slow
def test_the_kernel_cache_lives_where_the_environment_says(monkeypatch, tmp_path):
    from symnet.emit.numba.cache import cache_dir, kernel_path

    monkeypatch.setenv("SYMNET_CACHE", str(tmp_path / "k"))
    assert cache_dir() == tmp_path / "k"
    monkeypatch.delenv("SYMNET_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "symnet"
    net = symnet.Network.parse("2-2-1")
    # keyed by spec and options: another dtype or mode is another file, the same ones the same file
    assert kernel_path(net, "auto", "float64") == kernel_path(net, "auto", "float64")
    assert len({kernel_path(net, "auto", "float64"), kernel_path(net, "auto", "float32"),
                kernel_path(net, "indexed", "float64"), kernel_path(symnet.Network.parse("2-3-1"))}) == 4
