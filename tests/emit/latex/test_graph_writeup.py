"""The write-up of a graph spec: the graph drawn with its skips and local derivatives, the backward pass node
by node, the lessons of the kinds it uses, every formula printed from the derivation."""
import re

import pytest

from symnet.derivation.chains import derive
from symnet.emit.html.graph_page import render_graph_page
from symnet.emit.latex.graph_writeup import graph_writeup
from symnet.emit.latex.render import compile_pdf, render_graph_document
from symnet.functions.layers import kind
from symnet.numeric.worked import random_values
from symnet.spec import Graph

from tests.derivation.test_graph_rules import KINDS


def graph(name: str) -> Graph:
    return Graph.build(*KINDS[name], title=name)


def test_the_figure_draws_every_node_and_a_skip_as_an_arc_each_edge_with_its_local_derivative():
    w = graph_writeup(derive(graph("residual")))
    edges = {(e.src, e.dst): e for e in w.figure.edges}
    assert edges[("a1", "add1")].skip and not edges[("h2", "add1")].skip
    assert edges[("h2", "add1")].local == 1 and edges[("a1", "add1")].local == 1  # a sum's local derivative
    assert str(edges[("x", "h1")].local) == "W1"
    tex = render_graph_document(derive(graph("residual")))
    assert r"to[bend left=40]" in tex and r"\mathbf{h}^{(1)}" in tex and r"\mathrm{add}^{(1)}" in tex


def test_the_backward_pass_is_upstream_times_local_at_every_node_and_the_kinds_teach_why():
    g = graph("residual")
    w = graph_writeup(derive(g))
    assert len(w.backward) == len(g.nodes)  # every node and x, the loss excepted
    tex = render_graph_document(derive(g))
    assert "a 1 added to its local derivative" in " ".join(tex.split())  # the sum's lesson, where the skip is
    assert w.skips == [("a1", "add1")]
    assert r"\delta^{(2)}_{j} + \sum_{l=1}^{n_{1}}" in tex  # the skip's delta term


def test_a_tied_weight_is_said_to_be_read_twice_and_its_gradient_a_sum():
    w = graph_writeup(derive(graph("tied")))
    assert w.shared == [("W1", ("h1", "h2"))]
    tex = render_graph_document(derive(graph("tied")))
    assert "is read by 2 nodes (h1 and h2)" in tex


def test_with_values_the_worked_example_shows_each_number_of_a_step():
    g = graph("concat")
    tex = render_graph_document(derive(g), random_values(g, 0))
    assert r"\section{A worked example}" in tex
    assert len(re.findall(r"\\\\", tex.split(r"\section{A worked example}")[1])) > g.n_params


def test_the_web_page_has_the_same_sections_as_mathml_and_an_svg_loading_nothing():
    page = render_graph_page(derive(graph("residual")), random_values(graph("residual"), 0))
    for title in ("The graph", "The backward pass, node by node", "The deltas", "The gradients",
                  "The chain rule, path by path", "A batch at once: the matrix form", "The update", "A worked example"):
        assert title in page
    assert "<svg" in page and "<math" in page and "<script" not in page and "http" not in page.split("<body>")[1]


@pytest.mark.slow
@pytest.mark.parametrize("name", KINDS)
def test_every_new_kinds_write_up_compiles(name, tmp_path):
    g = graph(name)
    assert compile_pdf(render_graph_document(derive(g), random_values(g, 1)), tmp_path / "out.pdf")[:4] == b"%PDF"


def test_the_python_api_writes_a_graphs_derivation_as_it_writes_a_layer_lists():
    import symnet

    d = symnet.derive(graph("residual"))
    assert isinstance(d.net, symnet.Graph)
    assert symnet.latex(d) == render_graph_document(d)
    with pytest.raises(ValueError, match="leave params out"):
        symnet.latex(d, params="W1[1,1]")


def test_a_summed_cost_is_said_to_be_a_sum_and_its_deltas_carry_no_1_over_m():
    g = Graph.build(3, {"a1": "tanh(dense(x, 4))", "yhat": "softmax(dense(a1, 3))",
                        "loss": "cce(yhat, y, reduction='sum')"}, title="summed")
    tex = render_graph_document(derive(g))
    assert "the cost of a batch is the sum of its samples' errors" in tex
    assert r"\frac{1}{m}" not in tex and "mean" not in tex
    page = render_graph_page(derive(g))
    assert "is the sum of the samples' errors" in page and "1/<var>m</var> that every delta" not in page
