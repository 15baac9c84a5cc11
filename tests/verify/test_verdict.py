"""`symnet.check`: hand-derived derivatives judged against the derivation, and wrong ones diagnosed."""
import time

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet import Network, check
from symnet import derive
from symnet.derivation.names import symbol as S

# the first article's chain for ∂E/∂W⁽¹⁾₁₁: ∂E/∂ŷ · ∂ŷ/∂h · ∂h/∂a₁ · ∂a₁/∂h₁ · ∂h₁/∂W⁽¹⁾₁₁
ARTICLE_CHAIN = "(yhat - y)*yhat*(1 - yhat)*W2[1,1]*a1[1]*(1 - a1[1])*x1"


@pytest.fixture(scope="module")
def net_222():
    return derive(Network.parse("2-2-2"))


@pytest.fixture(scope="module")
def softmax_cce():
    return derive(Network.parse("2-3", output="softmax", loss="cce"))


def article_E(point: dict[str, float], w11: float | None = None) -> float:
    """E of the first article's 2-2-1 sigmoid net, in NumPy, from a counterexample's named values."""
    W1 = np.array([[point["W1[1,1]"], point["W1[1,2]"]], [point["W1[2,1]"], point["W1[2,2]"]]])
    if w11 is not None:
        W1[0, 0] = w11
    b1 = np.array([point["b1[1]"], point["b1[2]"]])
    W2 = np.array([point["W2[1,1]"], point["W2[2,1]"]])
    x = np.array([point["x1"], point["x2"]])
    a1 = 1 / (1 + np.exp(-(x @ W1 + b1)))
    yhat = 1 / (1 + np.exp(-(a1 @ W2 + point["b2[1]"])))
    return 0.5 * (yhat - point["y"]) ** 2


# -- correct claims -------------------------------------------------------------------------

def test_first_articles_chain_is_proved_correct(article_net):
    v = check(article_net, wrt="W1[1,1]", claim=ARTICLE_CHAIN)
    assert v.correct and bool(v)
    assert v.proved
    assert v.points == 24
    assert v.counterexample is None and v.diagnosis == ()
    assert sp.expand(v.truth - article_net.gradient("W1[1,1]")) == 0
    assert v.report().startswith(f"correct: ∂E/∂W1[1,1] = {ARTICLE_CHAIN}")


@pytest.mark.slow
def test_expanded_sigma_form_of_the_chain_is_correct(article_net):
    with_sigma = ("(sigma(h2[1]) - y)*sigma(h2[1])*(1 - sigma(h2[1]))"
                  "*W2[1,1]*sigma(h1[1])*(1 - sigma(h1[1]))*x1")
    assert check(article_net, wrt="W1[1,1]", claim=with_sigma).proved
    # written all the way down to x and the parameters, as in the article's h = W11 σ(h1) + W21 σ(h2) + b
    h1 = "(W1[1,1]*x1 + W1[2,1]*x2 + b1[1])"
    h = f"(W2[1,1]*sigma({h1}) + W2[2,1]*sigma(W1[1,2]*x1 + W1[2,2]*x2 + b1[2]) + b2[1])"
    written_out = f"(sigma({h}) - y)*sigma({h})*(1 - sigma({h}))*W2[1,1]*sigma({h1})*(1 - sigma({h1}))*x1"
    v = check(article_net, wrt="W1[1,1]", claim=written_out)
    assert v.correct and v.proved


def test_sigma_prime_in_exponentials_is_proved_equal(article_net):
    v = check(article_net, of="h2[1]", wrt="h1[1]", claim="W2[1,1]*exp(-h1[1])/(1 + exp(-h1[1]))**2")
    assert v.correct and v.proved
    assert check(article_net, of="h2[1]", wrt="h1[1]", claim="W2[1,1]*sigma(h1[1])*sigma(-h1[1])").proved


@pytest.mark.parametrize("of, wrt, claim", [
    ("E", "yhat", "yhat - y"),                                      # ∂E/∂ŷ
    ("yhat", "h2[1]", "sigma(h2[1])*(1 - sigma(h2[1]))"),           # ∂ŷ/∂h = σ′(h)
    ("h2[1]", "h1[1]", "W2[1,1]*sigma(h1[1])*(1 - sigma(h1[1]))"),  # ∂h/∂h₁ = W⁽²⁾₁₁ σ′(h₁)
    ("h2[1]", "a1[1]", "W2[1,1]"),
    ("a1[1]", "h1[1]", "a1[1]*(1 - a1[1])"),
    ("h1[1]", "W1[1,1]", "x1"),                                     # ∂h₁/∂W⁽¹⁾₁₁
    ("E", "h2[1]", "(yhat - y)*yhat*(1 - yhat)"),                   # δ⁽²⁾
    ("E", "W2[1,1]", "(yhat - y)*yhat*(1 - yhat)*a1[1]"),
    ("E", "b1[2]", "(yhat - y)*yhat*(1 - yhat)*W2[2,1]*a1[2]*(1 - a1[2])"),
])
@pytest.mark.slow
def test_each_factor_of_the_articles_chain_checks_out(article_net, of, wrt, claim):
    v = check(article_net, of=of, wrt=wrt, claim=claim)
    assert v.correct and v.proved, v.report()


