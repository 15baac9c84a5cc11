"""Kernels for the losses people write (label smoothing, focal, hinge): their gradients and losses are the
matrix form's, and a sum that stands inside another and on its own is computed once, before both."""
from itertools import count

import numpy as np
import pytest
import sympy as sp
from sympy.codegen.ast import For

import symnet
from symnet.derivation.graph_matrix import graph_matrix_form
from symnet.emit.numba.statements import hoisted
from symnet.functions.layers.indices import l, q
from symnet.numeric.finite_differences import gradcheck
from symnet.spec import Graph

from tests.derivation.test_graph_rules import _point
from tests.derivation.test_loss_rules import LOSS_GRAPHS


def test_a_sum_inside_another_and_on_its_own_is_computed_once_before_both():
    s, y, n = sp.IndexedBase("s"), sp.IndexedBase("y"), sp.Symbol("n", integer=True, positive=True)
    picked = sp.Sum(y[l] * s[l], (l, 1, n))  # the hinge's s_y
    expr = sp.Heaviside(s[q] - picked + 1, 0) - y[q] * sp.Sum(sp.Heaviside(s[l] - picked + 1, 0), (l, 1, n))
    statements, rest = hoisted(expr, count())
    assert not rest.has(sp.Sum)
    assert not any(isinstance(a, sp.Sum) for st in statements for a in sp.preorder_traversal(st))
    assert len([a for a in rest.atoms(sp.Symbol) if a.name.startswith("acc")]) == 2
    # s_y is computed once, before the loop over q that reads it: two loops in all, neither inside the other
    loops = [a for st in statements for a in sp.preorder_traversal(st) if isinstance(a, For)]
    assert len(loops) == 2 and not any(isinstance(a, For) for a in sp.preorder_traversal(loops[1].body))


@pytest.mark.slow
@pytest.mark.parametrize("name", LOSS_GRAPHS)
def test_each_losss_kernel_is_its_matrix_form(name):
    g = Graph.build(*LOSS_GRAPHS[name], title=name)
    k = symnet.compile(g)
    params, X, Y = _point(g, 2, m=7)
    form = graph_matrix_form(g)
    for got, want in zip(k.gradients(params, X, Y), form.param_gradients(params, X, Y)):
        assert np.allclose(got, want, rtol=1e-10, atol=1e-12), name
    assert k.loss(params, X, Y) == pytest.approx(form.evaluate(params, X, Y)["E"], rel=1e-12)
    assert gradcheck(k).max_relative_error < 1e-6

