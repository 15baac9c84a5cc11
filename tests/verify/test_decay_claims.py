"""Claims about a cost with L2 decay: λ may be written lam, reg or as the number; a missing or doubled
decay term is named."""
import pytest

import symnet
from symnet.spec import Network

NET = Network.parse("2-2-1", l2=0.01)
BACKPROP = "a1[1]*(yhat - y)*yhat*(1 - yhat)"


@pytest.mark.parametrize("decay", ["0.01*W2[1,1]", "lam*W2[1,1]", "reg*W2[1,1]", "W2[1,1]/100"])
def test_the_decay_term_written_any_way_is_correct(decay):
    assert symnet.check(NET, "W2[1,1]", f"{BACKPROP} + {decay}")


@pytest.mark.parametrize("claim, diagnosis", [
    (BACKPROP, "the L2 decay term λ·W2[1,1] (λ = 0.01) is missing"),
    (f"{BACKPROP} + 2*reg*W2[1,1]", "the L2 decay term λ·W2[1,1] (λ = 0.01) is counted twice"),
])
def test_a_missing_or_doubled_decay_term_is_named(claim, diagnosis):
    verdict = symnet.check(NET, "W2[1,1]", claim)
    assert not verdict
    assert verdict.diagnosis[0].startswith(diagnosis)


def test_biases_are_not_decayed_and_batch_claims_carry_the_term_per_sample():
    assert symnet.check(NET, "b2[1]", "(yhat - y)*yhat*(1 - yhat)")
    assert symnet.check(NET, "W2[1,1]", f"({BACKPROP} + reg*W2[1,1])/m")


def test_lam_is_only_a_name_when_the_cost_has_decay():
    from symnet.errors import InputError

    with pytest.raises(InputError, match="unknown name 'lam'"):
        symnet.check(Network.parse("2-2-1"), "W2[1,1]", f"{BACKPROP} + lam*W2[1,1]")
