"""scikit-learn estimators on the generated kernels: ``symnet.MLPClassifier`` and ``symnet.MLPRegressor``.

They fit where people already work (``Pipeline``, ``GridSearchCV``, ``cross_val_score``) and train with
the same compiled kernel as ``symnet train``: mini-batch SGD (with momentum), one ``train_epoch`` per
epoch, the rows shuffled with the seed before each epoch.  A fitted estimator writes its own derivation
(:meth:`writeup`) and kernel (:meth:`kernel`).

The networks they build (``network_`` after fitting):

* ``MLPClassifier``: two classes take **one sigmoid output with binary cross-entropy**, P(``classes_[1]``);
  three or more take **one softmax output per class with cross-entropy**.  ``predict_proba`` has one
  column per class either way.
* ``MLPRegressor``: **identity outputs with half the squared error**, one per target column (multi-output
  ``y`` of shape (m, k) is supported; a 1-d ``y`` predicts a 1-d array), trained on standardised targets
  unless ``normalize_y=False`` (predictions are in the units of ``y`` either way).

Inputs ``X`` are used as given (no scaling inside; put a ``StandardScaler`` in front).  There is no early
stopping: ``max_iter`` epochs run every time.  A loss or parameter that is not a finite number after an
epoch raises :class:`TrainingDiverged` (a ``ValueError``) and leaves the estimator as it was.

scikit-learn is optional: ``pip install 'symnet[sklearn]'``.
"""
from __future__ import annotations

import copy
import numbers
from pathlib import Path

import numpy as np

from symnet.derivation.chains import derive
from symnet.derivation import update
from symnet.derivation.update import valid_momentum
from symnet.emit.latex.render import render_document
from symnet.emit.numba.builder import DTYPES, generate
from symnet.emit.numba.cache import compile as compile_kernel
from symnet.errors import InputError
from symnet.files import check_writable, write_atomic
from symnet.functions.activations import IDENTITY, SOFTMAX, ReLU, Sigmoid, names
from symnet.functions.losses import LOSSES
from symnet.functions.layers import BIAS, WEIGHT
from symnet.spec import Graph, Network
from symnet.train.loop import Diverged, available_cpus, non_finite

#: what to install when scikit-learn is missing
EXTRA = "pip install 'symnet[sklearn]'"

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, unique_labels
    from sklearn.utils.validation import check_is_fitted
except ImportError as e:  # scikit-learn is an optional extra
    raise ImportError(f"symnet.MLPClassifier and symnet.MLPRegressor need scikit-learn, which is not "
                      f"installed: {EXTRA}") from e

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6: the method it replaced
    def validate_data(estimator, *args, **kwargs):  # type: ignore[no-redef]
        return estimator._validate_data(*args, **kwargs)

# the losses by what they are for, from the registry: mse (real targets), bce (one 0/1 output),
# cce (softmax over one-hot classes)
REGRESSION_LOSS = next(name for name, loss in LOSSES.items() if loss.real_targets)
BINARY_LOSS = next(name for name, loss in LOSSES.items() if loss.unit_interval)
MULTICLASS_LOSS = next(name for name, loss in LOSSES.items() if loss.one_hot and loss.output == SOFTMAX)


class TrainingDiverged(Diverged, ValueError):
    """Training produced a loss or a parameter that is not a finite number.

    A ``ValueError`` (as scikit-learn expects of a failed fit) and symnet's :class:`~symnet.train.loop.Diverged`
    (``epoch``: the epoch it happened in, counted from the first fit; ``history`` is empty: the epoch
    losses before it are the estimator's ``loss_curve_``)."""