def test_latex_claim_of_the_issue_is_read_and_proved():
    net = Network.parse("2-1")  # ŷ = σ(h), h = W⁽¹⁾₁₁x₁ + W⁽¹⁾₂₁x₂ + b
    v = check(net, wrt="W1[1,1]", claim=r"(\hat{y}-y)\sigma(h)(1-\sigma(h))x_1", latex=True)
    assert v.correct and v.proved
    assert v.claim_text == "(yhat-y)*sigma(h)*(1-sigma(h))*x1"


def test_articles_latex_notation_for_the_whole_chain(article_net):
    tex = r"\left(\hat{y} - y\right)\sigma(h)\left(1-\sigma(h)\right) \cdot W_{11}^{(2)} \sigma(h_1)(1-\sigma(h_1)) x_1"
    assert check(article_net, wrt="W1[1,1]", claim=tex, latex=True).proved


def test_softmax_with_cross_entropy_is_yhat_minus_y_given_targets_that_sum_to_1(softmax_cce):
    v = check(softmax_cce, wrt="W1[1,2]", claim="x1*(yhat[2] - y2)")
    assert v.correct and v.proved
    assert any("y1 + y2 + y3 = 1" in n for n in v.notes)
    # the uncollapsed chain-rule sum is just as correct
    v = check(softmax_cce, of="E", wrt="h1[2]", claim="y1*yhat[2] + y2*(yhat[2] - 1) + y3*yhat[2]")
    assert v.correct and v.proved


def test_a_claim_with_the_mean_over_m_samples(article_net):
    v = check(article_net, wrt="W1[1,1]", claim=f"1/m*{ARTICLE_CHAIN}")
    assert v.correct and v.proved
    assert any("mean over m samples" in n for n in v.notes)


@pytest.mark.slow
def test_relu_claims_are_checked_away_from_the_kink():
    d = derive(Network.parse("2-2-1", hidden="relu"))
    v = check(d, wrt="W1[1,1]", claim="(yhat - y)*yhat*(1 - yhat)*W2[1,1]*heaviside(h1[1])*x1")
    assert v.correct and v.proved
    assert any("kink" in n for n in v.notes)
    # ReLU(h)/h is ReLU′(h) everywhere but at 0: equal at every point, though SymPy cannot show it
    v = check(d, wrt="W1[1,1]", claim="(yhat - y)*yhat*(1 - yhat)*W2[1,1]*relu(h1[1])/h1[1]*x1", time_limit=1)
    assert v.correct and not v.proved
    assert "not proved symbolically" in v.report()


def test_a_piecewise_truth_is_handled():
    d = derive(Network.parse("2-2-1", hidden="leaky_relu"))
    assert isinstance(d.gradient("W1[1,1]").atoms(sp.Piecewise).pop(), sp.Piecewise)
    v = check(d, wrt="W1[1,1]", claim="(yhat - y)*yhat*(1 - yhat)*W2[1,1]*x1")
    assert not v.correct
    assert v.diagnosis == ("missing ∂a1[1]/∂h1[1] = LReLU′(h1[1]) = where(h1[1] > 0, 1, 1/100)",)


# -- wrong claims, and why ----------------------------------------------------------------------

