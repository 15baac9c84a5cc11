"""A graph's kernel module: its gradients are the matrix form's, its epoch the update rule's, its source printed
once from structured statements."""
import ast
import tomllib

import numpy as np
import pytest

import symnet
from symnet.derivation.graph_matrix import graph_matrix_form
from symnet.emit.numba.builder import generate
from symnet.emit.numba.graph import generate_graph
from symnet.errors import InputError
from symnet.numeric.finite_differences import gradcheck, targets
from symnet.spec import Graph

from tests.derivation.test_graph_rules import KINDS


#: besides the five kinds: two dense layers summed, whose deltas must come in the order the backward pass needs
GRAPHS = {**KINDS, "two_dense": (3, {"a1": "tanh(dense(x, 3) + dense(x, 3))", "yhat": "dense(a1, 2)",
                                     "loss": "mse(yhat, y)"})}


def graph(name: str) -> Graph:
    inputs, nodes = GRAPHS[name]
    return Graph.build(inputs, nodes, title=name)


def _batch(g: Graph, m: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    params = [rng.normal(0, 0.7, shape) for _, shape in g.param_shapes]
    X = rng.normal(0, 1, (m, g.n_in))
    return params, X, targets(g.loss, g.n_out, m, rng)


def test_the_module_names_its_parameters_and_their_shapes_and_carries_its_spec():
    src = generate_graph(graph("tied"))
    tree = ast.parse(src)
    assigned = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert ast.literal_eval(assigned["PARAMS"]) == ("W1", "b1", "b2")
    assert ast.literal_eval(src.split("SHAPES = ")[1].split("\n")[0].replace("N0", "3").replace("N1", "2")) == (
        (3, 2), (2,), (3,))  # W1 (3, 2) read transposed by the decoder; b2 as wide as the input
    spec = ast.literal_eval(assigned["GRAPH"])  # the spec it carries builds the same graph again
    assert Graph.from_toml("tied.toml", tomllib.loads(spec)).nodes == graph("tied").nodes
    assert src == generate_graph(graph("tied"))  # same input, same bytes


def test_sums_over_a_layer_are_blas_products_a_tie_reads_the_weight_transposed_a_concat_its_block():
    tied, concat, residual = (generate_graph(graph(n)) for n in ("tied", "concat", "residual"))
    assert "_dot_t(code[:B], W1, h2[:B])" in tied
    assert "_gemm_tn(delta2[:B], code[:B], gW1, 1.0, 1.0)" in tied  # the second use adds to the first
    assert "W3[N1:N1 + N2, :]" in concat and "W3[:N1, :]" in concat
    assert "delta1[r, j] + delta2[r, j]" in residual  # the skip's term


def test_a_graph_has_one_layout_and_no_gpu_kernel_yet():
    with pytest.raises(InputError, match="one layout"):
        generate(graph("residual"), "unrolled")
    from symnet.emit.numba.gpu import generate_cuda

    with pytest.raises(InputError, match="--target cuda takes a layer list"):
        generate_cuda(graph("residual"))


# float32 on the two kinds whose kernels differ most (a skip's sum, a tie's transposed product): the dtype changes
# only the printed numbers and arrays, the same for every kind, and each compile costs seconds
@pytest.mark.slow
@pytest.mark.parametrize("name, dtype", [(name, "float64") for name in GRAPHS] + [("residual", "float32"),
                                                                                 ("tied", "float32")])
def test_the_kernels_gradients_and_loss_are_the_matrix_forms(name, dtype):
    g = graph(name)
    k = symnet.compile(g, dtype=dtype)
    params, X, Y = _batch(g)
    truth = graph_matrix_form(g).param_gradients(params, X, Y)
    tol = 1e-10 if dtype == "float64" else 2e-4
    for got, want in zip(k.gradients(params, X, Y), truth):
        assert np.allclose(got, want, atol=tol * max(1.0, float(np.max(np.abs(want))))), name
    assert k.loss(params, X, Y) == pytest.approx(graph_matrix_form(g).evaluate(params, X, Y)["E"], rel=tol)
    if dtype == "float64":
        assert gradcheck(k).max_relative_error < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_an_epoch_is_the_update_rule_applied_to_each_batchs_gradients(optimizer):
    from symnet.derivation import update

    g = graph("tied")
    k = symnet.compile(g, optimizer=optimizer)
    params, X, Y = _batch(g, m=7)
    mine = [p.copy() for p in params]  # the kernel's own copy: the reference below moves params in place
    rule, hyper = update.resolve(optimizer if optimizer != "momentum" else None,
                                 momentum=0.9 if optimizer == "momentum" else None)
    state = {s.name: [np.zeros_like(p) for p in params] for s in rule.state}
    form = graph_matrix_form(g)
    lr, step = 0.05, 0
    for start in range(0, 7, 3):
        step += 1
        grads = form.param_gradients(params, X[start:start + 3], Y[start:start + 3])
        for n, (p, gr) in enumerate(zip(params, grads)):
            rule.apply(p, gr, lr, {name: arrays[n] for name, arrays in state.items()}, hyper, step)
    if optimizer == "sgd":
        k.train_epoch(mine, X, Y, lr, 3)
    elif optimizer == "momentum":
        k.train_epoch(mine, X, Y, lr, 3, 0.9, [np.zeros_like(p) for p in mine])
    else:
        k.train_epoch(mine, X, Y, lr, 3, state=k.init_state())
    start = _batch(g, m=7)[0]
    for got, want, before in zip(mine, params, start):
        assert np.max(np.abs(want - before)) > 1e-4  # the epoch moved every array
        assert np.allclose(got, want, atol=1e-12)


def _kernels_own_names(g: Graph, optimizer: str) -> set[str]:
    """The names a graph's kernel module holds for its own where a node's array could meet them: at module level
    and in every function that takes a node's array."""
    tree = ast.parse(generate_graph(g, optimizer=optimizer))
    own = {n.name for n in g.nodes} | {key for key, _ in g.aliases}
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names |= {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
            args = {a.arg for a in node.args.args}
            if args & own:
                names |= args | {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names - own


@pytest.mark.parametrize("name", ["residual", "concat", "hidden_softmax"])
def test_no_node_may_take_a_name_the_kernel_holds_for_its_own(name):
    from symnet.spec.errors import GraphError
    from symnet.spec.graph import NODE_NAME

    inputs, nodes = GRAPHS[name]
    g = graph(name)
    taken = set().union(*(_kernels_own_names(g, o) for o in ("sgd", "adam", "rmsprop", "nesterov")),
                        _kernels_own_names(Graph.build(inputs, nodes, 0.01, title=name), "sgd"))
    assert {"np", "start", "B", "N1", "gW1", "range"} <= taken
    accepted = []
    for word in sorted(w for w in taken if NODE_NAME.match(w) and w not in g.param):
        try:  # a probe with as many layers as any of the graphs, so that gW3, sb4, … are its parameters' too
            Graph.build(2, {word: "tanh(dense(x, 3))", "a2": f"tanh(dense({word}, 3))", "a3": "tanh(dense(a2, 3))",
                            "yhat": "sigmoid(dense(a3, 1))", "loss": "bce(yhat, y)"})
        except GraphError:
            continue
        accepted.append(word)
    assert accepted == []
