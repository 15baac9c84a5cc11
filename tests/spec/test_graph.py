"""A graph spec: nodes read by a whitelist, numbered and named as DESIGN.md's "Graph specs" says, checked."""
import pytest

from symnet.functions.layers import Tie
from symnet.spec import Graph, GraphError, Network, SpecError, load

RESIDUAL = {"a1": "relu(dense(x, 8))", "a2": "relu(dense(a1, 8) + a1)", "yhat": "softmax(dense(a2, 3))",
            "loss": "cce(yhat, y)"}


def test_every_call_is_a_node_dense_layers_numbered_in_order_and_unnamed_nodes_named_by_kind():
    g = Graph.build(4, RESIDUAL)
    assert [(n.name, n.kind, n.inputs) for n in g.nodes] == [
        ("h1", "dense", ("x",)), ("a1", "relu", ("h1",)), ("h2", "dense", ("a1",)), ("add1", "add", ("h2", "a1")),
        ("a2", "relu", ("add1",)), ("h3", "dense", ("a2",)), ("yhat", "softmax", ("h3",)), ("loss", "cce", ("yhat", "y"))]
    assert [n.number for n in g.nodes if n.kind == "dense"] == [1, 2, 3]
    assert g.widths == {"x": 4, "h1": 8, "a1": 8, "h2": 8, "add1": 8, "a2": 8, "h3": 3, "yhat": 3, "y": 3, "loss": 1}
    assert [(p.name, p.shape) for p in g.params] == [("W1", (4, 8)), ("b1", (8,)), ("W2", (8, 8)), ("b2", (8,)),
                                                      ("W3", (8, 3)), ("b3", (3,))]
    assert g.n_params == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3
    assert (g.prediction, g.output, g.loss, g.n_in, g.n_out, g.depth) == ("yhat", "softmax", "cce", 4, 3, 3)


def test_a_named_dense_layer_is_h_k_and_its_name_an_alias_the_prediction_is_yhat_whatever_its_name():
    g = Graph.build(6, {"code": "dense(x, 3, bias=false)", "out": "sigmoid(dense(tanh(code), 6, W=W1.T))",
                        "loss": "bce(out, y)"})
    assert [n.name for n in g.nodes] == ["h1", "tanh1", "h2", "out", "loss"]
    assert g.resolve("code") == "h1" and g.resolve("yhat") == "out"
    assert g.by_name["h2"].option("W") == Tie("W1", True) and [p.name for p in g.params] == ["W1", "b2"]


def test_a_layer_list_is_a_graph_with_todays_names_and_a_graph_of_that_shape_is_that_layer_list():
    net = Network.parse("2-3-2", hidden="tanh", output="softmax", loss="cce", l2=0.01)
    g = net.graph
    assert [n.name for n in g.nodes] == ["h1", "a1", "h2", "yhat", "loss"] and g.l2 == 0.01
    assert Network.from_graph(g) == net
    assert Network.from_graph(Graph.build(4, RESIDUAL)) is None
    assert net.param_shapes == g.param_shapes == [("W1", (2, 3)), ("b1", (3,)), ("W2", (3, 2)), ("b2", (2,))]


def test_a_spec_file_loads_as_a_graph_and_a_layer_list_written_as_nodes_as_that_network(tmp_path):
    residual = tmp_path / "res.toml"
    residual.write_text('inputs = 4\n[nodes]\n' + "".join(f'{k} = "{v}"\n' for k, v in RESIDUAL.items())
                        + "[penalty]\nl2 = 0.001\n")
    g = load(str(residual))
    assert isinstance(g, Graph) and g.title == "res" and g.l2 == 0.001
    chain = tmp_path / "chain.toml"
    chain.write_text('inputs = 2\n[nodes]\na1 = "tanh(dense(x, 3))"\nyhat = "sigmoid(dense(a1, 1))"\n'
                     'loss = "mse(yhat, y)"\n')
    assert load(str(chain)) == Network.parse("2-3-1", hidden="tanh", output="sigmoid", loss="mse")


