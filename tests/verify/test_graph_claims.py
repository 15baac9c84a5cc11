"""Claims on graph specs: a hand derivation through a skip, a tie or a concatenation, scalar or for a batch,
judged against the derivation, a missed path named."""
import pytest

from symnet.errors import InputError
from symnet.spec import Graph
from symnet.verify.matrix import check_matrix, is_matrix_name
from symnet.verify.verdict import check

from tests.derivation.test_graph_rules import KINDS


def graph(name: str) -> Graph:
    return Graph.build(*KINDS[name], title=name)


def test_a_scalar_claim_through_a_skip_is_judged_and_a_missed_path_named():
    g = graph("residual")
    right = "(1 - a1[1]**2)*(W2[1,1]*delta2[1] + W2[1,2]*delta2[2] + W2[1,3]*delta2[3] + delta2[1])"
    assert check(g, wrt="h1[1]", claim=right).correct
    wrong = check(g, wrt="h1[1]", claim="(1 - a1[1]**2)*(W2[1,1]*delta2[1] + W2[1,2]*delta2[2] + W2[1,3]*delta2[3])")
    assert not wrong.correct and any("add1[1]" in d and "missing the path" in d for d in wrong.diagnosis)
    assert check(g, wrt="add1[2]", claim="delta2[2]").correct


def test_a_tied_weights_claim_is_right_only_with_both_uses():
    g = graph("tied")
    assert check(g, wrt="W1[1,2]", claim="delta1[2]*x1 + code[2]*delta2[1]").correct
    assert not check(g, wrt="W1[1,2]", claim="delta1[2]*x1").correct


def test_a_graphs_names_resolve_its_aliases_and_refuse_what_it_lacks():
    g = graph("tied")
    assert check(g, wrt="out[1]", of="E", claim="(yhat[1] - y1)/(yhat[1]*(1 - yhat[1]))").correct
    with pytest.raises(InputError, match="not a quantity"):
        check(g, wrt="W2[1,1]", claim="1")


def test_matrix_claims_name_every_node_and_the_missing_path():
    g = graph("residual")
    assert is_matrix_name("Add1", g) and is_matrix_name("dA1", g) and not is_matrix_name("Add1")
    assert check_matrix(g, "W1", "X.T @ ((D2 @ W2.T + D2) * (1 - A1**2))").ok
    assert check_matrix(g, "A1", "D2 @ W2.T + D2").ok
    wrong = check_matrix(g, "W1", "X.T @ ((D2 @ W2.T) * (1 - A1**2))")
    assert not wrong.ok and "the path from a1 through add1 is missing" in wrong.diagnosis
    assert check_matrix(g, "dW1", "((W2.T @ dZ2 + dZ2) * (1 - A1**2)) @ X.T / m", convention="columns").ok


def test_a_concatenations_blocks_are_named_in_the_correct_expression():
    verdict = check_matrix(graph("concat"), "W2", "X.T @ (D3 @ W3.T)")
    assert not verdict.ok and "W3[3:" in verdict.correct


def test_a_bare_dense_output_is_yhat_in_matrix_claims():
    g = Graph.build(3, {"a1": "tanh(dense(x, 4))", "yhat": "dense(a1, 2)", "loss": "mse(yhat, y)"}, title="linear")
    assert check_matrix(g, "dW1", "X.T @ D1").ok
    assert check_matrix(g, "Yhat", "(Yhat - Y)/m").ok
    assert not check_matrix(g, "dW2", "A1.T @ Yhat").ok
