"""The activation lemmas: each compact derivative is derived from the definition and equals it."""
import numpy as np
import pytest
import sympy as sp

from symnet.functions.activations import ACTIVATION_CLASSES, Sigmoid, Tanh, lemma, x


def test_sigmoid_lemma_is_the_first_articles():
    L = lemma("sigmoid")
    assert sp.simplify(L.derivative - sp.exp(-x) / (1 + sp.exp(-x)) ** 2) == 0
    assert sp.expand(L.compact - Sigmoid(x) * (1 - Sigmoid(x))) == 0


def test_tanh_lemma_gives_one_minus_tanh_squared():
    assert sp.expand(lemma("tanh").compact - (1 - Tanh(x) ** 2)) == 0


def test_softplus_derivative_is_the_sigmoid():
    assert lemma("softplus").compact == Sigmoid(x)


def test_relu_derivative_at_zero_is_zero_by_convention():
    d = lemma("relu").compact
    assert [d.subs(x, v) for v in (-1, 0, 2)] == [0, 0, 1]
    # and that is what differentiating the piecewise definition gives
    raw = lemma("relu").derivative
    assert [raw.subs(x, v) for v in (-1, 0, 2)] == [0, 0, 1]


def test_leaky_relu_slope_is_one_hundredth():
    d = lemma("leaky_relu").compact
    assert [d.subs(x, v) for v in (-3, 0, 3)] == [sp.Rational(1, 100), sp.Rational(1, 100), 1]


@pytest.mark.parametrize("name", sorted(ACTIVATION_CLASSES))
def test_compact_derivative_equals_the_derivative_of_the_definition(name):
    L = lemma(name)
    compact = L.compact.replace(lambda e: e.func in ACTIVATION_CLASSES.values(), lambda e: e.expand_definition())
    for v in [-3.1, -0.7, 0.4, 2.5]:
        assert float(compact.subs(x, v)) == pytest.approx(float(L.derivative.subs(x, v)), rel=1e-12)
        # and the derivative of the definition is the slope of the function itself
        f = sp.lambdify(x, L.definition)
        slope = (f(v + 1e-6) - f(v - 1e-6)) / 2e-6
        assert float(L.derivative.subs(x, v)) == pytest.approx(slope, rel=1e-6)


@pytest.mark.parametrize("name", sorted(ACTIVATION_CLASSES))
def test_function_differentiates_through_its_lemma_and_evaluates_by_its_definition(name):
    cls = ACTIVATION_CLASSES[name]
    h = sp.Symbol("h", real=True)
    assert sp.diff(cls(h), h) == lemma(name).compact.subs(x, h)
    assert float(cls(sp.Float(0.3)).evalf()) == pytest.approx(float(cls.definition(sp.Float(0.3))))
    v = np.array([-800.0, -2.0, 0.5, 800.0])
    expected = [float(sp.N(cls.definition(sp.Float(t)), 30)) for t in v]
    assert np.allclose(cls.numpy_function()(v), expected, rtol=1e-14, atol=0)
