"""symnet.MLPClassifier and symnet.MLPRegressor: scikit-learn's own estimator checks, the tools people
use them with (Pipeline, GridSearchCV, cross_val_score), partial_fit, and what a fitted estimator writes.

Every kernel compiled here has one hidden layer of 4 neurons (32 on digits), so the shapes repeat
between tests: the estimator checks compile 15 small kernels, the other tests reuse them."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_digits, load_iris, make_regression  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import symnet  # noqa: E402
from symnet.emit.numba.cache import load  # noqa: E402
from symnet.functions.activations import IDENTITY, SOFTMAX, Sigmoid  # noqa: E402
from symnet.train.estimator import MLPClassifier, MLPRegressor, TrainingDiverged  # noqa: E402
from symnet.train.loop import Diverged, available_cpus  # noqa: E402

SMALL = dict(hidden_layer_sizes=(4,), max_iter=10, random_state=0)
TRAINED = {**SMALL, "max_iter": 100}  # where a score is asserted (epochs of these nets take microseconds)


# Every check of the installed scikit-learn runs (API and legacy) and passes; none is declared not
# applicable (no expected_failed_checks, no tags turning checks off).  A few report "skipped" where an
# optional dependency is missing: pandas (the data-frame checks), SCIPY_ARRAY_API (the array-API check).
@pytest.mark.slow
@parametrize_with_checks([MLPClassifier(**SMALL), MLPRegressor(**SMALL)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=120, n_features=10, n_informative=3, noise=5.0, random_state=1)
    return X, y


@pytest.mark.slow
def test_the_output_layer_follows_the_number_of_classes(iris):
    X, y = iris
    three = MLPClassifier(**TRAINED).fit(X, np.array(["setosa", "versicolor", "virginica"])[y])
    assert (three.network_.layers, three.network_.output, three.network_.loss) == ((4, 4, 3), SOFTMAX, "cce")
    assert three.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    assert three.predict_proba(X).shape == (150, 3)
    assert three.score(X, np.array(["setosa", "versicolor", "virginica"])[y]) > 0.8
    two = MLPClassifier(**TRAINED).fit(X, y == 0)
    assert (two.network_.layers, two.network_.output, two.network_.loss) == ((4, 4, 1), Sigmoid.name, "bce")
    proba = two.predict_proba(X)
    assert proba.shape == (150, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(two.predict(X), two.classes_[(proba[:, 1] > 0.5).astype(int)])
    assert two.score(X, y == 0) > 0.9


@pytest.mark.slow
def test_the_regressor_predicts_in_the_units_of_y_one_or_many_columns(regression):
    X, y = regression
    one = MLPRegressor(**TRAINED).fit(X, y)
    assert (one.network_.layers, one.network_.output, one.network_.loss) == ((10, 4, 1), IDENTITY, "mse")
    assert one.predict(X).shape == (120,)
    assert one.score(X, y) > 0.8
    yhat = symnet.compile(one.network_).forward(_params(one), X)[:, 0]  # on standardised targets
    np.testing.assert_allclose(one.predict(X), yhat * one.y_scale_ + one.y_mean_)
    Y = np.column_stack([y, -2 * y, y / 3, y + 100, 0.5 * y])
    many = MLPRegressor(**TRAINED).fit(X, Y)
    assert many.network_.layers == (10, 4, 5)
    assert many.predict(X).shape == (120, 5)
    assert many.score(X, Y) > 0.8
    column = MLPRegressor(**SMALL).fit(X, y[:, None])
    assert column.predict(X).shape == (120, 1)


@pytest.mark.slow
def test_raw_targets_in_the_hundreds_need_normalize_y_and_divergence_is_a_clear_value_error(regression):
    X, y = regression
    est = MLPRegressor(**SMALL, normalize_y=False)
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch \d+: .*lower learning_rate_init \(now 0.1\)") as e:
        est.fit(X, 10 * y)
    assert isinstance(e.value, ValueError) and isinstance(e.value, Diverged)
    with pytest.raises(NotFittedError):  # a diverged fit leaves nothing fitted behind
        est.predict(X)
    assert MLPRegressor(**TRAINED).fit(X, 10 * y).score(X, 10 * y) > 0.8


@pytest.mark.slow
def test_a_diverged_warm_start_leaves_the_fitted_weights_as_they_were(regression):
    X, y = regression
    est = MLPRegressor(**SMALL, warm_start=True).fit(X, y)
    before = [W.copy() for W in est.coefs_] + [b.copy() for b in est.intercepts_]
    est.set_params(learning_rate_init=50.0)
    with pytest.raises(TrainingDiverged):
        est.fit(X, y)
    for old, new in zip(before, est.coefs_ + est.intercepts_):
        np.testing.assert_array_equal(old, new)
    assert est.n_iter_ == 10


def _weights(est):
    return [p.copy() for p in est.coefs_ + est.intercepts_]


def _params(est):
    """[W1, b1, W2, b2, ...], the kernel's order."""
    return [p for W, b in zip(est.coefs_, est.intercepts_) for p in (W, b)]