class _SymnetMLP(BaseEstimator):
    """What the classifier and the regressor share: the parameters, the network, the training loop."""

    def __init__(self, hidden_layer_sizes=(32,), activation=ReLU.name, *, learning_rate_init=0.1, momentum=0.0,
                 batch_size=32, max_iter=20, random_state=None, shuffle=True, warm_start=False, dtype="float64",
                 optimizer="sgd", l2=0.0, n_jobs=None, graph=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.optimizer = optimizer
        self.l2 = l2
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.random_state = random_state
        self.shuffle = shuffle
        self.warm_start = warm_start
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.graph = graph

    # -- what subclasses say --------------------------------------------------------------
    def _targets(self, y, *, first: bool, incremental: bool, classes=None) -> tuple[np.ndarray, dict]:
        """The targets (m, n_outputs) for the loss, and the attributes that describe them (set once
        training succeeded; on a first fit they are new, else the fitted ones)."""
        raise NotImplementedError

    def _output(self, targets: dict) -> tuple[str, str]:
        """(output activation, loss) of the network for targets described by ``targets``."""
        raise NotImplementedError

    # -- checks ---------------------------------------------------------------------------------
    def _hidden_sizes(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        try:
            sizes = tuple(sizes)
        except TypeError:
            sizes = None
        if sizes is None or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1
                                    for n in sizes):
            raise InputError(f"hidden_layer_sizes must be a whole number >= 1 or a sequence of them, e.g. (32,), "
                             f"got {self.hidden_layer_sizes!r}")
        return tuple(int(n) for n in sizes)

    def _check_params(self) -> None:
        self._hidden_sizes()
        activation = self.activation
        hidden = [activation] if isinstance(activation, str) else activation
        if not isinstance(hidden, (list, tuple)) or not all(isinstance(a, str) for a in hidden):
            raise InputError(f"activation must be an activation name or one per hidden layer, got {activation!r}")
        allowed = names(hidden=True)
        for a in hidden:
            if a not in allowed:
                raise InputError(f"unknown hidden activation {a!r}; allowed: {', '.join(allowed)}")
        for name, value, ok, rule in (
            ("learning_rate_init", self.learning_rate_init,
             _real(self.learning_rate_init) and np.isfinite(self.learning_rate_init) and self.learning_rate_init > 0,
             "a positive number"),
            ("momentum", self.momentum, _real(self.momentum) and valid_momentum(self.momentum), "in [0, 1)"),
            ("optimizer", self.optimizer, self.optimizer in update.OPTIMIZERS, f"one of {', '.join(update.OPTIMIZERS)}"),
            ("l2", self.l2, _real(self.l2) and np.isfinite(self.l2) and self.l2 >= 0, "a number >= 0"),
            ("batch_size", self.batch_size, _whole(self.batch_size) and self.batch_size >= 1, "a whole number >= 1"),
            ("max_iter", self.max_iter, _whole(self.max_iter) and self.max_iter >= 1, "a whole number >= 1"),
            ("dtype", self.dtype, self.dtype in DTYPES, f"one of {', '.join(DTYPES)}"),
            ("n_jobs", self.n_jobs, self.n_jobs is None or (_whole(self.n_jobs) and self.n_jobs != 0
                                                            and abs(self.n_jobs) <= available_cpus()),
             f"None, a whole number from 1 to {available_cpus()} (the CPUs this process may run on), "
             f"or from -1 (all of them) to -{available_cpus()} (one)"),
        ):
            if not ok:
                raise InputError(f"{name} must be {rule}, got {value!r}")

    def _network(self, n_features: int, n_outputs: int, targets: dict) -> Network | Graph:
        output, loss = self._output(targets)
        if self.graph is not None:
            return Graph.headed(n_features, self.graph, n_outputs, output, loss, float(self.l2),
                                title=type(self).__name__)
        sizes = (n_features, *self._hidden_sizes(), n_outputs)
        return Network.build(list(sizes), self.activation, output, loss, l2=float(self.l2))

    def _seed(self) -> int:
        """The seed of the initial weights and of the shuffles: ``random_state`` itself when it is a
        whole number (as ``symnet train --seed``), else one drawn from it."""
        rs = self.random_state
        if _whole(rs) and 0 <= rs < 2**32:
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _rule(self) -> tuple[update.Optimizer, dict[str, float]]:
        """The optimiser and its hyperparameters: ``optimizer`` (sgd with a momentum > 0 is momentum)."""
        name = "momentum" if self.optimizer == "sgd" and self.momentum else self.optimizer
        uses_momentum = name in ("momentum", "nesterov")
        return update.resolve(name, momentum=float(self.momentum) if uses_momentum else None)

    def _threads(self) -> dict:
        """train_epoch's threads for n_jobs (scikit-learn's convention: None is the default, -1 all CPUs, -2 all
        but one); none given: the kernel's default, BLAS with its own threads."""
        if self.n_jobs is None:
            return {}
        return {"threads": int(self.n_jobs) if self.n_jobs > 0 else available_cpus() + 1 + int(self.n_jobs)}

    def _kernel(self):
        return compile_kernel(self.network_, dtype=self.dtype, optimizer=self._rule()[0].name)

    def _params(self) -> list[np.ndarray]:
        return list(self._theta)

    def _rows(self, X) -> np.ndarray:
        # a writeable C-contiguous array of the kernel's dtype: a read-only one would compile another kernel
        return np.require(X, dtype=self.dtype, requirements=["C", "W"])

    # -- training ----------------------------------------------------------------------------------
    def _fit(self, X, y, *, incremental: bool, classes=None):
        self._check_params()
        first = not hasattr(self, "network_") or not (incremental or self.warm_start)
        X, y = validate_data(self, X, y, reset=first, dtype=[np.float64, np.float32],
                             multi_output=self._multi_output_y, y_numeric=self._numeric_y)
        Y, targets = self._targets(y, first=first, incremental=incremental, classes=classes)
        net = self._network(X.shape[1], Y.shape[1], targets)
        output_activation = self._output(targets)[0]
        if not first and net != self.network_:
            raise InputError(f"cannot continue training {_named(self.network_)} as {_named(net)}: the parameters "
                             f"changed since the last fit; set warm_start=False to start again")
        rule, hyper = self._rule()
        classic = rule.name in update.CLASSIC
        momentum = hyper.get("momentum", 0.0)
        kernel = compile_kernel(net, dtype=self.dtype, optimizer=rule.name)
        if first:
            seed = self._seed()
            params = kernel.init_params(seed)
            velocity = [np.zeros_like(p) for p in params] if classic and momentum else None
            state = None if classic else kernel.init_state()
            rng = np.random.default_rng(seed)
            history: list[float] = []
        else:  # work on copies (in the dtype asked for now): a diverged run leaves the estimator as it was
            params = [np.array(p, dtype=self.dtype) for p in self._params()]
            velocity = ([np.zeros_like(p) for p in params] if self._velocity is None else
                        [np.array(v, dtype=self.dtype) for v in self._velocity]) if classic and momentum else None
            state = None
            if not classic:
                kept = self._state if getattr(self, "_state", None) and self._state.keys() == \
                    kernel.init_state().keys() else kernel.init_state()
                state = {k: int(v) if k == "t" else [np.array(a, dtype=self.dtype) for a in v] for k, v in kept.items()}
            rng, history = copy.deepcopy(self._shuffle_rng), list(self.loss_curve_)
        X, Y = self._rows(X), self._rows(Y)
        for _ in range(1 if incremental else self.max_iter):
            Xe, Ye = X, Y
            if self.shuffle:
                order = rng.permutation(len(X))
                Xe, Ye = X[order], Y[order]
            if classic:
                loss = float(kernel.train_epoch(params, Xe, Ye, self.learning_rate_init, self.batch_size, momentum,
                                                velocity, **self._threads()))
            else:
                loss = float(kernel.train_epoch(params, Xe, Ye, self.learning_rate_init, self.batch_size,
                                                state=state, **self._threads(), **hyper))
            bad = f"the loss is {loss}" if not np.isfinite(loss) else non_finite(net, params)
            if bad:
                epoch = len(history) + 1
                raise TrainingDiverged(f"{type(self).__name__} diverged at epoch {epoch}: {bad}; {self._fixes()}",
                                       epoch, [])
            history.append(loss)
        for name, value in targets.items():
            setattr(self, name, value)
        self.network_ = net
        self._theta = params
        self.coefs_, self.intercepts_ = _weights_and_biases(net, params)
        self._velocity, self._state, self._shuffle_rng = velocity, state, rng
        self.loss_curve_ = history
        self.loss_ = history[-1]
        self.n_iter_ = len(history)
        self.n_outputs_ = Y.shape[1]
        self.out_activation_ = output_activation
        return self

    def _fixes(self) -> str:
        """What to change when training diverged."""
        fixes = [f"lower learning_rate_init (now {self.learning_rate_init:g})"]
        if self.momentum:
            fixes.append(f"momentum (now {self.momentum:g})")
        if getattr(self, "normalize_y", True) is False:
            fixes.append("set normalize_y=True")
        fixes.append("standardise the inputs (a StandardScaler in a Pipeline)")
        return f"{', '.join(fixes[:-1])} or {fixes[-1]}"

    def fit(self, X, y):
        """Train for ``max_iter`` epochs, from new weights (or, with ``warm_start``, from the fitted ones)."""
        return self._fit(X, y, incremental=False)

    def _forward(self, X) -> np.ndarray:
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._kernel().forward(self._params(), self._rows(X))

    # -- writing what was fitted --------------------------------------------------------------------
    def writeup(self, path, values=None) -> Path:
        """Write the LaTeX write-up of the fitted network's derivation (``symnet.latex(symnet.derive(
        network_))``, with the momentum update rule when ``momentum`` is set) to ``path``.

        ``values``: a worked example, as for ``symnet.latex`` (a VALUES.toml path or a ``Values``)."""
        check_is_fitted(self, "network_")
        check_writable(path)
        rule, hyper = self._rule()
        optimizer = None if rule.name in update.CLASSIC else rule.name  # a momentum alone says "momentum"
        return write_atomic(path, render_document(derive(self.network_), values, optimizer=optimizer, **hyper))

    def kernel(self, path) -> Path:
        """Write the source of the fitted network's kernel (``symnet.generate(network_, dtype=dtype)``), the
        module that trained it, to ``path``; its header names the command that regenerates it."""
        check_is_fitted(self, "network_")
        check_writable(path)
        return write_atomic(path, generate(self.network_, dtype=self.dtype, output=Path(path).name,
                                           optimizer=self._rule()[0].name))

    # -- scikit-learn tags (>= 1.6, and the dictionary of older versions) -----------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = self._multi_output_y
        return tags

    def _more_tags(self):
        return {"multioutput": self._multi_output_y}


class MLPClassifier(ClassifierMixin, _SymnetMLP):
    """A multi-layer perceptron classifier trained by symnet's generated kernel (mini-batch SGD).

    Two classes: one sigmoid output with binary cross-entropy, P(``classes_[1]``); three or more: a
    softmax output per class with cross-entropy.  ``predict_proba`` has one column per class.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default (32,)
        Neurons per hidden layer; ``()`` fits a logistic (softmax) regression.
    activation : str or tuple of str, default "relu"
        The hidden layers' activation, one for all or one per layer, from
        ``symnet.functions.activations.names(hidden=True)``.
    learning_rate_init : float, default 0.1
        The SGD step α.
    momentum : float, default 0.0
        μ in [0, 1): v ← μv − α∇E, θ ← θ + v (with optimizer "sgd", a momentum > 0 means "momentum").
    optimizer : {"sgd", "momentum", "nesterov", "rmsprop", "adam"}, default "sgd"
        The update rule (``symnet.derivation.update``), its other hyperparameters at their defaults.
    l2 : float, default 0.0
        λ of the L2 weight decay: each sample's error gains (λ/2)·Σ W² (biases not decayed).
    batch_size : int, default 32
        Rows per update; the last partial batch of an epoch is used too.
    max_iter : int, default 20
        Epochs per ``fit`` (no early stopping); ``partial_fit`` runs one.
    random_state : int, RandomState or None, default None
        A whole number is the seed of the initial weights and the shuffles, as ``symnet train --seed``.
    shuffle : bool, default True
        Shuffle the rows before each epoch.
    warm_start : bool, default False
        ``fit`` continues from the fitted weights, velocity and shuffle sequence.
    dtype : "float64" or "float32", default "float64"
        The kernel's floating-point type.
    n_jobs : int or None, default None
        Threads per epoch (the kernel's ``train_epoch(threads=...)``: each batch's rows, then each layer's
        neurons, split among them, BLAS on one thread each); -1 all the CPUs, -2 all but one.  None: one
        thread, BLAS with its own threads in the matrix products.
    graph : dict or None, default None
        symnet's addition: the hidden part of the network as a computational graph, node names and their
        expressions over ``x`` (the input) and earlier nodes, as a graph spec's ``[nodes]`` (README.md,
        "Graphs"), in place of ``hidden_layer_sizes`` and ``activation``: ``{"a1": "relu(dense(x, 32))",
        "a2": "relu(dense(a1, 32) + a1)"}`` is a residual net.  The estimator adds the output layer (a dense
        layer over the last node, with the activation and loss above) and takes the inputs from ``X``.

    Attributes
    ----------
    classes_, n_features_in_, network_ (the ``symnet.Network``, or with ``graph`` the ``symnet.Graph``),
    coefs_, intercepts_ (each dense layer's W⁽ᵏ⁾ of shape (n_{k-1}, n_k) and b⁽ᵏ⁾; a tied layer has no W of its
    own, one with ``bias=false`` no b), loss_curve_ (each epoch's mean batch loss), loss_, n_iter_, n_outputs_,
    out_activation_.
    """

    _multi_output_y = False
    _numeric_y = False

    def _output(self, targets: dict) -> tuple[str, str]:
        return (Sigmoid.name, BINARY_LOSS) if len(targets["classes_"]) == 2 else (SOFTMAX, MULTICLASS_LOSS)

    def _targets(self, y, *, first: bool, incremental: bool, classes=None) -> tuple[np.ndarray, dict]:
        check_classification_targets(y)
        if classes is not None:
            classes = unique_labels(np.asarray(classes))
        if first:
            if classes is None and incremental:
                raise InputError("classes must be passed on the first call to partial_fit")
            known = classes if classes is not None else unique_labels(y)
        else:
            known = self.classes_
            if classes is not None and not np.array_equal(classes, known):
                raise InputError(f"classes={classes.tolist()} is not classes_={known.tolist()} of the previous calls")
            if not incremental and not np.array_equal(unique_labels(y), known):
                raise InputError(f"warm_start needs y with the classes of the previous fit, {known.tolist()}; "
                                 f"y has {unique_labels(y).tolist()}")
        if len(known) < 2:
            raise InputError(f"{type(self).__name__} needs at least 2 classes; y has only one class, {known.tolist()}")
        missing = np.setdiff1d(y, known)
        if len(missing):
            raise InputError(f"y holds labels not in classes_ {known.tolist()}: {missing.tolist()}")
        index = np.searchsorted(known, y)
        Y = index.reshape(-1, 1).astype(float) if len(known) == 2 else np.eye(len(known))[index]
        return Y, {"classes_": known}

    def partial_fit(self, X, y, classes=None):
        """One epoch on ``X``, ``y`` (shuffled when ``shuffle``), continuing from the last call.

        ``classes``: every label, required on the first call.  n calls on the same data give the
        weights that ``fit`` with ``max_iter=n`` gives (same ``random_state``): the same initial weights,
        the same sequence of shuffles, and the velocity carried from call to call."""
        return self._fit(X, y, incremental=True, classes=classes)

    def predict_proba(self, X) -> np.ndarray:
        """P(class) for each row, shape (m, n_classes), in the order of ``classes_``."""
        out = self._forward(X)
        if out.shape[1] == 1:
            return np.hstack([1 - out, out])
        return out

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags

    def _more_tags(self):
        return {"multilabel": False}


class MLPRegressor(RegressorMixin, _SymnetMLP):
    """A multi-layer perceptron regressor trained by symnet's generated kernel (mini-batch SGD).

    Identity outputs with half the squared error, ½ Σⱼ (ŷⱼ − yⱼ)², one output per target column; a
    1-d ``y`` predicts a 1-d array, a 2-d one a 2-d array.  The parameters and attributes are
    :class:`MLPClassifier`'s (without ``classes_``), and:

    normalize_y : bool, default True
        Train on standardised targets, (y − y_mean_) / y_scale_ per column, and predict
        ``forward(X) · y_scale_ + y_mean_``: SGD at a fixed step diverges on targets in the hundreds
        (``make_regression``'s) at any step that still learns scaled ones.  The statistics are taken at the
        first fit (or first ``partial_fit``).  ``coefs_``, ``intercepts_``, ``loss_curve_``, the write-up
        and the kernel are those of the network trained on the standardised targets.  With ``False``,
        ``y_mean_`` is 0 and ``y_scale_`` 1.
    """

    _multi_output_y = True
    _numeric_y = True

    def __init__(self, hidden_layer_sizes=(32,), activation=ReLU.name, *, learning_rate_init=0.1, momentum=0.0,
                 batch_size=32, max_iter=20, random_state=None, shuffle=True, warm_start=False, dtype="float64",
                 optimizer="sgd", l2=0.0, n_jobs=None, graph=None, normalize_y=True):
        super().__init__(hidden_layer_sizes, activation, learning_rate_init=learning_rate_init, momentum=momentum,
                         batch_size=batch_size, max_iter=max_iter, random_state=random_state, shuffle=shuffle,
                         warm_start=warm_start, dtype=dtype, optimizer=optimizer, l2=l2, n_jobs=n_jobs, graph=graph)
        self.normalize_y = normalize_y

    def _output(self, targets: dict) -> tuple[str, str]:
        return IDENTITY, REGRESSION_LOSS

    def _targets(self, y, *, first: bool, incremental: bool, classes=None) -> tuple[np.ndarray, dict]:
        y = np.asarray(y, dtype=np.float64)
        Y = y.reshape(len(y), -1)
        if first:
            mean, scale = np.zeros(Y.shape[1]), np.ones(Y.shape[1])
            if self.normalize_y:
                mean, scale = Y.mean(axis=0), Y.std(axis=0)
                scale[~(scale > 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1))] = 1.0  # constant
            targets = {"y_mean_": mean, "y_scale_": scale, "_y_ndim": y.ndim}
        else:
            targets = {"y_mean_": self.y_mean_, "y_scale_": self.y_scale_, "_y_ndim": self._y_ndim}
            if Y.shape[1] != len(self.y_mean_):
                raise InputError(f"y has {Y.shape[1]} target columns; {type(self).__name__} was fitted on "
                                 f"{len(self.y_mean_)}")
        return (Y - targets["y_mean_"]) / targets["y_scale_"], targets

    def partial_fit(self, X, y):
        """One epoch on ``X``, ``y`` (shuffled when ``shuffle``), continuing from the last call; n calls
        on the same data give the weights ``fit`` with ``max_iter=n`` gives (same ``random_state``)."""
        return self._fit(X, y, incremental=True)

    def predict(self, X) -> np.ndarray:
        """ŷ for each row: shape (m,) for a 1-d ``y`` in fit, else (m, n_outputs)."""
        out = self._forward(X) * self.y_scale_ + self.y_mean_
        return out.ravel() if self._y_ndim == 1 else out


def _named(net: Network | Graph) -> str:
    return net.compact if isinstance(net, Network) else net.describe()


def _weights_and_biases(net: Network | Graph, params: list[np.ndarray]) -> tuple[list, list]:
    """coefs_ and intercepts_: each dense layer's W (a tied layer has none of its own) and b (one without bias
    has none), in layer order."""
    roles = [p.role for p in (net.graph if isinstance(net, Network) else net).params]
    weights = [p for p, role in zip(params, roles) if role == WEIGHT]
    return weights, [p for p, role in zip(params, roles) if role == BIAS]


def _whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
