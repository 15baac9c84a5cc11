"""The matrix (batch) form: translated from the layer form, shaped m×n, and equal entry by entry to the
scalar derivation (its gradients, deltas and forward values) for any spec."""
import time

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symnet import Network, derive
from symnet.derivation.layer_form import layer_rule, width
from symnet.derivation.matrix_form import M, evaluate, matrix_form
from symnet.emit.latex.printer import latex
from symnet.numeric.evaluate import Evaluator
from symnet.verify.code import derived_gradients
from tests.conftest import HIDDEN, OUTPUT_LOSSES, point_away_from_kinks


def _scalar_values(net, params, X, Y):
    """What the scalar (per-symbol) derivation gives: gradients, per-sample forward values and deltas."""
    d = derive(net)
    ev = Evaluator(d)
    values = ev.evaluate(params, X, Y)
    return d, ev.gradients(params, X, Y), values


def _assert_matches_scalar(net, m, seed):
    d = derive(net)
    params, X, Y = point_away_from_kinks(d, m=m, seed=seed)
    _, grads, values = _scalar_values(net, params, X, Y)
    mine = evaluate(net, params, X, Y)
    L, model = net.depth, d.model
    for k in range(1, L + 1):
        np.testing.assert_allclose(mine[f"dW{k}"], grads[2 * k - 2], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(mine[f"db{k}"].reshape(-1), grads[2 * k - 1], rtol=1e-9, atol=1e-12)
        H = np.column_stack([values[h] for h in model.h[k]])
        A = np.column_stack([values[a] for a in model.a[k]])
        # Δ over the batch is each sample's δ with the mean's 1/m
        D = np.column_stack([values[d.delta(h).symbol] for h in model.h[k]]) / m
        np.testing.assert_allclose(mine[f"H{k}"], H, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(mine[f"A{k}"], A, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(mine[f"D{k}"], D, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mine["Yhat"], mine[f"A{L}"])


specs = st.builds(
    lambda widths, hidden, out_loss, l2: Network.build(
        widths, [hidden[k % len(hidden)] for k in range(len(widths) - 2)], *out_loss, l2=l2),
    st.lists(st.integers(1, 4), min_size=2, max_size=4).filter(lambda w: w[-1] >= 2),
    st.lists(st.sampled_from(HIDDEN), min_size=1, max_size=3),
    st.sampled_from(OUTPUT_LOSSES),
    st.sampled_from([0.0, 0.25]),
)


@pytest.mark.slow
@settings(max_examples=30)
@given(net=specs, m=st.integers(2, 6), seed=st.integers(0, 50))
def test_the_matrix_form_equals_the_scalar_derivation_for_random_specs(net, m, seed):
    _assert_matches_scalar(net, m, seed)


@pytest.mark.parametrize("spec, options", [
    ("2-3-1", {}),
    ("3-4-3", {"hidden": "tanh", "output": "softmax", "loss": "cce"}),
    ("2-3-2", {"hidden": "relu", "output": "sigmoid", "loss": "bce", "l2": 0.1}),
    ("2-2-3-2", {"hidden": "elu,softplus", "output": "softmax", "loss": "mse"}),
])
def test_the_matrix_form_equals_the_scalar_derivation(spec, options):
    _assert_matches_scalar(Network.parse(spec, **options), m=5, seed=3)


@pytest.mark.parametrize("spec, options", [
    ("4-5-3", {"hidden": "tanh", "output": "softmax", "loss": "cce"}),
    ("3-2-2-1", {"hidden": "softplus,silu", "output": "sigmoid", "loss": "bce", "l2": 0.05}),
])
def test_the_gradients_are_the_ones_check_code_compares_with(spec, options):
    net = Network.parse(spec, **options)
    params, X, Y = point_away_from_kinks(derive(net), m=7, seed=2)
    mine = evaluate(net, params, X, Y)
    theirs = derived_gradients(net, params, X, Y)
    for k in range(1, net.depth + 1):
        np.testing.assert_allclose(mine[f"dW{k}"], theirs[2 * k - 2], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(mine[f"db{k}"].reshape(-1), theirs[2 * k - 1], rtol=1e-10, atol=1e-13)


def same(a, b) -> bool:
    """Equal as expressions (sums and Hadamard products in any order)."""
    return sp.srepr(a) == sp.srepr(b)


def test_the_rules_read_as_the_textbook_writes_them():
    form = matrix_form(Network.parse("2-3-1"))  # sigmoid, sigmoid, ½ squared error
    X, Y = form.X, form.Y
    one, two = form.layer(1), form.layer(2)
    A1, Yhat, D1, D2 = one.A, two.A, one.D, two.D
    n = [width(k) for k in range(3)]
    ones = lambda r, c: sp.OneMatrix(r, c)  # noqa: E731
    assert same(one.forward_H, sp.MatAdd(sp.MatMul(ones(M, 1), one.b.T), sp.MatMul(X, one.W)))
    assert same(two.delta, sp.MatMul(1 / M, sp.HadamardProduct(ones(M, n[2]) - Yhat, Yhat - Y, Yhat)))
    assert same(one.delta, sp.HadamardProduct(ones(M, n[1]) - A1, A1, sp.MatMul(D2, two.W.T)))
    assert same(one.dW, sp.MatMul(X.T, D1)) and same(two.dW, sp.MatMul(A1.T, D2))
    assert same(one.db, sp.MatMul(ones(1, M), D1))
    assert same(two.dA_below, sp.MatMul(D2, two.W.T)) and same(one.dA_below, sp.MatMul(D1, one.W.T))
    assert same(two.dA, sp.MatMul(1 / M, Yhat - Y))
    assert form.assumption is None


def test_every_quantity_has_its_shape():
    form = matrix_form(Network.parse("3-4-5-2", hidden="tanh", output="softmax", loss="cce", l2=0.1))
    n = [width(k) for k in range(4)]
    shapes = form.shapes()
    assert shapes["X"] == (M, n[0]) and shapes["Y"] == (M, n[3]) and shapes["Yhat"] == (M, n[3])
    for k in (1, 2, 3):
        assert shapes[f"W{k}"] == (n[k - 1], n[k]) and shapes[f"b{k}"] == (n[k], 1)
        assert shapes[f"dW{k}"] == (n[k - 1], n[k]) and shapes[f"db{k}"] == (1, n[k])
        assert shapes[f"D{k}"] == shapes[f"H{k}"] == (M, n[k])
        assert shapes[f"dA{k - 1}"] == (M, n[k - 1])
    # every equation's two sides have one shape
    for lhs, rhs in form.equations():
        if isinstance(lhs, sp.MatrixSymbol):
            assert lhs.shape == rhs.shape
    # λW joins the weights' gradient, softmax + cross-entropy gives (Ŷ − Y)/m under Σⱼ yⱼ = 1
    assert form.layer(1).dW.has(form.layer(1).W) and form.assumption is not None
    assert same(form.layer(3).delta, sp.MatMul(1 / M, form.Yhat - form.Y))


def test_it_is_translated_from_the_layer_form():
    net = Network.parse("2-3-2", hidden="relu", output="softmax", loss="mse")
    form = matrix_form(net)
    for k in (1, 2):
        rule = form.layer(k).rule
        assert rule == layer_rule(Network.build([2, 2, 2], ["relu"], "softmax", "mse"), k)
    # ReLU′ as the lemma gives it (Heaviside with H(0) = 0), applied to H1 element-wise
    assert form.layer(1).delta.has(sp.Heaviside) or "Heaviside" in str(form.layer(1).delta)


def test_the_form_does_not_depend_on_the_widths():
    small = Network.parse("2-2-2", hidden="relu", output="softmax", loss="cce")
    start = time.perf_counter()
    form = matrix_form(small)
    first = time.perf_counter() - start
    wide = Network.parse("784-256-10", hidden="relu", output="softmax", loss="cce")
    start = time.perf_counter()
    assert matrix_form(wide) is form
    assert time.perf_counter() - start < max(0.05, first)


def test_a_wide_batch_evaluates_quickly():
    net = Network.parse("784-256-10", hidden="relu", output="softmax", loss="cce")
    rng = np.random.default_rng(0)
    params = [rng.normal(0, 0.05, (784, 256)), rng.normal(0, 0.5, 256), rng.normal(0, 0.1, (256, 10)),
              rng.normal(0, 0.5, 10)]
    X, Y = rng.normal(0, 1, (7, 784)), np.eye(10)[rng.integers(0, 10, 7)]
    start = time.perf_counter()
    out = evaluate(net, params, X, Y)
    assert time.perf_counter() - start < 2
    assert out["dW1"].shape == (784, 256) and out["db2"].shape == (1, 10) and out["D1"].shape == (7, 256)
    for mine, theirs in zip([out["dW1"], out["db1"].ravel(), out["dW2"], out["db2"].ravel()],
                            derived_gradients(net, params, X, Y)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-14)


def test_it_evaluates_symbolically_for_proofs():
    net = Network.parse("1-2-1")
    form = matrix_form(net)
    x = np.array([[sp.Symbol("x1|1")], [sp.Symbol("x1|2")]], dtype=object)
    y = np.array([[sp.Symbol("y|1")], [sp.Symbol("y|2")]], dtype=object)
    rng = np.random.default_rng(1)
    params = [rng.normal(size=(1, 2)), rng.normal(size=2), rng.normal(size=(2, 1)), rng.normal(size=1)]
    sym = form.evaluate([p.astype(object) for p in params], x, y, symbolic=True, m=sp.Integer(2))
    values = {s: v for s, v in zip((*x.ravel(), *y.ravel()), (0.3, -0.7, 0.2, 0.9))}
    num = form.evaluate(params, np.array([[0.3], [-0.7]]), np.array([[0.2], [0.9]]))
    for key in ("H1", "A1", "Yhat", "D1", "dW1", "db2", "dA0"):
        rows = np.atleast_2d(sym[key])
        got = np.array([[float(sp.sympify(e).xreplace(values).evalf()) for e in row] for row in rows])
        np.testing.assert_allclose(got, np.atleast_2d(num[key]), rtol=1e-12)


def test_the_equations_print_with_the_write_ups_printer():
    form = matrix_form(Network.parse("2-3-2", hidden="tanh", output="softmax", loss="cce", l2=0.1))
    for lhs, rhs in form.equations():
        assert latex(lhs) and latex(rhs)
    assert len(form.equations()) == 5 * form.depth