@pytest.mark.slow
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_n_partial_fits_are_fit_with_n_epochs(iris, regression, momentum):
    """Same random_state, same data: the same initial weights, the same shuffles, the velocity carried."""
    X, y = iris
    fitted = MLPClassifier(**{**SMALL, "max_iter": 4}, momentum=momentum).fit(X, y)
    partial = MLPClassifier(**SMALL, momentum=momentum)
    for _ in range(4):
        partial.partial_fit(X, y, classes=[0, 1, 2])
    for a, b in zip(_weights(fitted), _weights(partial)):
        np.testing.assert_array_equal(a, b)
    assert partial.loss_curve_ == fitted.loss_curve_ and partial.n_iter_ == 4
    Xr, yr = regression
    fitted = MLPRegressor(**{**SMALL, "max_iter": 3}, momentum=momentum).fit(Xr, yr)
    partial = MLPRegressor(**SMALL, momentum=momentum)
    for _ in range(3):
        partial.partial_fit(Xr, yr)
    for a, b in zip(_weights(fitted), _weights(partial)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_warm_start_continues_where_the_last_fit_stopped(iris):
    X, y = iris
    once = MLPClassifier(**{**SMALL, "max_iter": 5}, momentum=0.5).fit(X, y)
    twice = MLPClassifier(**{**SMALL, "max_iter": 2}, momentum=0.5, warm_start=True).fit(X, y)
    twice.set_params(max_iter=3).fit(X, y)
    for a, b in zip(_weights(once), _weights(twice)):
        np.testing.assert_array_equal(a, b)
    assert twice.n_iter_ == 5 and twice.loss_curve_ == once.loss_curve_


def test_an_integer_random_state_is_the_kernels_seed(iris):
    X, y = iris
    est = MLPClassifier(**{**SMALL, "max_iter": 1, "random_state": 7}, shuffle=False).fit(X, y)
    kernel = symnet.compile(est.network_)
    params = kernel.init_params(7)
    Y = np.eye(3)[y]
    loss = kernel.train_epoch(params, X, Y, 0.1, 32)
    for a, b in zip(params, _params(est)):
        np.testing.assert_array_equal(a, b)
    assert est.loss_ == loss


def test_partial_fit_needs_the_classes_first_and_the_same_ones_after(iris):
    X, y = iris
    est = MLPClassifier(**SMALL)
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        est.partial_fit(X, y)
    est.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])  # a class may be missing from a call
    assert est.network_.layers == (4, 4, 3)
    with pytest.raises(ValueError, match="is not classes_"):
        est.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="labels not in classes_"):
        est.partial_fit(X, y + 1)


@pytest.mark.parametrize("params, message", [
    (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes must be a whole number >= 1"),
    (dict(activation=SOFTMAX), f"unknown hidden activation '{SOFTMAX}'; allowed: "),
    (dict(learning_rate_init=-1.0), "learning_rate_init must be a positive number"),
    (dict(momentum=1.0), r"momentum must be in \[0, 1\)"),
    (dict(batch_size=0), "batch_size must be a whole number >= 1"),
    (dict(max_iter=2.5), "max_iter must be a whole number >= 1"),
    (dict(dtype="float16"), "dtype must be one of float64, float32"),
    (dict(n_jobs=0), "n_jobs must be None, a whole number from 1 to"),
    (dict(n_jobs=available_cpus() + 1), "n_jobs must be None, a whole number from 1 to"),
    (dict(n_jobs=-available_cpus() - 1), r"or from -1 \(all of them\) to -"),
    (dict(n_jobs=1.5), "n_jobs must be None, a whole number from 1 to"),
])
def test_bad_parameters_are_refused_at_fit_with_one_line(iris, params, message):
    X, y = iris
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**params).fit(X, y)


def test_one_class_is_refused_naming_the_class(iris):
    X, _ = iris
    with pytest.raises(ValueError, match="needs at least 2 classes; y has only one class"):
        MLPClassifier(**SMALL).fit(X, np.ones(len(X)))


@pytest.mark.slow
def test_float32_kernels_predict_in_float32(iris):
    X, y = iris
    est = MLPClassifier(**TRAINED, dtype="float32").fit(X, y)
    assert est.coefs_[0].dtype == np.float32 and est.predict_proba(X).dtype == np.float32
    assert est.score(X, y) > 0.8


@pytest.mark.slow
def test_cross_val_score_on_a_pipeline(iris, regression):
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**TRAINED))
    scores = cross_val_score(pipe, X, y, cv=5)
    assert scores.shape == (5,) and scores.mean() > 0.85
    Xr, yr = regression
    r2 = cross_val_score(MLPRegressor(**TRAINED), Xr, yr, cv=3)
    assert r2.shape == (3,) and r2.mean() > 0.7


