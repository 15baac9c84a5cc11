"""Layer kinds: each one forward definition, stated per unit and for any width, the two the same function."""
import numpy as np
import pytest
import sympy as sp

from symnet.functions.layers import ADD, CONCAT, DENSE, KINDS, SOFTMAX_KIND, Node, Tie, Transposed, kind, names
from symnet.functions.layers.indices import j, width
from symnet.functions.losses import LOSSES


def test_a_name_finds_its_kind_layers_activations_and_losses_alike():
    assert kind("dense") is DENSE and kind("add") is ADD and kind("concat") is CONCAT
    assert kind("softmax") is SOFTMAX_KIND
    assert kind("relu").elementwise and kind("identity").elementwise and not kind("softmax").elementwise
    assert kind("relu").name == "relu" and not kind("relu").is_loss and kind("relu").numbered is None
    assert kind("cce").is_loss and kind("cce").loss is LOSSES["cce"]
    assert kind("swoosh") is None
    assert {"dense", "add", "concat", "softmax", "relu", "tanh", "mse", "bce", "cce"} <= set(names())


def test_every_registered_kind_teaches_its_backward_pass_and_has_a_title():
    for name in (*KINDS, "relu", "mse"):
        assert kind(name).lesson and kind(name).title, name


def _unrolled(value: sp.Expr, widths: dict[sp.Symbol, int]) -> sp.Expr:
    return value.xreplace(widths).doit()


@pytest.mark.parametrize("node, n_in", [
    (Node("h1", "dense", ("a",), (("units", 3), ("bias", True), ("W", None)), 1), [2]),
    (Node("h1", "dense", ("a",), (("units", 3), ("bias", False), ("W", None)), 1), [2]),
    (Node("h2", "dense", ("a",), (("units", 3), ("bias", True), ("W", Tie("W1", True))), 2), [2]),
    (Node("s", "softmax", ("a",), (("T", 2.0),)), [3]),
    (Node("t", "tanh", ("a",), ()), [3]),
    (Node("add1", "add", ("a", "c"), ()), [3, 3]),
    (Node("c", "concat", ("a", "c"), ()), [2, 3]),
])
def test_the_scalar_form_and_the_index_form_are_the_same_function(node, n_in):
    layer = kind(node.kind)
    rng = np.random.default_rng(0)
    bases = [sp.IndexedBase(f"in{k}") for k in range(len(n_in))]
    units = [[sp.Symbol(f"in{k}_{i}") for i in range(n)] for k, n in enumerate(n_in)]
    width_syms = [sp.Symbol(f"n{k}", integer=True, positive=True) for k in range(len(n_in))]
    widths = dict(zip(width_syms, n_in))
    if node.number is not None:
        widths[width(node.number)] = layer.width(node, n_in)
    W, b = sp.IndexedBase("W"), sp.IndexedBase("b")
    units_out = layer.width(node, n_in)
    tied = node.kind == "dense" and node.option("W") is not None
    rows, cols = (units_out, n_in[0]) if tied else (n_in[0], units_out)
    W_syms = [[sp.Symbol(f"W_{r}_{c}") for c in range(cols)] for r in range(rows)]
    b_syms = [sp.Symbol(f"b_{c}") for c in range(units_out)]
    scalar_params, index_params = {}, {}
    if node.kind == "dense":
        scalar_params["W"] = [list(col) for col in zip(*W_syms)] if tied else W_syms
        index_params["W"] = Transposed(W) if tied else W
        if node.option("bias"):
            scalar_params["b"], index_params["b"] = b_syms, b
    values = {s: rng.normal() for row in W_syms for s in row} | {s: rng.normal() for s in b_syms}
    values |= {s: rng.normal() for part in units for s in part}
    scalar = [float(e.xreplace(values)) for e in layer.scalar(node, units, scalar_params)]

    def entry(e: sp.Expr) -> sp.Expr:
        def value_of(ind: sp.Indexed) -> sp.Expr:
            label, idx = str(ind.base.label), [int(v) - 1 for v in ind.indices]
            if label == "W":
                return W_syms[idx[0]][idx[1]]
            if label == "b":
                return b_syms[idx[0]]
            return units[int(label[2:])][idx[0]]
        done = _unrolled(e, widths)
        return done.replace(lambda x: isinstance(x, sp.Indexed), value_of)

    index = []
    for seg in layer.segments(node, bases, index_params, width_syms, j):
        extent = int(seg.extent.xreplace(widths))
        index += [float(entry(seg.value.xreplace({seg.index: v})).xreplace(values)) for v in range(1, extent + 1)]
    assert np.allclose(scalar, index, rtol=1e-12)
