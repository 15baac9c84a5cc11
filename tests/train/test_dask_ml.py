"""dask-ml's Incremental wrapper drives symnet's estimators through partial_fit, one Dask block at a time."""
import numpy as np
import pytest

da = pytest.importorskip("dask.array")
wrappers = pytest.importorskip("dask_ml.wrappers")
pytest.importorskip("sklearn")

import symnet

pytestmark = pytest.mark.slow


def test_incremental_mlp_classifier_on_a_dask_array():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 5))
    y = np.where(X[:, 0] + X[:, 1] > 0, 2, np.where(X[:, 2] > 0, 1, 0))
    dX, dy = da.from_array(X, chunks=(60, 5)), da.from_array(y, chunks=60)
    inc = wrappers.Incremental(symnet.MLPClassifier(hidden_layer_sizes=(8,), random_state=0), scoring="accuracy",
                                 shuffle_blocks=False)  # the blocks in order, as the reference below
    inc.fit(dX, dy, classes=[0, 1, 2])
    # the same as partial_fit on the four blocks in order
    ref = symnet.MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    for a in range(0, 240, 60):
        ref.partial_fit(X[a:a + 60], y[a:a + 60], classes=[0, 1, 2])
    for got, want in zip(inc.estimator_.coefs_ + inc.estimator_.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_array_equal(got, want)
    predicted = inc.predict(dX)
    assert isinstance(predicted, da.Array)
    np.testing.assert_array_equal(predicted.compute(), ref.predict(X))
    assert inc.score(dX, dy) == pytest.approx(ref.score(X, y))