def test_missing_sigma_prime_is_named_with_a_counterexample(article_net):
    v = check(article_net, wrt="W1[1,1]", claim="(yhat - y)*yhat*(1 - yhat)*W2[1,1]*x1")
    assert not v.correct
    assert v.diagnosis == ("missing ∂a1[1]/∂h1[1] = σ′(h1[1]) = a1[1]*(1 - a1[1])",)
    p = v.counterexample
    # the true value is ∂E/∂W⁽¹⁾₁₁ at the point — measured here by central differences of E
    eps = 1e-6
    slope = (article_E(p, p["W1[1,1]"] + eps) - article_E(p, p["W1[1,1]"] - eps)) / (2 * eps)
    assert v.true_value == pytest.approx(slope, rel=1e-6)
    # the claimed value is the claim at the same point (a₁ and ŷ are reported with it)
    claimed = (p["yhat"] - p["y"]) * p["yhat"] * (1 - p["yhat"]) * p["W2[1,1]"] * p["x1"]
    assert v.claimed_value == pytest.approx(claimed, rel=1e-9)
    assert v.claimed_value != pytest.approx(v.true_value, rel=1e-3)
    report = v.report()
    assert "incorrect: the claim is not ∂E/∂W1[1,1]" in report
    assert "chain rule: (yhat - y) · yhat*(1 - yhat) · W2[1,1] · a1[1]*(1 - a1[1]) · x1" in report
    assert f"claimed value {v.claimed_value:.9g}, true value {v.true_value:.9g}" in report


def test_missing_output_sigma_prime(article_net):
    v = check(article_net, wrt="W1[1,1]", claim="(yhat - y)*W2[1,1]*a1[1]*(1 - a1[1])*x1")
    assert v.diagnosis == ("missing ∂yhat/∂h2[1] = σ′(h2[1]) = yhat*(1 - yhat)",)


def test_wrong_sign_points_at_the_flipped_factor(article_net):
    v = check(article_net, wrt="W1[1,1]", claim=ARTICLE_CHAIN.replace("(yhat - y)", "(y - yhat)"))
    assert v.diagnosis == ("wrong sign: the claim has y - yhat where the chain has yhat - y",)
    assert v.claimed_value == pytest.approx(-v.true_value, rel=1e-12)
    # -(yhat - y)*… is read as (y - yhat)*…, the same flipped factor
    v = check(article_net, wrt="W1[1,1]", claim="-" + ARTICLE_CHAIN)
    assert v.diagnosis == ("wrong sign: the claim has y - yhat where the chain has yhat - y",)
    v = check(article_net, wrt="W1[1,1]", claim=ARTICLE_CHAIN.replace("x1", "(-x1)"))
    assert v.diagnosis == ("wrong sign: the claim is the negative of the derivative",)


def test_transposed_weight_index(net_222):
    v = check(net_222, of="h2[1]", wrt="h1[1]", claim="W2[1,2]*a1[1]*(1 - a1[1])")
    assert v.diagnosis == ("wrong ∂h2[1]/∂a1[1]: the claim has W2[1,2] where the chain has W2[1,1]; "
                           "W2[1,2] connects a1[1] to h2[2]",)
    # in the sum over both paths of ∂E/∂W⁽¹⁾₁₁, W⁽²⁾₂₁ written for W⁽²⁾₁₂
    claim = ("x1*a1[1]*(1 - a1[1])*(W2[1,1]*yhat[1]*(1 - yhat[1])*(yhat[1] - y1)"
             " + W2[2,1]*yhat[2]*(1 - yhat[2])*(yhat[2] - y2))")
    v = check(net_222, wrt="W1[1,1]", claim=claim)
    assert v.diagnosis == ("on the path through yhat[2], h2[2], a1[1]: wrong ∂h2[2]/∂a1[1]: the claim has W2[2,1] "
                           "where the chain has W2[1,2] (indices transposed); W2[2,1] connects a1[2] to h2[1]",)
    assert check(net_222, wrt="W1[1,1]", claim=claim.replace("W2[2,1]", "W2[1,2]")).proved


def test_a_missing_path_of_a_wider_net(net_222):
    v = check(net_222, wrt="W1[1,1]", claim="x1*a1[1]*(1 - a1[1])*W2[1,1]*yhat[1]*(1 - yhat[1])*(yhat[1] - y1)")
    assert v.diagnosis == ("missing the path through yhat[2], h2[2], a1[1]: "
                           "(yhat[2] - y2) · yhat[2]*(1 - yhat[2]) · W2[1,2] · a1[1]*(1 - a1[1]) · x1",)


def test_forgotten_one_over_m(article_net):
    v = check(article_net, wrt="W1[1,1]", claim=ARTICLE_CHAIN, batch=True)
    assert not v.correct
    assert v.diagnosis == ("missing 1/m (E is the mean over the m samples)",)
    m = v.counterexample["m"]
    assert m >= 3 and v.true_value == pytest.approx(v.claimed_value / m, rel=1e-12)


def test_constant_factors_are_named(article_net):
    v = check(article_net, wrt="W1[1,1]", claim="2*" + ARTICLE_CHAIN)
    assert v.diagnosis == ("off by a constant factor 2",)


