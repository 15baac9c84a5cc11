"""One trainer per implementation, all doing the same thing: plain SGD, batches in the given order (no
shuffling, the last partial batch included), θ ← θ − α ∂E/∂θ with E the mean of the per-sample losses, in the
dtype of the data it is given (float64 or float32: X, Y and the initial parameters arrive in that dtype, and
every trainer computes in it: no float64 array or NumPy float64 scalar enters a float32 run).

Each trainer has ``setup(w, X, Y, params0)`` (build the model, graph or kernel: timed as "setup"),
``epoch()`` (one pass over the data, finished when it returns: JAX results are blocked on) and
``params()`` (the current parameters as NumPy arrays, [W1, b1, W2, b2, ...]).  The peers get their batches
pre-sliced, as a data loader would hand them over, so no peer pays for slicing inside the timed epoch;
symnet's ``train_epoch`` takes the whole arrays, as its contract says.

``dtype_seen()`` (optional) names the dtypes of the gradients the trainer computed, where its library lets
them be seen: a float32 run whose gradients were float64 did not train in float32.

A trainer raises :class:`Unavailable` (the library or API is missing), :class:`Skipped` (not run by
choice, e.g. an unrolled kernel for a wide net) or :class:`NotComparable` (the library cannot train this
exact problem, so any number would compare different work).
"""
from __future__ import annotations

import os

import numpy as np

from workloads import Workload, activate, batches


class Unavailable(Exception):
    """The implementation cannot run here (missing library or API)."""


class Skipped(Exception):
    """Not run by design for this workload."""


class NotComparable(Exception):
    """The library cannot express the same problem; a timing would compare different work."""


def _split(X: np.ndarray, Y: np.ndarray, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(X[s], Y[s]) for s in batches(len(X), batch_size)]


DTYPES = ("float64", "float32")


def dtype_of(X: np.ndarray) -> str:
    """The run's dtype, taken from the data (the one place it is set: the parent saves X, Y, θ₀ in it)."""
    name = np.dtype(X.dtype).name
    if name not in DTYPES:
        raise ValueError(f"data in {name}; the benchmark trains in {' or '.join(DTYPES)}")
    return name


# -- symnet ----------------------------------------------------------------------------------------

class Symnet:
    """symnet's generated Numba kernel, ``symnet.compile(net, mode=..., dtype=<the data's>).train_epoch``."""

    UNROLLED_MAX_PARAMS = 200  # straight-line code for every weight: only for small nets

    def __init__(self, mode: str):
        self.mode = mode

    def setup(self, w: Workload, X, Y, params0):
        try:
            import symnet
        except ImportError as e:
            raise Unavailable(f"cannot import symnet: {e}") from None
        if not hasattr(symnet, "compile"):
            raise Unavailable("symnet.compile is not on this branch yet (kernels issue)")
        if self.mode == "unrolled" and w.n_params > self.UNROLLED_MAX_PARAMS:
            raise Skipped(f"{w.n_params:,} parameters: unrolled code is for nets up to "
                          f"{self.UNROLLED_MAX_PARAMS} parameters")
        net = symnet.Network.parse(w.spec, hidden=",".join(w.hidden), output=w.output, loss=w.loss)
        try:
            self.kernel = symnet.compile(net, mode=self.mode, dtype=dtype_of(X))
        except (ValueError, NotImplementedError, symnet.SpecError) as e:
            raise Unavailable(f"symnet.compile(mode={self.mode!r}) refused: {e}") from None
        self.X, self.Y, self.lr, self.b = X, Y, w.lr, w.batch_size
        self.p = [np.ascontiguousarray(p.copy()) for p in params0]
        # the thread count every peer is given (peers.child_env): symnet splits each batch among that many
        # threads itself (train_epoch's threads), BLAS on one thread each
        self.threads = int(os.environ["OMP_NUM_THREADS"]) if os.environ.get("OMP_NUM_THREADS") else None
        self.info = {"mode": self.mode, "threads": self.threads, "kernel mode": getattr(self.kernel, "MODE", None),
                     "kernel dtype": np.dtype(getattr(self.kernel, "DTYPE", dtype_of(X))).name}

    def epoch(self):
        self.kernel.train_epoch(self.p, self.X, self.Y, self.lr, self.b, threads=self.threads)

    def params(self):
        return self.p


# -- NumPy -----------------------------------------------------------------------------------------

