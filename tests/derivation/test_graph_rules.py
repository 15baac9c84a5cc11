"""A graph's derivation: the scalar chains, the index form's rules and the matrix form of a batch are one
derivation — each agrees with the others and with central finite differences of the forward pass."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from symnet.derivation.chains import derive
from symnet.derivation.graph_matrix import graph_matrix_form
from symnet.derivation.layer_form import layer_rule
from symnet.derivation.rules import rules
from symnet.functions.layers.indices import j, l
from symnet.numeric.evaluate import Evaluator
from symnet.numeric.finite_differences import finite_differences, targets
from symnet.spec import Graph, Network

KINDS = {
    "residual": (3, {"a1": "tanh(dense(x, 3))", "a2": "tanh(dense(a1, 3) + a1)", "yhat": "softmax(dense(a2, 2))",
                     "loss": "cce(yhat, y)"}),
    "tied": (3, {"code": "tanh(dense(x, 2))", "out": "sigmoid(dense(code, 3, W=W1.T))", "loss": "bce(out, y)"}),
    "no_bias": (2, {"a1": "elu(dense(x, 3, bias=false))", "yhat": "dense(a1, 2, bias=false)", "loss": "mse(yhat, y)"}),
    "concat": (2, {"a1": "relu(dense(x, 3))", "g": "tanh(dense(x, 2))", "yhat": "sigmoid(dense(concat(a1, g), 1))",
                   "loss": "mse(yhat, y)"}),
    "hidden_softmax": (2, {"s": "softmax(dense(x, 3), T=2.0)", "yhat": "sigmoid(dense(s, 1))", "loss": "bce(yhat, y)"}),
}


def _point(g: Graph, seed: int, m: int = 4):
    rng = np.random.default_rng(seed)
    params = [rng.normal(0, 0.8, shape) for _, shape in g.param_shapes]
    X = rng.normal(0, 1, (m, g.n_in))
    return params, X, targets(g.loss, g.n_out, m, rng)


def _agree(g: Graph, seed: int = 0) -> None:
    d = derive(g)
    ev = Evaluator(d)
    params, X, Y = _point(g, seed)
    scalar = ev.gradients(params, X, Y)
    numeric = finite_differences(lambda p: ev.loss(p, X, Y), params)
    form = graph_matrix_form(g)
    matrix = form.param_gradients(params, X, Y)
    largest = max(float(np.max(np.abs(n))) for n in numeric)
    for s, n, mat in zip(scalar, numeric, matrix):
        assert np.allclose(s, n, atol=1e-7 * max(1.0, largest)), (s, n)
        assert np.allclose(mat, s, atol=1e-12 * max(1.0, largest)), (mat, s)
    assert form.evaluate(params, X, Y)["E"] == pytest.approx(ev.loss(params, X, Y), rel=1e-12)


# -- each kind's forward pass against NumPy written out by hand: the independent truth the derived forms rest on
def _softmax(H, T=1.0):
    Z = np.exp((H - H.max(axis=1, keepdims=True)) / T)
    return Z / Z.sum(axis=1, keepdims=True)


def _sigmoid(H):
    return 1 / (1 + np.exp(-H))


def _mse(P, Y):
    return np.mean(0.5 * np.sum((P - Y) ** 2, axis=1))


def _bce(P, Y):
    return np.mean(-np.sum(Y * np.log(P) + (1 - Y) * np.log(1 - P), axis=1))


def _cce(P, Y):
    return np.mean(-np.sum(Y * np.log(P), axis=1))


def _elu(H):
    return np.where(H > 0, H, np.exp(H) - 1)


NUMPY_LOSSES = {
    "residual": lambda W1, b1, W2, b2, W3, b3, X, Y: _cce(
        _softmax((lambda A1: np.tanh(A1 @ W2 + b2 + A1))(np.tanh(X @ W1 + b1)) @ W3 + b3), Y),
    "tied": lambda W1, b1, b2, X, Y: _bce(_sigmoid(np.tanh(X @ W1 + b1) @ W1.T + b2), Y),
    "no_bias": lambda W1, W2, X, Y: _mse(_elu(X @ W1) @ W2, Y),
    "concat": lambda W1, b1, W2, b2, W3, b3, X, Y: _mse(
        _sigmoid(np.hstack([np.maximum(X @ W1 + b1, 0), np.tanh(X @ W2 + b2)]) @ W3 + b3), Y),
    "hidden_softmax": lambda W1, b1, W2, b2, X, Y: _bce(_sigmoid(_softmax(X @ W1 + b1, T=2.0) @ W2 + b2), Y),
}


@pytest.mark.parametrize("name", KINDS)
def test_each_new_kinds_loss_is_numpys(name):
    g = Graph.build(*KINDS[name], title=name)
    params, X, Y = _point(g, 3, m=5)
    want = NUMPY_LOSSES[name](*params, X, Y)
    assert Evaluator(derive(g)).loss(params, X, Y) == pytest.approx(want, rel=1e-12)
    assert graph_matrix_form(g).evaluate(params, X, Y)["E"] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("name", KINDS)
def test_each_new_kind_scalar_matrix_and_finite_differences_agree(name):
    inputs, nodes = KINDS[name]
    _agree(Graph.build(inputs, nodes, title=name))


def test_a_skip_adds_the_delta_of_the_layer_it_skips_to_the_one_below():
    r = rules(Graph.build(*KINDS["residual"]))
    W2, delta2, a1 = (sp.IndexedBase(n, real=True) for n in ("W2", "delta2", "a1"))
    n1 = sp.Symbol("n1", integer=True, positive=True)
    assert r.deltas["h1"].rule.rhs == (1 - a1[j] ** 2) * (delta2[j] + sp.Sum(W2[j, l] * delta2[l], (l, 1, n1)))
    assert r.deltas["h3"].rule.rhs == sp.IndexedBase("yhat", real=True)[j] - sp.IndexedBase("y", real=True)[j]
    assert r.deltas["h3"].assumption is not None


def test_two_dense_layers_summed_share_the_delta_of_the_one_computed_first_going_back():
    g = Graph.build(2, {"a1": "tanh(dense(x, 2) + dense(x, 2))", "yhat": "dense(a1, 1)", "loss": "mse(yhat, y)"})
    r = rules(g)
    assert list(r.deltas) == ["h3", "h2", "h1"]
    assert r.deltas["h1"].rule.rhs == sp.IndexedBase("delta2", real=True)[j]  # δ⁽²⁾ is known by then
    computed = set()
    for name, rule in r.deltas.items():  # each delta reads only the deltas before it
        assert {str(a.label) for a in rule.rule.rhs.atoms(sp.IndexedBase) if str(a.label).startswith("delta")} <= computed
        computed.add(str(rule.delta.label))
    _agree(g)


def test_a_tied_weights_gradient_is_the_sum_of_its_two_uses():
    g = Graph.build(*KINDS["tied"])
    pr = rules(g).params["W1"]
    assert [n for n, _ in pr.uses] == ["h1", "h2"]
    x, delta1, code, delta2 = (sp.IndexedBase(n, real=True) for n in ("x", "delta1", "code", "delta2"))
    i = sp.Symbol("i", integer=True, positive=True)
    assert pr.gradient == delta1[j] * x[i] + code[j] * delta2[i]
    d = derive(g)
    assert d.chain("W1[1,2]").via_delta == sp.Symbol("delta1[2]", real=True) * sp.Symbol("x1", real=True) + \
        sp.Symbol("code[2]", real=True) * sp.Symbol("delta2[1]", real=True)


def test_a_concatenation_reads_its_block_of_the_weight_above():
    f = graph_matrix_form(Graph.build(*KINDS["concat"]))
    D = {str(d.D.name): d.expr for d in f.deltas}
    W3 = f.symbols["W3"]
    assert any(isinstance(a, sp.MatrixSlice) and a.parent == W3 for a in sp.preorder_traversal(D["D2"]))
    assert f.widths["concat1"] == sp.Symbol("n1", integer=True, positive=True) + sp.Symbol("n2", integer=True, positive=True)


@pytest.mark.parametrize("hidden, output, loss", [("tanh", "sigmoid", "mse"), ("relu", "softmax", "cce"),
                                                  ("elu", "identity", "mse"), ("sigmoid", "sigmoid", "bce")])
def test_a_layer_lists_graph_rules_are_its_layer_form(hidden, output, loss):
    net = Network.parse("2-3-3-2" if output == "softmax" else "2-3-3-1", hidden=hidden, output=output, loss=loss)
    r = rules(net)
    for k in (1, 2):
        assert r.deltas[f"h{k}"].rule.rhs == layer_rule(net, k).delta.rhs
    assert sp.simplify(r.deltas["h3"].rule.rhs - layer_rule(net, 3).delta.rhs) == 0


# -- random graphs ------------------------------------------------------------------------------------------------
ACTIVATIONS = ("tanh", "sigmoid", "softplus", "identity", "silu")


@st.composite
def graphs(draw):
    """A small random graph of the new kinds: blocks of dense layers, skips, sums of two dense layers,
    concatenations, a softmax inside, a layer without bias; then an output and its loss."""
    n0 = draw(st.integers(1, 3))
    nodes, last, width, used = {}, "x", n0, 0
    for b in range(draw(st.integers(1, 3))):
        act = draw(st.sampled_from(ACTIVATIONS))
        w = draw(st.integers(1, 3))
        block = draw(st.sampled_from(("dense", "residual", "concat", "softmax", "no_bias", "two_dense")))
        name = f"n{b + 1}"
        if block == "residual" and last != "x":
            nodes[name] = f"{act}(dense({last}, {width}) + {last})"
        elif block == "concat":
            nodes[name] = f"concat({act}(dense({last}, {w})), dense({last}, 1))"
            w += 1
        elif block == "two_dense":
            nodes[name] = f"{act}(dense({last}, {w}) + dense({last}, {w}))"
        elif block == "softmax" and w >= 2:
            nodes[name] = f"softmax(dense({last}, {w}), T={draw(st.sampled_from((1.0, 2.0)))})"
        else:
            nodes[name] = f"{act}(dense({last}, {w}{', bias=false' if block == 'no_bias' else ''}))"
        if block != "residual" or last == "x":
            width = w
        last = name
        used += 1
    head = draw(st.sampled_from(("mse", "bce", "cce")))
    k = draw(st.integers(2, 3)) if head == "cce" else draw(st.integers(1, 2))
    out = {"mse": f"dense({last}, {k})", "bce": f"sigmoid(dense({last}, {k}))", "cce": f"softmax(dense({last}, {k}))"}
    nodes["yhat"], nodes["loss"] = out[head], f"{head}(yhat, y)"
    return Graph.build(n0, nodes, title="random")


@pytest.mark.slow
@settings(max_examples=15)
@given(graphs(), st.integers(0, 3))
def test_random_graphs_scalar_matrix_and_finite_differences_agree(g, seed):
    _agree(g, seed)
