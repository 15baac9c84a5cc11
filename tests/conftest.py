import numpy as np
import pytest

from symnet import Network, derive
from symnet.numeric.finite_differences import kink_distance, random_point

# every (output, loss) pair the spec accepts
OUTPUT_LOSSES = [
    ("identity", "mse"), ("sigmoid", "mse"), ("tanh", "mse"), ("relu", "mse"), ("leaky_relu", "mse"),
    ("softplus", "mse"), ("softmax", "mse"), ("sigmoid", "bce"), ("softmax", "bce"), ("softmax", "cce"),
]
HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "softplus", "identity"]


def point_away_from_kinks(d, m=4, seed=0, margin=0.05):
    """A random point whose ReLU pre-activations all lie at least ``margin`` from 0."""
    for s in range(seed, seed + 200):
        params, X, Y = random_point(d, m=m, seed=s)
        if kink_distance(d, params, X) > margin:
            return params, X, Y
    raise AssertionError("no point away from the kinks")


@pytest.fixture(scope="session")
def article_net():
    """The first article's network: 2-2-1, sigmoid everywhere, ½ squared error."""
    return derive(Network.parse("2-2-1", hidden="sigmoid", output="sigmoid", loss="mse"))