def _dact_from_output(act: str, a: np.ndarray) -> np.ndarray:
    """f′(h) written in a = f(h): σ(1 − σ), 1 − tanh², [a > 0] (ReLU′(0) = 0)."""
    if act == "sigmoid":
        return a * (1.0 - a)
    if act == "tanh":
        return 1.0 - a * a
    if act == "relu":
        return (a > 0.0).astype(a.dtype)
    raise KeyError(act)


class NumPy:
    """Hand-written vectorised back-propagation: δᴸ, δᵏ = (δᵏ⁺¹ Wᵏ⁺¹ᵀ) ⊙ f′(hᵏ), ∂E/∂Wᵏ = aᵏ⁻¹ᵀ δᵏ.

    In the data's dtype throughout: every constant is a Python float or int (NEP 50: they take the array's
    dtype), lr too. The in-place update would hide a float64 gradient (it casts back), so setup runs one step
    on a copy of θ and records the dtypes the gradients and deltas actually had."""

    def setup(self, w: Workload, X, Y, params0):
        self.w = w
        self.batches = _split(X, Y, w.batch_size)
        self.p = [p.copy() for p in params0]
        self.seen: set[str] = set()
        self.step(*self.batches[0], seen=self.seen)  # untimed probe; θ is reset below
        self.p = [p.copy() for p in params0]

    def dtype_seen(self) -> set[str]:
        return self.seen

    def step(self, Xb, Yb, seen: set | None = None):
        w, p, lr = self.w, self.p, self.w.lr
        acts = w.activations
        L = len(acts)
        a = [Xb]
        for k in range(L):
            a.append(activate(acts[k], a[k] @ p[2 * k] + p[2 * k + 1]))
        yhat, m = a[L], Xb.shape[0]
        if w.loss == "cce":  # softmax + cross-entropy: ∂E/∂h = (ŷ − y)/m
            delta = (yhat - Yb) / m
        else:  # ½ Σ (ŷ − y)² through f: (ŷ − y) f′(h)/m
            delta = (yhat - Yb) * _dact_from_output(acts[-1], yhat) / m
        for k in range(L - 1, -1, -1):
            gW, gb = a[k].T @ delta, delta.sum(axis=0)
            if seen is not None:  # the setup's probe only: one test per layer, nothing in a timed epoch
                seen.update(x.dtype.name for x in (gW, gb, delta, a[k + 1]))
            if k:
                delta = (delta @ p[2 * k].T) * _dact_from_output(acts[k - 1], a[k])
            gW *= lr  # in place: one temporary fewer
            gb *= lr
            p[2 * k] -= gW
            p[2 * k + 1] -= gb

    def epoch(self):
        for Xb, Yb in self.batches:
            self.step(Xb, Yb)

    def params(self):
        return self.p


# -- PyTorch ---------------------------------------------------------------------------------------

class Torch:
    """PyTorch eager: autograd and ``torch.optim.SGD`` (no momentum), tensors in the data's dtype."""

    def __init__(self, threads: int):
        self.threads = threads

    def setup(self, w: Workload, X, Y, params0):
        try:
            import torch
            import torch.nn.functional as F
        except ImportError as e:
            raise Unavailable(f"cannot import torch: {e}") from None
        torch.set_num_threads(self.threads)
        self.torch = torch
        self.w = w
        dtype = getattr(torch, dtype_of(X))
        self.p = [torch.tensor(p, dtype=dtype, requires_grad=True) for p in params0]
        self.opt = torch.optim.SGD(self.p, lr=w.lr, momentum=0.0)
        self.batches = [(torch.from_numpy(Xb), torch.from_numpy(Yb)) for Xb, Yb in _split(X, Y, w.batch_size)]
        act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}
        L = len(w.activations)

        def loss_fn(Xb, Yb):
            a = Xb
            for k in range(L):
                h = torch.addmm(self.p[2 * k + 1], a, self.p[2 * k])
                if k == L - 1 and w.loss == "cce":
                    return F.cross_entropy(h, Yb)  # probability targets: mean of −Σ y log softmax(h)
                a = act[w.activations[k]](h)
            return 0.5 * ((a - Yb) ** 2).sum(dim=1).mean()

        self.loss_fn = loss_fn
        self.info = {"torch threads": torch.get_num_threads()}

    def epoch(self):
        for Xb, Yb in self.batches:
            self.opt.zero_grad(set_to_none=True)
            self.loss_fn(Xb, Yb).backward()
            self.opt.step()

    def dtype_seen(self) -> set[str]:
        """The last step's gradients (left in ``.grad`` until the next step's ``zero_grad``)."""
        return {str(p.grad.dtype).removeprefix("torch.") for p in self.p if p.grad is not None}

    def params(self):
        return [p.detach().numpy().copy() for p in self.p]