def test_wrong_input_in_the_last_factor(article_net):
    v = check(article_net, wrt="W1[1,1]", claim=ARTICLE_CHAIN.replace("x1", "x2"))
    assert v.diagnosis == ("wrong ∂h1[1]/∂W1[1,1]: the claim has x2 where the chain has x1",)


def test_sigmoid_prime_multiplied_into_softmax_cross_entropy(softmax_cce):
    v = check(softmax_cce, wrt="W1[1,2]", claim="x1*(yhat[2] - y2)*yhat[2]*(1 - yhat[2])")
    assert v.diagnosis == ("extra factor yhat[2]*(1 - yhat[2]) — with softmax + cross-entropy the output delta "
                           "is yhat - y: the softmax Jacobian cancels against ∂E/∂yhat",)


def test_cross_entropy_derivative_without_the_softmax_jacobian(softmax_cce):
    v = check(softmax_cce, wrt="W1[1,2]", claim="-x1*y2/yhat[2]")
    assert v.diagnosis == ("wrong ∂E/∂h1[2] = δ1[2] (softmax + cross-entropy, targets summing to 1): "
                           "the claim has -y2/yhat[2] where the chain has yhat[2] - y2",)
    # the counterexample's targets are valid: positive, summing to 1
    ys = [v.counterexample[f"y{j}"] for j in (1, 2, 3)]
    assert min(ys) > 0 and sum(ys) == pytest.approx(1, abs=1e-12)


def test_sigmoid_prime_kept_with_binary_cross_entropy():
    d = derive(Network.parse("2-1", output="sigmoid", loss="bce"))
    assert check(d, wrt="W1[1,1]", claim="(yhat - y)*x1").proved
    v = check(d, wrt="W1[1,1]", claim="(yhat - y)*yhat*(1 - yhat)*x1")
    assert v.diagnosis[0].startswith("extra factor yhat*(1 - yhat) — with sigmoid + binary cross-entropy")


def test_an_incomplete_tanh_derivative():
    d = derive(Network.parse("2-2-1", hidden="tanh", output="identity"))
    assert check(d, wrt="W1[1,1]", claim="(yhat - y)*W2[1,1]*(1 - tanh(h1[1])**2)*x1").proved
    v = check(d, wrt="W1[1,1]", claim="(yhat - y)*W2[1,1]*(1 - a1[1])*x1")
    assert v.diagnosis == ("incomplete ∂a1[1]/∂h1[1] = tanh′(h1[1]) = 1 - a1[1]**2: the claim lacks 1 + a1[1]",)


def test_a_claim_undefined_where_the_derivative_is_defined(article_net):
    # log(h₁²)/(2 log h₁) is 1 where h₁ > 0 and has no real value where h₁ < 0
    v = check(article_net, wrt="W1[1,1]", claim=f"{ARTICLE_CHAIN}*log(h1[1]**2)/(2*log(h1[1]))")
    assert not v.correct
    assert v.claimed_value is None and v.counterexample["h1[1]"] < 0
    assert "claimed value undefined" in v.report()


# -- bounded work -------------------------------------------------------------------------------------

def test_digits_lost_to_cancellation_are_recovered_at_higher_precision(article_net):
    # 10³⁰·(σ(h) + σ(−h) − 1) is 0, but at 50 digits it is 10³⁰ times a rounding error
    v = check(article_net, wrt="W1[1,1]", claim=f"{ARTICLE_CHAIN} + 10**30*(sigma(h1[2]) + sigma(-h1[2]) - 1)")
    assert v.correct and v.proved


@pytest.mark.slow
def test_symbolic_work_is_bounded_by_the_time_limit(article_net):
    # the chain plus s⁴⁰ minus the same power written another way: correct, but SymPy would expand a
    # ten-variable polynomial of degree 40 (billions of terms) to see it
    s = "((x1 + x2 + W1[1,1] + W1[1,2] + W1[2,1] + W1[2,2] + b1[1] + b1[2] + W2[1,1] + b2[1])/20)"
    claim = f"{ARTICLE_CHAIN} + {s}**40 - ({s}*(1 + x1) - {s}*x1)**40"
    start = time.perf_counter()
    v = check(article_net, wrt="W1[1,1]", claim=claim, time_limit=1)
    assert time.perf_counter() - start < 30  # unbounded, this would run for hours
    assert v.correct and not v.proved
    assert "symbolic simplification stopped after 1 s" in v.notes


def test_the_time_limit_holds_when_its_first_interruption_is_lost():
    from symnet.verify.proof import Timeout, time_limit

    start = time.perf_counter()
    with pytest.raises(Timeout):
        with time_limit(0.05):
            try:
                time.sleep(2)
            except Timeout:
                pass  # lost, as Python loses an exception raised inside a gc callback
            time.sleep(2)
    assert time.perf_counter() - start < 1


