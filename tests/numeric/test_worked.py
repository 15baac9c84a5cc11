"""The worked-example engine: numbers from the derivation equal an independent NumPy computation."""
import numpy as np
import pytest

import symnet
from symnet.errors import InputError
from symnet.numeric.worked import WorkedExample, fmt, values_from_dict

# The classic 2-2-2 hand calculation (sigmoid, ½ squared error).
VALUES = {
    "x": [0.05, 0.10], "y": [0.01, 0.99], "learning_rate": 0.5,
    "W1": [[0.15, 0.25], [0.20, 0.30]], "b1": [0.35, 0.35],
    "W2": [[0.40, 0.50], [0.45, 0.55]], "b2": [0.60, 0.60],
}


def numpy_reference(v):
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    x, y = np.array(v["x"]), np.array(v["y"])
    W1, b1, W2, b2 = (np.array(v[k]) for k in ("W1", "b1", "W2", "b2"))
    h1 = x @ W1 + b1
    a1 = sig(h1)
    h2 = a1 @ W2 + b2
    yhat = sig(h2)
    E = 0.5 * np.sum((yhat - y) ** 2)
    d2 = (yhat - y) * yhat * (1 - yhat)
    d1 = (W2 @ d2) * a1 * (1 - a1)
    grads = [np.outer(x, d1), d1, np.outer(a1, d2), d2]
    return h1, a1, h2, yhat, E, grads


def test_forward_pass_gradients_and_update_equal_numpy_to_nine_digits():
    d = symnet.derive("2-2-2")
    ex = WorkedExample(d, values_from_dict(VALUES, d.net))
    h1, a1, h2, yhat, E, grads = numpy_reference(VALUES)
    forward = dict((str(s), v) for s, v in ex.forward)
    for j in range(2):
        assert fmt(forward[f"h1[{j + 1}]"]) == fmt(h1[j])
        assert fmt(forward[f"a1[{j + 1}]"]) == fmt(a1[j])
        assert fmt(forward[f"yhat[{j + 1}]"]) == fmt(yhat[j])
    assert fmt(ex.error) == fmt(E) == "0.298371109"
    flat = np.concatenate([g.reshape(-1) for g in grads])
    assert [fmt(c.gradient) for c in ex.chains] == [fmt(g) for g in flat]
    params = np.concatenate([np.array(VALUES[k]).reshape(-1) for k in ("W1", "b1", "W2", "b2")])
    assert [fmt(u.after) for u in ex.updates] == [fmt(p - 0.5 * g) for p, g in zip(params, flat)]
    # the path factors multiply to the gradient
    for c in ex.chains:
        total = sum(np.prod([v for _, v in path]) for path in c.paths)
        assert total == pytest.approx(c.gradient, rel=1e-12)


@pytest.mark.parametrize("change, message", [
    ({"W2": None}, "missing W2"),
    ({"W1": [[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]]}, "W1 has shape (2, 3), expected (2, 2)"),
    ({"b1": ["a", "b"]}, "b1 must be numbers"),
    ({"x": [1.0]}, "x has shape (1,), expected (2,)"),
    ({"learning_rate": "fast"}, "learning_rate must be a number"),
    ({"W9": [1]}, "unknown key 'W9'"),
])
def test_bad_values_name_the_array_and_the_expected_shape(change, message):
    d = symnet.derive("2-2-2")
    data = {**VALUES, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(InputError) as err:
        values_from_dict(data, d.net)
    assert message in str(err.value)


def test_update_rules_are_the_design_cards():
    from symnet.derivation import update

    assert update.step(0.4, 0.08, 0.5).after == pytest.approx(0.4 - 0.5 * 0.08, rel=1e-15)
    # momentum from rest: v = −α g, and θ lands where plain SGD puts it
    first = update.step(0.4, 0.08, 0.5, momentum=0.9)
    assert first.velocity == pytest.approx(-0.04) and first.after == pytest.approx(0.36)
    second = update.step(first.after, 0.02, 0.5, momentum=0.9, v=first.velocity)
    assert second.velocity == pytest.approx(0.9 * -0.04 - 0.5 * 0.02)
    assert second.after == pytest.approx(0.36 + second.velocity)