# -- JAX -------------------------------------------------------------------------------------------

def _jax_step(w: Workload):
    import jax
    import jax.numpy as jnp

    act = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu}
    L = len(w.activations)

    def loss_fn(p, Xb, Yb):
        a = Xb
        for k in range(L):
            h = a @ p[2 * k] + p[2 * k + 1]
            if k == L - 1 and w.loss == "cce":
                return jnp.mean(-jnp.sum(Yb * jax.nn.log_softmax(h, axis=1), axis=1))
            a = act[w.activations[k]](h)
        return jnp.mean(0.5 * jnp.sum((a - Yb) ** 2, axis=1))

    def step(p, Xb, Yb):
        g = jax.grad(loss_fn)(p, Xb, Yb)
        return [pi - w.lr * gi for pi, gi in zip(p, g)]

    return step


def _import_jax(dtype: str):
    """jax with 64-bit types on for a float64 run and off (its default) for float32: with x64 off no array
    can be float64, so nothing in the step can promote to it."""
    try:
        import jax
    except ImportError as e:
        raise Unavailable(f"cannot import jax: {e}") from None
    jax.config.update("jax_enable_x64", dtype == "float64")
    return jax


def _jax_dtype_seen(step, p, Xb, Yb) -> set[str]:
    """The dtypes of an update step's outputs, from its abstract evaluation (no computation, nothing donated)."""
    import jax

    return {x.dtype.name for x in jax.eval_shape(step, p, Xb, Yb)}


class JaxJit:
    """``jax.jit`` of the whole update step (gradient + SGD), a Python loop over the batches."""

    def setup(self, w: Workload, X, Y, params0):
        jax = _import_jax(dtype_of(X))
        self.jax = jax
        self.step = jax.jit(_jax_step(w), donate_argnums=0)
        self.p = [jax.device_put(p) for p in params0]
        self.batches = [(jax.device_put(Xb), jax.device_put(Yb)) for Xb, Yb in _split(X, Y, w.batch_size)]
        self.seen = _jax_dtype_seen(_jax_step(w), self.p, *self.batches[0])
        self.info = {"jax backend": jax.default_backend(), "jax_enable_x64": jax.config.jax_enable_x64}

    def dtype_seen(self) -> set[str]:
        return self.seen

    def epoch(self):
        p = self.p
        for Xb, Yb in self.batches:
            p = self.step(p, Xb, Yb)
        self.p = self.jax.block_until_ready(p)

    def params(self):
        return [np.asarray(p).copy() for p in self.p]


