"""Diagnoses that do not depend on how a claim is written (issue 13): a sign only where the claim is the
negative of the derivative, another activation's derivative named as such, one flipped term of a sum
named, and the same diagnosis whichever names (a1[1] or sigma(h1[1])) the claim uses."""
import pytest

from symnet import Network, check, derive
from symnet.verify.grammar import text

TANH_PRIME = "∂a1[1]/∂h1[1] = tanh′(h1[1])"
SIGMA_PRIME = "∂a1[1]/∂h1[1] = σ′(h1[1]) = a1[1]*(1 - a1[1])"


@pytest.fixture(scope="module")
def tanh_231():
    return derive(Network.parse("2-3-1", hidden="tanh"))


@pytest.fixture(scope="module")
def bce():
    return derive(Network.parse("2-2-1", loss="bce"))


def signs(verdict) -> list[str]:
    return [line for line in verdict.diagnosis if "sign" in line or "negative" in line]


# -- a sign only where the claim is the negative of the derivative ---------------------------------------

def test_a_missing_tanh_prime_is_only_missing(tanh_231):
    v = check(tanh_231, of="h2[1]", wrt="h1[1]", claim="W2[1,1]")
    assert v.diagnosis == (f"missing {TANH_PRIME} = 1 - a1[1]**2",)
    assert v.claimed_value != pytest.approx(-v.true_value)


def test_a_missing_tanh_prime_in_a_weight_derivative_is_only_missing(tanh_231):
    v = check(tanh_231, of="h2[1]", wrt="W1[1,1]", claim="W2[1,1]*x1")
    assert v.diagnosis == (f"missing {TANH_PRIME} = 1 - a1[1]**2",)
    assert signs(v) == []


def test_a_sign_inside_tanh_prime_is_named_as_written(tanh_231):
    v = check(tanh_231, of="h2[1]", wrt="h1[1]", claim="W2[1,1]*(1+a1[1]**2)")
    assert v.diagnosis == (f"wrong {TANH_PRIME}: the claim has 1 + a1[1]**2 where the chain has 1 - a1[1]**2 "
                           "(tanh′ = 1 - a**2): the term a1[1]**2 has the wrong sign",)
    assert not any("-1 - a1[1]**2" in line for line in v.diagnosis)


@pytest.mark.parametrize("claim", ["(y - yhat)*yhat*(1 - yhat)*W2[1,1]*a1[1]*(1 - a1[1])*x1",
                                   "(y - yhat)*yhat*(1 - yhat)*W2[1,1]*x1",
                                   "-(yhat - y)*(1 - yhat)*W2[1,1]*a1[1]*(1 - a1[1])*x1",
                                   "2*(yhat - y)*yhat*(1 - yhat)*W2[1,1]*a1[1]*(1 - a1[1])*x1",
                                   "(yhat - y)*yhat*(1 - yhat)*W2[1,1]*a1[1]*(1 + a1[1])*x1",
                                   "(yhat - y)*yhat*(1 - yhat)*W2[1,1]*(a1[1] - 1)*x1"])
def test_wrong_sign_is_said_exactly_when_the_claim_is_the_negative(article_net, claim):
    v = check(article_net, wrt="W1[1,1]", claim=claim)
    negative = v.claimed_value == pytest.approx(-v.true_value, rel=1e-12)
    assert any(line.startswith("wrong sign") for line in v.diagnosis) == negative
    assert any("negative of the derivative" in line for line in v.diagnosis) <= negative


# -- a known substitution, named in plain words ------------------------------------------------------------

def test_sigma_prime_where_tanh_prime_belongs(tanh_231):
    expected = (f"wrong {TANH_PRIME}: you used σ′ (a*(1 - a)) where tanh′ (1 - a**2) belongs",)
    v = check(tanh_231, of="h2[1]", wrt="h1[1]", claim="W2[1,1]*a1[1]*(1 - a1[1])")
    assert v.diagnosis == expected
    # σ′ at h itself, as the definition of σ gives it
    v = check(tanh_231, of="h2[1]", wrt="h1[1]", claim="W2[1,1]*sigma(h1[1])*(1 - sigma(h1[1]))")
    assert v.diagnosis == expected


def test_tanh_prime_where_sigma_prime_belongs(article_net):
    v = check(article_net, wrt="W1[1,1]", claim="(yhat - y)*yhat*(1 - yhat)*W2[1,1]*(1 - a1[1]**2)*x1")
    assert v.diagnosis == ("wrong ∂a1[1]/∂h1[1] = σ′(h1[1]): "
                           "you used tanh′ (1 - a**2) where σ′ (a*(1 - a)) belongs",)


def test_sigma_prime_for_every_tanh_unit_of_a_layer():
    d = derive(Network.parse("2-2-1", hidden="tanh"))
    claim = "(yhat - y)*yhat*(1 - yhat)*(W2[1,1]*a1[1]*(1 - a1[1])*W1[1,1] + W2[2,1]*a1[2]*(1 - a1[2])*W1[1,2])"
    v = check(d, wrt="x1", claim=claim)
    assert v.diagnosis == ("wrong f′ in layer 1: you used σ′ (a*(1 - a)) where tanh′ (1 - a**2) belongs",)


def test_a_dropped_factor_of_sigma_prime_is_not_called_softplus_prime(article_net):
    # a1[1] is softplus′(h1[1]) = σ(h1[1]) in a sigmoid layer; what is wrong is the missing 1 - a1[1]
    v = check(article_net, wrt="W1[1,1]", claim="(yhat - y)*yhat*(1 - yhat)*W2[1,1]*a1[1]*x1")
    assert v.diagnosis == (f"incomplete {SIGMA_PRIME}: the claim lacks 1 - a1[1]",)