def test_to_toml_gives_the_same_graph_back(tmp_path):
    g = Graph.build(4, {**RESIDUAL, "a2": "relu(concat(dense(a1, 4), a1))", "yhat": "softmax(dense(a2, 3), T=2.0)"},
                    title="again")
    path = tmp_path / "again.toml"
    path.write_text(g.to_toml())
    again = load(str(path))
    assert again.nodes == g.nodes and again.inputs == g.inputs


@pytest.mark.parametrize("nodes, says", [
    ({"a": "relu(dense(x, 2))", "b": "relu(b)", "loss": "mse(a, y)"}, "node b reads itself"),
    ({"a": "relu(dense(b, 2))", "b": "relu(dense(x, 2))", "loss": "mse(b, y)"}, "defined after it"),
    ({"a": "relu(dense(z, 2))", "loss": "mse(a, y)"}, "reads 'z', which is no node"),
    ({"a": "swoosh(dense(x, 2))", "loss": "mse(a, y)"}, "unknown kind 'swoosh'"),
    ({"a": "relu(dense(x, 2)) + dense(x, 3)", "loss": "mse(a, y)"}, "adds 2 units to 3"),
    ({"a": "tanh(dense(x, 2))", "b": "dense(a, 3, W=W1)", "loss": "mse(b, y)"}, "W=W1 is 3×2 but the layer needs a 2×3"),
    ({"a": "tanh(dense(x, 2))", "b": "dense(a, 3, W=W7.T)", "loss": "mse(b, y)"}, "names no weight of an earlier"),
    ({"a": "relu(dense(x, 2))", "b": "relu(a)", "loss": "mse(a, y)"}, "node b is computed but never used"),
    ({"a": "relu(dense(x, 2))", "loss": "mse(a, y)", "b": "relu(a)"}, "comes after the loss"),
    ({"a": "relu(dense(x, 2))"}, "is not a loss"),
    ({"a": "relu(dense(x, 2))", "loss": "cce(a, y)"}, "cce needs a softmax prediction"),
    ({"a": "relu(dense(x, 2))", "loss": "bce(a, y)"}, "needs predictions in (0, 1)"),
    ({"a": "softmax(dense(x, 1))", "loss": "mse(a, y)"}, "a softmax of one unit is always 1"),
    ({"a": "relu(dense(x))", "loss": "mse(a, y)"}, "dense needs the number of units"),
    ({"a": "relu(dense(x, 2, bias=1))", "loss": "mse(a, y)"}, "bias is true or false"),
    ({"a": "relu(dense(x, 2, units=3))", "loss": "mse(a, y)"}, "units is given twice"),
    ({"a": "relu(dense(x, 2, init=3))", "loss": "mse(a, y)"}, "dense has no option 'init'"),
    ({"a": "relu(dense(x, 0))", "loss": "mse(a, y)"}, "units=0 must be a whole number"),
    ({"a": "x * 2", "loss": "mse(a, y)"}, "the operator * is not allowed"),
    ({"a": "__import__('os')", "loss": "mse(a, y)"}, "'__'"),
    ({"a": "relu(dense(x, 2)).T", "loss": "mse(a, y)"}, "attribute access"),
    ({"a": "x", "loss": "mse(a, y)"}, "only names another node"),
    ({"a": "relu(dense(y, 2))", "loss": "mse(a, y)"}, "y is the target"),
    ({"W1": "relu(dense(x, 2))", "loss": "mse(W1, y)"}, "'W1' cannot name a node"),
    ({"n0": "relu(dense(x, 2))", "loss": "mse(n0, y)"}, "a number that does not start with 0"),
    ({"l2norm": "relu(dense(x, 2))", "loss": "mse(l2norm, y)"}, "cannot name a node"),
    ({"a": "relu(dense(x, 2))", "loss": "mse(x, y)"}, "the loss's first argument is the prediction"),
    ({"a": "relu(dense(x, 2))", "loss": "mse(a, a)"}, "a loss compares the prediction with the target"),
    ({"a": "relu(dense(x, 2))", "add1": "relu(a)", "b": "dense(a + add1, 2)", "loss": "mse(b, y)"},
     "add1 is the name symnet gives"),
    ({"h1": "relu(dense(x, 2))", "loss": "mse(h1, y)"}, "h1 is the name symnet gives to the output of dense layer 1"),
    ({"np": "relu(dense(x, 2))", "loss": "mse(np, y)"}, "'np' cannot name a node: the generated kernel uses it"),
    ({"lambda": "relu(dense(x, 2))", "loss": "mse(lambda, y)"}, "'lambda' cannot name a node"),
    ({"ENC": "relu(dense(x, 2))", "loss": "mse(ENC, y)"}, "constants in capitals"),
    ({"gW1": "relu(dense(x, 2))", "loss": "mse(gW1, y)"}, "calls W1's gradient or optimiser state so"),
    ({"a": "softmax(x)", "loss": "cce(a, y)"}, "the graph has no parameters to learn"),
    ({"a": "sigmoid(dense(x, 2))", "loss": "bce(y, a)"}, "a loss reads the prediction first, then the target y"),
    ({"a": "relu(dense(x, 2))", "loss": "mse(a, y)", "b": "relu(dense(a, 2))"}, "node loss is a loss, and b comes after the loss"),
])
def test_a_graph_it_cannot_build_is_one_line_naming_the_node_and_the_fix(nodes, says):
    with pytest.raises(GraphError) as e:
        Graph.build(3, nodes)
    assert says in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("inputs, nodes, says", [
    (0, {"loss": "mse(a, y)"}, "from 1 to"),
    ([1, 8, 8], {"loss": "mse(a, y)"}, "come with convolution and recurrence"),
    (3, {}, "at least one node and the loss"),
    (3, {f"n{k}": f"relu(n{k - 1})" if k > 1 else "relu(dense(x, 2))" for k in range(1, 300)} | {"loss": "mse(n299, y)"},
     "more than 256 nodes"),
    (3, {"a": "relu(" * 40 + "dense(x, 2)" + ")" * 40, "loss": "mse(a, y)"}, "nests more than 32"),
    (3, {"a": "relu(dense(x, 2))" + " " * 1000, "loss": "mse(a, y)"}, "at most 1,000"),
])
def test_sizes_are_bounded_before_any_work(inputs, nodes, says):
    with pytest.raises(GraphError) as e:
        Graph.build(inputs, nodes)
    assert says in str(e.value)


def test_a_spec_file_that_defines_a_node_twice_names_it_and_its_lines(tmp_path):
    path = tmp_path / "twice.toml"
    path.write_text('inputs = 2\n[nodes]\na1 = "relu(dense(x, 2))"\na1 = "tanh(dense(x, 2))"\nloss = "mse(a1, y)"\n')
    with pytest.raises(SpecError) as e:
        load(str(path))
    assert "[nodes] a1 is defined twice (lines 3 and 4)" in str(e.value)


def test_a_spec_file_of_a_graph_refuses_the_layer_list_keys_and_unknown_penalties(tmp_path):
    path = tmp_path / "mixed.toml"
    path.write_text('inputs = 2\nhidden = "relu"\n[nodes]\nyhat = "dense(x, 1)"\nloss = "mse(yhat, y)"\n')
    with pytest.raises(GraphError, match="unknown key 'hidden'.*hidden, output and loss are its kinds"):
        load(str(path))
    path.write_text('inputs = 2\n[nodes]\nyhat = "dense(x, 1)"\nloss = "mse(yhat, y)"\n[penalty]\nl3 = 1\n')
    with pytest.raises(GraphError, match="unknown key 'l3' in \\[penalty\\]"):
        load(str(path))
