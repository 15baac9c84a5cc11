import os

import numpy as np
import pytest
from hypothesis import settings

from symnet import Network, SpecError, derive
from symnet.functions.activations import names
from symnet.functions.losses import LOSSES
from symnet.numeric.finite_differences import kink_distance, kinks_of, random_point

# Hypothesis draws the same examples on every run, so CI is reproducible
settings.register_profile("symnet", derandomize=True, database=None, deadline=None)
settings.load_profile("symnet")


def _valid(output: str, loss: str) -> bool:
    try:
        Network.parse("2-3", output=output, loss=loss)
    except SpecError:
        return False
    return True


#: the output a loss reads as people write it, where it reads any (the hinge: raw scores); the other outputs it
#: accepts add nothing the output's own pairs with mse do not, and each pair costs a kernel compile per layout
USUAL_OUTPUT = {"hinge": "identity"}

# every activation and every (output, loss) pair the spec accepts, from the registries
HIDDEN = list(names(hidden=True))
OUTPUT_LOSSES = [(o, loss) for loss in LOSSES for o in names() if _valid(o, loss)
                 and USUAL_OUTPUT.get(loss, o) == o]


def point_away_from_kinks(d, m=4, seed=0, margin=0.05):
    """A random point whose ReLU pre-activations all lie at least ``margin`` from 0."""
    for s in range(seed, seed + 200):
        params, X, Y = random_point(d, m=m, seed=s)
        if kink_distance(kinks_of(d.net), params, X) > margin:
            return params, X, Y
    raise AssertionError("no point away from the kinks")


@pytest.fixture(scope="session")
def article_net():
    """The first article's network: 2-2-1, sigmoid everywhere, ½ squared error."""
    return derive(Network.parse("2-2-1", hidden="sigmoid", output="sigmoid", loss="mse"))


@pytest.fixture(autouse=True)
def private_kernel_cache(tmp_path_factory, monkeypatch):
    """Kernels compile into a temporary cache, never the user's (a test may set its own)."""
    if "SYMNET_CACHE" not in os.environ:
        monkeypatch.setenv("SYMNET_CACHE", str(tmp_path_factory.getbasetemp() / "symnet-cache"))


@pytest.fixture(autouse=True)
def forget_definitions():
    """--define registers functions for the whole process: each test forgets the ones it made."""
    from symnet.functions import formula

    before = set(formula.DEFINED)
    yield
    formula.undefine(*(set(formula.DEFINED) - before))
