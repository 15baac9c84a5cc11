"""Claims about a network with a defined, piecewise loss: both branches are compared, and a claim may use
where(cond, a, b), abs and sign as the definition does."""
import pytest

import symnet
from symnet.functions.formula import define
from symnet.spec import Network

HUBER = "huber(yhat, y) = where(abs(yhat - y) <= 1, (yhat - y)^2/2, abs(yhat - y) - 1/2)"


@pytest.fixture
def net():
    define([HUBER])
    return Network.parse("2-2-1", output="identity", loss="huber")


def test_the_squared_error_gradient_is_not_hubers(net):
    verdict = symnet.check(net, "W2[1,1]", "(yhat - y)*a1[1]")
    assert not verdict
    assert abs(float(verdict.claimed_value) - float(verdict.true_value)) > 1e-3  # on the linear branch


def test_hubers_gradient_written_with_where_is_proved(net):
    verdict = symnet.check(net, "W2[1,1]", "where(abs(yhat - y) <= 1, yhat - y, sign(yhat - y))*a1[1]")
    assert verdict and verdict.proved


@pytest.mark.slow
def test_nested_wheres_are_compared_on_every_branch(net):
    assert symnet.check(net, "yhat", "where(yhat - y > 1, 1, where(yhat - y < -1, -1, yhat - y))")


def test_the_correct_form_is_printed_as_a_claim_can_be_pasted_back(net):
    verdict = symnet.check(net, "W2[1,1]", "(yhat - y)*a1[1]")
    shown = verdict.report().split("correct:    ")[1].splitlines()[0]
    assert "where(" in shown and "Piecewise" not in shown and "Abs" not in shown
    assert symnet.check(net, "W2[1,1]", shown)


@pytest.mark.parametrize("claim, message", [
    ("where(yhat, 1, 0)", "the condition of where(cond, a, b) must be one comparison"),
    ("where(yhat > 1, 1)", "where(cond, a, b) takes a comparison and two values"),
])
def test_a_malformed_where_is_one_line(net, claim, message):
    from symnet.errors import InputError

    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        symnet.check(net, "yhat", claim)