# -- one term of a sum with the wrong sign ---------------------------------------------------------------

def test_binary_cross_entropy_with_one_term_of_the_wrong_sign(bce):
    v = check(bce, of="E", wrt="yhat", claim="-(y/yhat) - (1-y)/(1-yhat)")
    assert v.diagnosis == ("wrong ∂E/∂yhat: the claim has -y/yhat - (1 - y)/(1 - yhat) where the chain has "
                           "(1 - y)/(1 - yhat) - y/yhat: the term (1 - y)/(1 - yhat) has the wrong sign",)
    assert not any(word in line for line in v.diagnosis
                   for word in ("negative of the derivative", "lacks", "extra factor"))
    assert check(bce, of="E", wrt="yhat", claim="-(y/yhat) + (1-y)/(1-yhat)").proved


def test_binary_cross_entropy_term_inside_a_longer_chain(bce):
    v = check(bce, wrt="W2[1,1]", claim="(-(y/yhat) - (1-y)/(1-yhat))*yhat*(1-yhat)*a1[1]")
    assert v.diagnosis == ("one term of the sum -y/yhat - (1 - y)/(1 - yhat) has the wrong sign: "
                           "the claim has -(1 - y)/(1 - yhat) where the chain has +(1 - y)/(1 - yhat)",)


# -- the same diagnosis whichever names the claim is written in ---------------------------------------------

def sigma_names(claim: str) -> str:
    """The claim with the forward names written out as the activations of their sums."""
    return (claim.replace("yhat", "sigma(h2[1])").replace("a1[1]", "sigma(h1[1])")
            .replace("a1[2]", "sigma(h1[2])"))


TWO_PATHS = "(yhat - y)*yhat*(1 - yhat)*(W2[1,1]*a1[1]*(1 - a1[1])*W1[1,1] + W2[2,1]*a1[2]*(1 - a1[2])*W1[1,2])"


@pytest.mark.parametrize("claim, diagnosis", [
    # a path left out of Σ
    ("(yhat - y)*yhat*(1 - yhat)*(W2[1,1]*a1[1]*(1 - a1[1])*W1[1,1])",
     "missing the path through yhat, h2[1], a1[2]: "
     "(yhat - y) · yhat*(1 - yhat) · W2[2,1] · a1[2]*(1 - a1[2]) · W1[1,2]"),
    # σ′ left out of one path
    (TWO_PATHS.replace("a1[2]*(1 - a1[2])*", ""),
     "on the path through yhat, h2[1], a1[2]: missing ∂a1[2]/∂h1[2] = σ′(h1[2]) = a1[2]*(1 - a1[2])"),
    # the common outer factor's sign
    (TWO_PATHS.replace("(yhat - y)", "(y - yhat)"), "wrong sign: the claim has y - yhat where the chain has yhat - y"),
    # σ′ of the output left out of the common factor
    (TWO_PATHS.replace("yhat*(1 - yhat)*", ""), "missing ∂yhat/∂h2[1] = σ′(h2[1]) = yhat*(1 - yhat)"),
])
def test_a_two_path_sum_in_sigma_names_gets_the_same_diagnosis(article_net, claim, diagnosis):
    written = check(article_net, wrt="x1", claim=claim)
    spelled_out = check(article_net, wrt="x1", claim=sigma_names(claim))
    assert "sigma" in sigma_names(claim)
    assert written.diagnosis == spelled_out.diagnosis == (diagnosis,)


def test_sums_written_out_to_the_inputs_fold_into_their_names(article_net):
    h11 = "(W1[1,1]*x1 + W1[2,1]*x2 + b1[1])"
    claim = f"(yhat - y)*yhat*(1 - yhat)*W2[1,1]*sigma({h11})*x1"
    v = check(article_net, wrt="W1[1,1]", claim=claim)
    assert v.diagnosis == (f"incomplete {SIGMA_PRIME}: the claim lacks 1 - a1[1]",)


def test_a_sign_on_one_path_of_a_wider_net_names_its_factor():
    d = derive(Network.parse("2-2-2"))
    claim = ("x1*a1[1]*(1 - a1[1])*(W2[1,1]*yhat[1]*(1 - yhat[1])*(y1 - yhat[1])"
             " + W2[1,2]*yhat[2]*(1 - yhat[2])*(yhat[2] - y2))")
    expected = ("on the path through yhat[1], h2[1], a1[1]: wrong sign: the claim has y1 - yhat[1] "
                "where the chain has yhat[1] - y1",)
    assert check(d, wrt="W1[1,1]", claim=claim).diagnosis == expected
    spelled_out = claim.replace("yhat[1]", "sigma(h2[1])").replace("yhat[2]", "sigma(h2[2])")
    assert check(d, wrt="W1[1,1]", claim=spelled_out).diagnosis == expected


def test_a_mistake_in_a_factor_that_several_paths_share_is_said_once():
    d = derive(Network.parse("2-2-2-1", hidden="tanh"))
    chain = " + ".join("*".join(f"({text(f.compact)})" for f in p.factors) for p in d.paths("E", "x1"))
    v = check(d, wrt="x1", claim=chain.replace("(1 - a1[2]**2)", "(1 + a1[2]**2)"))
    assert v.diagnosis == ("on the 2 paths through yhat, h3[1], a1[2]: wrong ∂a1[2]/∂h1[2] = tanh′(h1[2]): "
                           "the claim has 1 + a1[2]**2 where the chain has 1 - a1[2]**2 (tanh′ = 1 - a**2): "
                           "the term a1[2]**2 has the wrong sign",)
