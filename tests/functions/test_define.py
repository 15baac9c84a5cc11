"""Activations and losses defined as formulas (--define, [define]): parsed by a whitelist, registered like
the built-ins, refused with one line when unsafe, unknown, recursive or not differentiable."""
import numpy as np
import pytest
import sympy as sp

from symnet.cli import main
from symnet.functions import formula
from symnet.functions.activations import ACTIVATION_CLASSES, Activation, inline, lemma, x
from symnet.functions.losses import LOSSES
from symnet.spec import Network

SWISH = "swish(x) = x*sigmoid(x)"
GELU = "gelu(x) = 0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3)))"
HUBER = "huber(yhat, y) = where(abs(yhat - y) <= 1, (yhat - y)**2/2, abs(yhat - y) - 1/2)"


def test_swish_lemma_equals_the_raw_derivative():
    formula.define([SWISH])
    L = lemma("swish")
    raw = sp.diff(inline(L.definition), x)
    assert sp.simplify(inline(L.compact) - raw) == 0
    assert ACTIVATION_CLASSES["swish"].latex_name == r"\operatorname{swish}"
    assert not ACTIVATION_CLASSES["swish"].kinked()


@pytest.mark.slow
def test_gelu_lemma_is_proved_equal_to_the_raw_derivative():
    formula.define([GELU])
    L = lemma("gelu")
    as_tanh = lambda e: e.replace(lambda a: isinstance(a, Activation), lambda a: sp.tanh(a.args[0]))  # noqa: E731
    raw = sp.diff(as_tanh(L.definition), x)
    assert sp.simplify(as_tanh(L.compact) - raw) == 0
    assert ACTIVATION_CLASSES["gelu"].numpy_function()(1.0) == pytest.approx(0.8411919906082768)


def test_huber_loss_derivative_is_the_raw_derivative():
    formula.define([HUBER])
    loss = LOSSES["huber"]
    assert not loss.unit_interval and not loss.one_hot and loss.real_targets
    p, t = sp.symbols("p t", real=True)
    derived = sp.diff(loss.term(p, t), p)
    by_hand = sp.Piecewise((p - t, sp.Abs(p - t) <= 1), (sp.sign(p - t), True))
    for a, b in [(0.3, 0.1), (2.5, 0.0), (-3.0, 1.0), (0.9, 1.4)]:
        pt = {p: sp.Rational(str(a)), t: sp.Rational(str(b))}
        assert sp.simplify(derived.subs(pt) - by_hand.subs(pt)) == 0


def test_where_gives_a_kinked_piecewise_activation():
    formula.define(["sq(x) = where(x > 0, x^2, 0.1*x)"])
    cls = ACTIVATION_CLASSES["sq"]
    assert isinstance(cls.definition(x), sp.Piecewise) and cls.kinked()


def test_registration_is_idempotent_and_refuses_a_different_formula():
    first = formula.define([SWISH])[0]
    assert formula.define(["swish(x) = x * sigmoid(x)"])[0] is first
    with pytest.raises(formula.FormulaError, match="already defined"):
        formula.define(["swish(x) = x*tanh(x)"])


def test_a_toml_spec_file_defines_functions(tmp_path):
    spec = tmp_path / "net.toml"
    spec.write_text('layers = [2, 3, 2]\nhidden = "swish"\noutput = "identity"\nloss = "huber"\n\n[define]\n'
                    'swish = "x*sigmoid(x)"\n"huber(yhat, y)" = "where(abs(yhat - y) <= 1, (yhat - y)^2/2, '
                    'abs(yhat - y) - 1/2)"\n')
    net = Network.load(str(spec))
    assert net.hidden == ("swish",) and net.loss == "huber"
    assert '"swish(x)" = "x*sigmoid(x)"' in net.to_toml()


BAD = [
    ("f(x) = foo(x)", "unknown function 'foo'"),
    ("f(x) = f(x)", "cannot be recursive"),
    ("f(x) = __import__('os')", "'__'"),
    ("f(x) = x.real", "attribute access"),
    ("f(x) = (lambda: x)()", "only named functions"),
    ("f(x) = where(x > 0, 1, 0)", "derivative is 0 at every sampled point"),
    ("f(x) = sqrt(x)", "not a finite real number"),
    ("relu(x) = x", "built-in name"),
    ("f(x) = x**1000", "exponent"),
    ("f(x) = " + "x+" * 600 + "x", "characters long"),
    ("f(x) = y", "unknown name 'y'"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_definitions_exit_2_with_one_line(text, message, capsys):
    assert main(["derive", "2-2-1", "--define", text, "--hidden", "f"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_later_definition_cannot_be_used_first(capsys):
    assert main(["derive", "2-2-1", "--define", "f(x) = g(x)", "--define", "g(x) = x", "--hidden", "f"]) == 2
    assert "g is defined after f" in capsys.readouterr().err


@pytest.mark.slow
def test_derive_writes_the_swish_lemma(tmp_path, capsys):
    out = tmp_path / "net.tex"
    assert main(["derive", "2-3-1", "--define", SWISH, "--hidden", "swish", "-o", str(out)]) == 0
    tex = out.read_text()
    assert r"\paragraph{The derivative of $\operatorname{swish}(x)$.}" in tex
    assert r"x \sigma(x) (1 - \sigma(x)) + \sigma(x)" in tex


@pytest.mark.slow
@pytest.mark.parametrize("hidden, output, loss", [("swish", "sigmoid", "mse"), ("sigmoid", "identity", "huber"),
                                                  ("gelu", "identity", "huber")])
def test_kernels_of_defined_functions_pass_gradcheck_and_equal_the_derivation(hidden, output, loss):
    from symnet.derivation.chains import derive
    from symnet.emit.numba.cache import compile as compile_kernel
    from symnet.numeric.evaluate import Evaluator
    from symnet.numeric.finite_differences import compare, gradcheck, random_point

    formula.define([SWISH, GELU, HUBER])
    net = Network.parse("2-3-2", hidden=hidden, output=output, loss=loss)
    for mode in ("unrolled", "indexed"):
        kernel = compile_kernel(net, mode)
        assert gradcheck(kernel).max_relative_error < 1e-6
    d = derive(net)
    params, X, Y = random_point(d)
    Y = Y * 3  # some outputs beyond Huber's kink at |ŷ − y| = 1
    assert compare(d, params, X, Y).max_relative_error < 1e-6
    for mine, theirs in zip(kernel.gradients(params, X, Y), Evaluator(d).gradients(params, X, Y)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_train_digits_with_swish(capsys):
    pytest.importorskip("sklearn")
    assert main(["train", "64-32-10", "--define", "swish(x)=x*sigmoid(x)", "--hidden", "swish", "--output",
                 "softmax", "--loss", "cce", "--data", "digits", "--epochs", "10", "--lr", "0.5", "--quiet"]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("test accuracy ")[1].split(",")[0])
    assert accuracy > 0.9, out