def test_unknown_and_unrelated_names_are_input_errors(article_net):
    with pytest.raises(symnet.errors.InputError, match="unknown name 'W2\\[1,2\\]'"):
        check(article_net, wrt="W1[1,1]", claim="W2[1,2]*x1")
    with pytest.raises(symnet.errors.InputError, match="does not depend on"):
        check(article_net, of="h1[1]", wrt="W2[1,1]", claim="0")
    with pytest.raises(symnet.errors.InputError, match="--wrt 'W3\\[1,1\\]' is not a quantity"):
        check(article_net, wrt="W3[1,1]", claim="x1")
    with pytest.raises(symnet.errors.InputError, match="m and --batch belong to derivatives of E"):
        check(article_net, of="h2[1]", wrt="h1[1]", claim="W2[1,1]/m")


def test_a_sympy_claim_is_accepted_as_is(article_net):
    expr = (S("yhat") - S("y")) * S("yhat") * (1 - S("yhat")) * S("W2[1,1]") * S("a1[1]") * (1 - S("a1[1]")) * S("x1")
    assert check(article_net, wrt="W1[1,1]", claim=expr).proved


def test_checks_run_outside_the_main_thread_without_a_timer(article_net):
    # signals only reach the main thread: there the symbolic work stays cheap and the verdict stands
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        good = pool.submit(check, article_net, "W1[1,1]", ARTICLE_CHAIN).result(timeout=60)
        bad = pool.submit(check, article_net, "W1[1,1]", ARTICLE_CHAIN.replace("x1", "x2")).result(timeout=60)
    assert good.correct and good.proved
    assert bad.diagnosis == ("wrong ∂h1[1]/∂W1[1,1]: the claim has x2 where the chain has x1",)


# -- deltas and ^ in claims ----------------------------------------------------------------------------

def test_a_delta_means_what_the_write_up_prints(article_net):
    # δ⁽¹⁾₁ = ∂E/∂h1[1]: x1·δ⁽¹⁾₁ is ∂E/∂W⁽¹⁾₁₁, x2·δ⁽¹⁾₁ is ∂E/∂W⁽¹⁾₂₁
    v = check(article_net, wrt="W1[1,1]", claim="x1*delta1[1]")
    assert v.correct and v.proved and v.claim_text == "x1*delta1[1]"
    assert check(article_net, wrt="W1[2,1]", claim="x2*delta1[1]").proved
    assert check(article_net, wrt="W1[1,1]", claim="x1*a1[1]*(1 - a1[1])*W2[1,1]*delta2[1]").proved
    v = check(article_net, wrt="W1[1,1]", claim="x2*delta1[1]")
    assert not v.correct
    assert v.diagnosis == ("wrong ∂h1[1]/∂W1[1,1]: the claim has x2 where the chain has x1",)
    # the values are real: the claim is x2/x1 times the derivative at the counterexample
    p = v.counterexample
    assert v.claimed_value == pytest.approx(v.true_value * p["x2"] / p["x1"], rel=1e-9)
    eps = 1e-6
    slope = (article_E(p, p["W1[1,1]"] + eps) - article_E(p, p["W1[1,1]"] - eps)) / (2 * eps)
    assert v.true_value == pytest.approx(slope, rel=1e-6)


def test_a_delta_of_softmax_cross_entropy(softmax_cce):
    assert check(softmax_cce, wrt="W1[1,2]", claim="x1*delta1[2]").proved
    assert check(softmax_cce, of="E", wrt="h1[2]", claim="yhat[2] - y2").proved


def test_powers_written_with_a_caret(article_net):
    assert check(article_net, of="yhat", wrt="h2[1]", claim="yhat - yhat^2").proved
    assert check(article_net, wrt="W1[1,1]", claim="(yhat - y)*(yhat - yhat^2)*W2[1,1]*(a1[1] - a1[1]^2)*x1").proved
    v = check(article_net, wrt="W1[1,1]", claim="(yhat - y)^2/2*x1")
    assert not v.correct
    p = v.counterexample
    assert v.claimed_value == pytest.approx((p["yhat"] - p["y"]) ** 2 / 2 * p["x1"], rel=1e-9)
    tanh = derive(Network.parse("2-2-1", hidden="tanh", output="identity"))
    assert check(tanh, wrt="W1[1,1]", claim="(yhat - y)*W2[1,1]*(1 - a1[1]^2)*x1").proved
