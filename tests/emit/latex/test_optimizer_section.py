"""The write-up prints the L2 term and the optimiser's rule, and steps the worked example with them."""
from functools import cache

import numpy as np
import pytest

import symnet
from symnet.emit.html.page import render_page
from symnet.emit.latex.document import writeup_of
from symnet.emit.latex.render import render_document
from symnet.numeric.evaluate import Evaluator
from symnet.numeric.worked import values_from_dict
from symnet.spec import Network

NET = Network.parse("2-3-1", hidden="tanh", output="sigmoid", loss="mse", l2=0.01)
VALUES = {"x": [0.05, 0.1], "y": [0.01], "learning_rate": 0.1,
          "W1": [[0.15, 0.25, 0.1], [0.2, 0.3, -0.2]], "b1": [0.35, 0.35, 0.1], "W2": [[0.4], [0.45], [0.3]],
          "b2": [0.6]}


@cache
def derivation():
    """NET's derivation, shared by the tests (a derivation is not changed by what reads it)."""
    return symnet.derive(NET)


@pytest.mark.slow  # (about 2 s: the derivation with its worked example, two Adam steps)
def test_two_adam_steps_equal_numpy_adam_on_the_derived_gradients():
    d = derivation()
    values = values_from_dict(VALUES, NET)
    ws = writeup_of(d, values, optimizer="adam").worked
    assert [s.number for s in ws.steps] == [1, 2]
    ev = Evaluator(d)
    params = [p.copy() for p in values.params]
    m = [np.zeros_like(p) for p in params]
    s = [np.zeros_like(p) for p in params]
    x, y = values.x.reshape(1, -1), values.y.reshape(1, -1)
    for t, step in enumerate(ws.steps, start=1):
        grads = ev.gradients(params, x, y)
        before = np.concatenate([p.reshape(-1) for p in params])
        for k, g in enumerate(grads):
            m[k] = 0.9 * m[k] + 0.1 * g
            s[k] = 0.999 * s[k] + 0.001 * g * g
            params[k] = params[k] - 0.1 * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(s[k] / (1 - 0.999 ** t)) + 1e-8)
        after = np.concatenate([p.reshape(-1) for p in params])
        flat_m = np.concatenate([a.reshape(-1) for a in m])
        flat_s = np.concatenate([a.reshape(-1) for a in s])
        for n, (_, b, g, state, a) in enumerate(step.rows):
            assert (b, a) == pytest.approx((before[n], after[n]), abs=1e-12)
            assert state == pytest.approx((flat_m[n], flat_s[n]), abs=1e-15)
        assert step.error_after == pytest.approx(ev.loss(params, x, y), rel=1e-12)


def test_plain_descent_takes_one_step_and_shows_the_error_after_it():
    d = derivation()
    ws = writeup_of(d, values_from_dict(VALUES, NET)).worked
    (step,) = ws.steps
    for _, before, g, state, after in step.rows:
        assert state == () and after == pytest.approx(before - 0.1 * g, abs=1e-15)
    assert step.error_after < ws.error


def test_the_document_states_the_decay_and_prints_the_rule():
    tex = render_document(derivation(), VALUES and values_from_dict(VALUES, NET), optimizer="nesterov",
                          momentum=0.5)
    assert r"With L2 weight decay ($\lambda = 0.01$)" in tex and "the biases are not decayed" in tex
    assert r"\frac{1}{2} \lambda \, \sum_{k=1}^{L}" in tex  # (λ/2)·Σ over the layers' weights
    assert r"\paragraph{Nesterov momentum.}" in tex
    # the learning rate before the gradient (α ∂C/∂θ), of the batch's cost C
    assert r"v &\leftarrow \mu v - \alpha \frac{\partial C}{\partial \theta}" in tex
    assert r"\theta &\leftarrow \theta + \mu v - \alpha \frac{\partial C}{\partial \theta}" in tex
    assert r"\text{step } t = 2" in tex and "with $\\mu = 0.5$" in tex
    assert r"+ \lambda \, W^{(2)}_{11}" in tex  # the chains carry the decay term


def test_the_page_states_the_decay_and_prints_the_rule():
    html = render_page(derivation(), values_from_dict(VALUES, NET), optimizer="adam")
    assert "Adam</h3>" in html and "step <var>t</var> = 2" in html and "L2 weight decay" in html


def test_the_optimiser_options_are_checked_once_for_every_renderer():
    from symnet.errors import InputError

    with pytest.raises(InputError, match=r"--beta2 must be in \[0, 1\), got 1.5"):
        writeup_of(derivation(), optimizer="adam", beta2=1.5)
