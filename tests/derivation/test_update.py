"""The optimisers are SymPy rules; one step of each equals the published update, computed here in NumPy."""
import numpy as np
import pytest
import sympy as sp

from symnet.derivation import update
from symnet.errors import InputError

RNG = np.random.default_rng(3)
THETA, G1, G2 = RNG.normal(size=5), RNG.normal(size=5), RNG.normal(size=5)


def two_steps(name: str, lr: float = 0.05, **hyper: float) -> np.ndarray:
    """θ after two steps of symnet's rule (gradients G1 then G2), on whole arrays."""
    rule = update.OPTIMIZERS[name]
    values = rule.defaults(**hyper)
    theta = THETA.copy()
    state = {s.name: np.zeros_like(theta) for s in rule.state}
    for t, g in enumerate((G1, G2), start=1):
        rule.apply(theta, g, lr, state, values, t)
    return theta


def test_adam_is_kingma_and_ba_with_bias_correction():
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.05
    theta, m, v = THETA.copy(), np.zeros(5), np.zeros(5)
    for t, g in enumerate((G1, G2), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    np.testing.assert_allclose(two_steps("adam"), theta, rtol=0, atol=1e-12)


def test_nesterov_is_pytorchs_form():
    mu, lr = 0.9, 0.05
    theta, buf = THETA.copy(), np.zeros(5)
    for g in (G1, G2):  # torch.optim.SGD(nesterov=True, dampening=0)
        buf = mu * buf + g
        theta = theta - lr * (g + mu * buf)
    np.testing.assert_allclose(two_steps("nesterov"), theta, rtol=0, atol=1e-12)


def test_rmsprop_is_pytorchs_form_with_its_default_decay():
    alpha, eps, lr = 0.99, 1e-8, 0.05
    theta, sq = THETA.copy(), np.zeros(5)
    for g in (G1, G2):
        sq = alpha * sq + (1 - alpha) * g * g
        theta = theta - lr * g / (np.sqrt(sq) + eps)
    np.testing.assert_allclose(two_steps("rmsprop"), theta, rtol=0, atol=1e-12)


def test_momentum_and_sgd_keep_their_rules():
    mu, lr = 0.5, 0.05
    theta, v = THETA.copy(), np.zeros(5)
    for g in (G1, G2):
        v = mu * v - lr * g
        theta = theta + v
    np.testing.assert_allclose(two_steps("momentum", momentum=mu), theta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(two_steps("sgd"), THETA - 0.05 * (G1 + G2), rtol=0, atol=1e-12)


def test_one_scalar_step_returns_the_new_state():
    moved = update.ADAM.step(0.5, 0.2, 0.1, {"m": 0.0, "s": 0.0}, update.ADAM.defaults(), 1)
    assert moved.state["m"] == pytest.approx(0.02) and moved.state["s"] == pytest.approx(0.001 * 0.04)
    assert moved.after == pytest.approx(0.5 - 0.1 * 0.2 / (0.2 + 1e-8), abs=1e-15)


def test_the_rules_are_sympy_assignments_in_order():
    names = [str(target) for target, _ in update.ADAM.steps]
    assert names == ["m", "s", "mhat", "shat", "theta"]
    assert update.ADAM.counts_steps and not update.NESTEROV.counts_steps
    (_, rhs), = update.SGD.rules(sp.Symbol("w"), sp.Symbol("dw"))
    assert rhs == sp.Symbol("w") - update.alpha * sp.Symbol("dw")


def test_resolve_reads_the_options_as_symnet_train_does():
    assert update.resolve(None) == (update.SGD, {})
    assert update.resolve(None, momentum=0.0) == (update.SGD, {})
    assert update.resolve(None, momentum=0.9) == (update.MOMENTUM_SGD, {"momentum": 0.9})
    rule, hyper = update.resolve("adam", beta1=0.8)
    assert rule is update.ADAM and hyper == {"beta1": 0.8, "beta2": 0.999, "eps": 1e-8}


@pytest.mark.parametrize("name, given, message", [
    ("adam", {"beta1": 1.0}, "--beta1 must be in [0, 1), got 1.0"),
    ("rmsprop", {"eps": 0.0}, "--eps must be positive, got 0.0"),
    ("nesterov", {"momentum": float("nan")}, "--momentum must be in [0, 1), got nan"),
    ("sgd", {"beta2": 0.9}, "--beta2 does not apply to --optimizer sgd; it takes only --lr"),
    ("adam", {"momentum": 0.9}, "--momentum does not apply to --optimizer adam; it takes --beta1, --beta2, --eps"),
    ("lbfgs", {}, "unknown optimizer 'lbfgs'; allowed: sgd, momentum, nesterov, rmsprop, adam"),
])
def test_bad_hyperparameters_are_named(name, given, message):
    with pytest.raises(InputError) as e:
        update.resolve(name, **given)
    assert str(e.value) == message