class JaxScan:
    """``lax.scan`` of the update step over the epoch's full batches in one jitted call, then one jitted
    step for the last partial batch (if any)."""

    def setup(self, w: Workload, X, Y, params0):
        jax = _import_jax(dtype_of(X))
        self.jax = jax
        step = _jax_step(w)

        def scan_epoch(p, Xs, Ys):
            p, _ = jax.lax.scan(lambda q, xy: (step(q, *xy), None), p, (Xs, Ys))
            return p

        m, b = len(X), w.batch_size
        full = (m // b) * b
        self.scan = jax.jit(scan_epoch, donate_argnums=0)
        self.step = jax.jit(step, donate_argnums=0)
        self.Xs = jax.device_put(X[:full].reshape(m // b, b, X.shape[1]))
        self.Ys = jax.device_put(Y[:full].reshape(m // b, b, Y.shape[1]))
        self.rest = (jax.device_put(X[full:]), jax.device_put(Y[full:])) if full < m else None
        self.p = [jax.device_put(p) for p in params0]
        self.seen = {x.dtype.name for x in jax.eval_shape(scan_epoch, self.p, self.Xs, self.Ys)}
        self.info = {"scan length": m // b, "remainder rows": m - full,
                     "jax_enable_x64": jax.config.jax_enable_x64}

    def dtype_seen(self) -> set[str]:
        return self.seen

    def epoch(self):
        p = self.scan(self.p, self.Xs, self.Ys)
        if self.rest is not None:
            p = self.step(p, *self.rest)
        self.p = self.jax.block_until_ready(p)

    def params(self):
        return [np.asarray(p).copy() for p in self.p]


# -- PyTensor --------------------------------------------------------------------------------------

class PyTensor:
    """``pytensor.grad`` of E, an update function compiled with ``pytensor.function(..., updates=...)``.
    ``mode=None`` is the library's default mode (say which linker it picked), else "NUMBA" or "CVM" (C).

    In the data's dtype: inputs and shared θ of that dtype and ``floatX`` set to it (the type PyTensor gives
    the Python-float constants lr, 0.5 and 0 in the graph: left at float64 they would upcast a float32 graph).
    PyTensor refuses an update whose type differs from its shared variable, and setup records the type of
    every floating-point variable in the compiled graph, so a float32 row cannot have computed in float64."""

    def __init__(self, mode: str | None):
        self.mode = mode

    def setup(self, w: Workload, X, Y, params0):
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the pip build's BLAS notice; reported in RESULTS instead
                import pytensor
                import pytensor.tensor as pt
                from pytensor.compile.mode import get_mode
        except ImportError as e:
            raise Unavailable(f"cannot import pytensor: {e}") from None
        dtype = dtype_of(X)
        pytensor.config.floatX = dtype  # this process only: each implementation runs in its own
        Xs, Ys = pt.matrix("X", dtype=dtype), pt.matrix("Y", dtype=dtype)
        self.shared = [pytensor.shared(p.copy(), name=f"{'Wb'[i % 2]}{i // 2 + 1}") for i, p in enumerate(params0)]
        act = {"sigmoid": pt.sigmoid, "tanh": pt.tanh,
               "relu": lambda h: pt.switch(h > 0, h, 0.0)}  # ReLU′(0) = 0, as everywhere else
        L = len(w.activations)
        a = Xs
        E = None
        for k in range(L):
            h = pt.dot(a, self.shared[2 * k]) + self.shared[2 * k + 1]
            if k == L - 1 and w.loss == "cce":
                E = pt.mean(-pt.sum(Ys * pt.special.log_softmax(h, axis=1), axis=1))
                break
            a = act[w.activations[k]](h)
        if E is None:
            E = pt.mean(0.5 * pt.sum((a - Ys) ** 2, axis=1))
        grads = pytensor.grad(E, self.shared)
        updates = [(p, p - w.lr * g) for p, g in zip(self.shared, grads)]
        mode = get_mode(self.mode) if self.mode else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.f = pytensor.function([Xs, Ys], E, updates=updates, mode=mode)
        self.batches = _split(X, Y, w.batch_size)
        # every floating-point variable of the compiled graph, not just the gradients (which pytensor.grad
        # may cast to θ's type after computing them wider)
        self.seen = {v.type.dtype for node in self.f.maker.fgraph.apply_nodes for v in node.outputs
                     if str(getattr(v.type, "dtype", "")).startswith("float")}
        linker = type(self.f.maker.linker).__name__
        self.info = {"pytensor mode": self.mode or f"default ({pytensor.config.mode})", "linker": linker,
                     "floatX": pytensor.config.floatX}

    def epoch(self):
        f = self.f
        for Xb, Yb in self.batches:
            f(Xb, Yb)

    def dtype_seen(self) -> set[str]:
        return self.seen

    def params(self):
        return [p.get_value() for p in self.shared]


# -- scikit-learn ----------------------------------------------------------------------------------

class Sklearn:
    """``MLPClassifier(solver="sgd", momentum=0, alpha=0, shuffle=False, learning_rate="constant")``, one
    ``partial_fit`` per epoch, its ``coefs_``/``intercepts_`` set to the common initial weights.

    Its multi-class loss is the mean cross-entropy with a softmax output and its gradient is (ŷ − y)/m per
    batch, exactly ∂E/∂h of E = mean per-sample cce, so lr needs no adjustment. It has no sigmoid output
    with squared error: a one-output classifier uses log-loss and a regressor an identity output.

    float32: scikit-learn (1.9 here) keeps float32 input in float32 (weights, activations, deltas and
    gradients allocated in X's dtype; targets binarised to bool so they do not upcast). setup does not take
    that on trust: it records the dtypes of the gradients of its first ``partial_fit`` and declares the row
    not comparable if any was not the data's dtype."""

    SK_ACT = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}

    def setup(self, w: Workload, X, Y, params0):
        try:
            from sklearn.neural_network import MLPClassifier
        except ImportError as e:
            raise Unavailable(f"cannot import scikit-learn: {e}") from None
        if w.loss != "cce" or w.output != "softmax":
            raise NotComparable(
                "not the same problem: scikit-learn's MLP has no sigmoid output with squared error (one "
                "output means log-loss, gradient ŷ − y; MLPRegressor's output is the identity)")
        if len(set(w.hidden)) != 1:
            raise NotComparable("not the same problem: scikit-learn uses one activation for all hidden layers")
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", ConvergenceWarning)
        K = w.layers[-1]
        self.labels = np.argmax(Y, axis=1)
        if not np.array_equal(np.eye(K)[self.labels], Y):
            raise NotComparable("not the same problem: scikit-learn's classifier needs one-hot targets")
        clf = MLPClassifier(hidden_layer_sizes=w.layers[1:-1], activation=self.SK_ACT[w.hidden[0]],
                            solver="sgd", alpha=0.0, batch_size=w.batch_size, learning_rate="constant",
                            learning_rate_init=w.lr, momentum=0.0, nesterovs_momentum=False, shuffle=False,
                            max_iter=1, early_stopping=False, random_state=0)
        # the first partial_fit builds the model's state (and its own random weights), on K rows so every
        # class is seen; then the common initial weights replace those, in sklearn's layout (the same as ours)
        first = [int(np.flatnonzero(self.labels == c)[0]) for c in range(K)]
        self.seen = self._gradient_dtypes(clf, lambda: clf.partial_fit(X[first], self.labels[first],
                                                                      classes=np.arange(K)))
        if self.seen != {dtype_of(X)}:
            raise NotComparable(f"not the same arithmetic: scikit-learn computed its gradients in "
                                f"{', '.join(sorted(self.seen))} on {dtype_of(X)} data")
        clf.coefs_ = [params0[2 * k].copy() for k in range(len(w.activations))]
        clf.intercepts_ = [params0[2 * k + 1].copy() for k in range(len(w.activations))]
        if clf.out_activation_ != "softmax":
            raise NotComparable(f"not the same problem: scikit-learn chose a {clf.out_activation_} output")
        self.clf, self.X = clf, X

    @staticmethod
    def _gradient_dtypes(clf, fit) -> set[str]:
        """The dtypes of the weights' and biases' gradients ``clf._backprop`` returns during ``fit()``
        (watched through an instance attribute, removed afterwards: the timed epochs call it unwrapped)."""
        seen: set[str] = set()
        backprop = getattr(clf, "_backprop", None)
        if backprop is None:  # a private method: where it is gone, the weights' dtypes are what can be seen
            fit()
            return {c.dtype.name for c in clf.coefs_ + clf.intercepts_}

        def watched(*args, **kwargs):
            out = backprop(*args, **kwargs)
            seen.update(np.asarray(g).dtype.name for grads in out[1:] for g in grads)
            return out

        clf._backprop = watched
        try:
            fit()
        finally:
            del clf._backprop
        return seen

    def epoch(self):
        self.clf.partial_fit(self.X, self.labels)

    def dtype_seen(self) -> set[str]:
        return self.seen

    def params(self):
        out = []
        for W, b in zip(self.clf.coefs_, self.clf.intercepts_):
            out += [W, b]
        return out


def make(name: str, threads: int):
    """The trainer of an implementation name (see ``IMPLEMENTATIONS``)."""
    return {
        "symnet": lambda: Symnet("auto"),
        "symnet-unrolled": lambda: Symnet("unrolled"),
        "symnet-indexed": lambda: Symnet("indexed"),
        "numpy": NumPy,
        "torch": lambda: Torch(threads),
        "jax-jit": JaxJit,
        "jax-scan": JaxScan,
        "pytensor": lambda: PyTensor(None),
        "pytensor-numba": lambda: PyTensor("NUMBA"),
        "pytensor-c": lambda: PyTensor("CVM"),
        "sklearn": Sklearn,
    }[name]()


IMPLEMENTATIONS = ("symnet", "symnet-unrolled", "symnet-indexed", "numpy", "torch", "jax-jit", "jax-scan",
                   "pytensor", "pytensor-numba", "pytensor-c", "sklearn")
SYMNET = ("symnet", "symnet-unrolled", "symnet-indexed")
