"""The kernels' train_epoch applies the optimiser's SymPy rule, and their gradients carry the L2 decay."""
import numpy as np
import pytest

import symnet
from symnet.emit.numba.builder import generate
from symnet.numeric.evaluate import Evaluator
from symnet.numeric.finite_differences import gradcheck
from symnet.spec import Network

NET = Network.parse("2-3-2", hidden="tanh", output="softmax", loss="cce", l2=0.01)
RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 2))
Y = np.eye(2)[RNG.integers(0, 2, 6)]


def published(name: str, theta: np.ndarray, grads: list[np.ndarray], lr: float) -> np.ndarray:
    """The published rule (Kingma & Ba; PyTorch's Nesterov and RMSprop), one batch after another."""
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        if name == "adam":
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            theta = theta - lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        elif name == "nesterov":
            m = 0.9 * m + g
            theta = theta - lr * (g + 0.9 * m)
        else:
            v = 0.99 * v + 0.01 * g * g
            theta = theta - lr * g / (np.sqrt(v) + 1e-8)
    return theta


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["unrolled", "indexed"])
@pytest.mark.parametrize("name", ["adam", "nesterov", "rmsprop"])
def test_one_step_and_the_next_equal_the_published_rule(name, mode):
    k = symnet.compile(NET, mode=mode, optimizer=name)
    assert k.OPTIMIZER == name and k.STATE == [s.name for s in symnet.derivation.update.OPTIMIZERS[name].state]
    params = k.init_params(2)
    flat = lambda ps: np.concatenate([p.reshape(-1) for p in ps])  # noqa: E731
    before = flat(params)
    state = k.init_state()
    # two epochs of one batch each: the second step reads the state the first left
    g1 = flat(k.gradients(params, X, Y))
    k.train_epoch(params, X, Y, 0.05, 6, state=state)
    g2 = flat(k.gradients(params, X, Y))
    k.train_epoch(params, X, Y, 0.05, 6, state=state)
    assert state["t"] == 2
    np.testing.assert_allclose(flat(params), published(name, before, [g1, g2], 0.05), rtol=0, atol=1e-12)


@pytest.mark.slow
def test_an_epoch_of_several_batches_counts_its_steps_and_takes_hyperparameters():
    k = symnet.compile(NET, mode="indexed", optimizer="adam")
    params, state = k.init_params(0), k.init_state()
    k.train_epoch(params, X, Y, 0.01, 4, state=state, beta1=0.5)
    assert state["t"] == 2  # batches of 4 and 2 rows
    with pytest.raises(ValueError, match="unknown hyperparameter 'momentum'; adam takes beta1, beta2, eps"):
        k.train_epoch(params, X, Y, 0.01, 4, state=state, momentum=0.9)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["unrolled", "loops", "gemm"])
def test_decayed_gradients_equal_finite_differences_and_the_derivation(mode):
    k = symnet.compile(NET, mode=mode)
    assert gradcheck(k).max_relative_error < 1e-6
    params = k.init_params(1)
    d = symnet.derive(NET)
    for mine, derived in zip(k.gradients(params, X, Y), Evaluator(d).gradients(params, X, Y)):
        np.testing.assert_allclose(mine, derived, rtol=1e-10, atol=1e-13)
    assert k.loss(params, X, Y) == pytest.approx(Evaluator(d).loss(params, X, Y), rel=1e-12)


def test_the_module_names_its_rule_and_the_decay_and_reproduces_itself():
    source = generate(NET, "indexed", optimizer="adam", output="k.py")
    assert "symnet codegen 2-3-2 --hidden tanh --output softmax --loss cce --l2 0.01 -o k.py --mode indexed " \
           "--dtype float64 --optimizer adam" in source
    assert "OPTIMIZER = 'adam'" in source and "L2 = 0.01" in source
    assert "gW1[i, j] += L2*W1[i, j]" in source
    assert "W1[i, j] = -lr*mhat/(eps + np.sqrt(shat)) + W1[i, j]" in source
    # sgd and momentum share one kernel: μ is given per call
    assert generate(NET, "indexed", optimizer="momentum") == generate(NET, "indexed")


def test_the_header_command_carries_the_definitions():
    from symnet.functions.formula import define

    define(["swish(x) = x*sigmoid(x)"])
    source = generate(Network.parse("2-2-1", hidden="swish"), "indexed", output="k.py")
    assert "symnet codegen --define 'swish(x) = x*sigmoid(x)' 2-2-1 --hidden swish" in source


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["unrolled", "indexed"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_batches_of_one_update_straight_from_the_chain_as_the_batch_loop_does(mode, momentum):
    net = Network.parse("2-3-2", hidden="tanh", output="softmax", loss="cce")
    k = symnet.compile(net, mode=mode)
    assert "_train_epoch_each" in vars(k)
    fused, looped = k.init_params(4), k.init_params(4)
    v_fused, v_looped = [np.zeros_like(p) for p in fused], [np.zeros_like(p) for p in looped]
    loss = k.train_epoch(fused, X, Y, 0.1, 1, momentum, v_fused)  # batches of one: the fused loop
    _, grads, work = k._epoch_buffers(1)
    reference = k._train_epoch(*looped, X, Y, 0.1, 1, momentum, True, *v_looped, *grads, *work)
    assert loss == pytest.approx(reference, rel=1e-14)
    for a, b in zip(fused + v_fused, looped + v_looped):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)