@pytest.mark.slow
def test_grid_search_over_a_pipeline_on_digits_reaches_over_90_percent():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=10, random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifier__learning_rate_init": [0.02, 0.2],
                                 "mlpclassifier__momentum": [0.0, 0.5]}, cv=3)
    search.fit(X_train, y_train)
    assert search.best_estimator_[-1].network_.layers == (64, 32, 10)
    assert search.score(X_test, y_test) > 0.9


@pytest.mark.slow
def test_a_fitted_estimator_writes_its_own_writeup_and_kernel(iris, tmp_path):
    X, y = iris
    est = MLPClassifier(**SMALL).fit(X, y)
    tex = est.writeup(tmp_path / "iris.tex")
    assert tex.read_text(encoding="utf-8") == symnet.latex(symnet.derive(est.network_))
    code = est.kernel(tmp_path / "iris_kernel.py")
    assert code.read_text(encoding="utf-8") == symnet.generate(est.network_, output="iris_kernel.py")
    # the kernel written is a module that gives the estimator's probabilities
    np.testing.assert_array_equal(load(code).forward(_params(est), X), est.predict_proba(X))
    with_momentum = MLPClassifier(**SMALL, momentum=0.9).fit(X, y)
    tex = with_momentum.writeup(tmp_path / "momentum.tex")
    assert tex.read_text(encoding="utf-8") == symnet.latex(symnet.derive(with_momentum.network_), momentum=0.9)
    with pytest.raises(NotFittedError):
        MLPClassifier().writeup(tmp_path / "unfitted.tex")
    with pytest.raises(NotFittedError):
        MLPRegressor().kernel(tmp_path / "unfitted.py")
    assert not (tmp_path / "unfitted.tex").exists() and not (tmp_path / "unfitted.py").exists()


def test_estimators_are_exported_from_symnet_lazily():
    assert symnet.MLPClassifier is MLPClassifier and symnet.MLPRegressor is MLPRegressor
    code = textwrap.dedent("""
        import sys
        import symnet
        assert "sklearn" not in sys.modules, "import symnet imported scikit-learn"
        sys.modules["sklearn"] = None  # as if scikit-learn were not installed
        try:
            symnet.MLPClassifier
        except ImportError as e:
            print(e)
        else:
            raise SystemExit("no ImportError")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "need scikit-learn, which is not installed: pip install 'symnet[sklearn]'" in out.stdout


@pytest.mark.slow
def test_adam_with_weight_decay_fits_and_partial_fit_carries_its_state(iris):
    X, y = iris
    clf = symnet.MLPClassifier(hidden_layer_sizes=(8,), optimizer="adam", l2=0.001, learning_rate_init=0.01,
                               max_iter=30, random_state=0).fit(X, y)
    assert clf.network_.l2 == 0.001 and clf.score(X, y) > 0.9
    steps = -(-len(X) // clf.batch_size)
    assert clf._state["t"] == 30 * steps
    clf.partial_fit(X, y)
    assert clf._state["t"] == 31 * steps
    once = symnet.MLPClassifier(hidden_layer_sizes=(8,), optimizer="adam", l2=0.001, learning_rate_init=0.01,
                                max_iter=31, random_state=0).fit(X, y)
    for a, b in zip(clf.coefs_, once.coefs_):  # 30 epochs and one more = 31 epochs
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("params, message", [({"optimizer": "lbfgs"}, "optimizer must be one of sgd, momentum"),
                                             ({"l2": -1.0}, "l2 must be a number >= 0")])
def test_bad_optimiser_parameters_are_value_errors(iris, params, message):
    X, y = iris
    with pytest.raises(ValueError, match=message):
        symnet.MLPClassifier(**params).fit(X, y)


@pytest.mark.slow
@pytest.mark.skipif(available_cpus() < 2, reason="needs two CPUs")
def test_n_jobs_trains_on_threads_to_the_one_thread_weights():
    # batches of 64 rows of 64-256-10: each of two threads gets 32 rows, 32 × 18,944 multiply-adds
    X, y = load_digits(return_X_y=True)
    fits = [MLPClassifier(hidden_layer_sizes=(256,), batch_size=64, max_iter=3, random_state=0, momentum=0.9,
                          n_jobs=n_jobs).fit(X / 16, y) for n_jobs in (None, 2, -1)]
    for other in fits[1:]:
        for mine, ref in zip(other.coefs_ + other.intercepts_, fits[0].coefs_ + fits[0].intercepts_):
            np.testing.assert_allclose(mine, ref, rtol=1e-12, atol=1e-14)
    assert fits[1]._kernel()._POOL  # the epochs did run on a second thread
    assert fits[1].score(X / 16, y) > 0.9
