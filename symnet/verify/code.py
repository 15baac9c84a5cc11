"""Checking a person's own NumPy back-propagation against the derivation (``symnet check-code FILE.py SPEC``).

Your file defines a function ``backprop(params, X, Y)`` that returns the gradients of the cost E with
respect to every parameter.  symnet calls it on a few random batches, compares each returned gradient with
the derivation's, and says per parameter whether it is right; when one is wrong, it names the first wrong
layer counted from the output and the mistake, found by testing known mistakes against the derivation.

Which function: ``--function NAME``; without it, ``backprop`` or ``gradients`` if the file defines one,
else its only public function of three arguments.

The cost: E is the mean over the m samples of the batch of the per-sample loss (mse is ½Σⱼ(ŷⱼ − yⱼ)²,
bce −Σⱼ[yⱼ log ŷⱼ + (1 − yⱼ) log(1 − ŷⱼ)], cce −Σⱼ yⱼ log ŷⱼ with a softmax output; with ``--l2 λ``,
plus (λ/2)ΣW²), so every gradient is ∂E/∂θ, averaged over the batch.

The layout, ``--convention rows`` (symnet's, the default; samples are rows)::

    X: (m, n0)   Y: (m, nL)   params = [W1, b1, W2, b2, ...]
    Wk: (n(k-1), nk)   bk: (nk,)   Hk = A(k-1) @ Wk + bk,   Ak = f(Hk),   A0 = X
    return [dW1, db1, dW2, db2, ...], each the shape of its parameter

``--convention columns`` (the widely taught course convention; samples are columns)::

    X: (n0, m)   Y: (nL, m)   params = [W1, b1, W2, b2, ...]
    Wk: (nk, n(k-1))   bk: (nk, 1)   Zk = Wk @ A(k-1) + bk,   Ak = f(Zk),   A0 = X
    return [dW1, db1, dW2, db2, ...], each the shape of its parameter

In both, params is a list of NumPy float64 arrays in that order (biases separate, whatever ``--bias`` says),
and the function may instead return a dict {"W1": dW1, "b1": db1, ...} (keys "dW1", "db1", ... too).  A
gradient with a length-1 axis dropped or added is accepted ((nk,) for (nk, 1) and the reverse).  Y holds
valid targets: one-hot rows (columns) for cce, values in [0, 1] for bce; a graph whose loss says
``labels='int'`` (``cce(yhat, y, labels='int')``) gets each sample's class instead, an int64 array (m,) of
0 … n − 1, as CS231n's ``y``.  The batches have different sizes m, at least 3 and none equal to a layer width.

Your file is your code: it runs, at your request, in a separate Python process (like pytest running your
tests), with a time limit (``timeout`` seconds for the import and every call together) and on Linux a
memory cap; the process is killed when the time is up.  Nothing of it runs inside symnet.  The file is
imported under its own name, so a training run under ``if __name__ == "__main__":`` does not start.

The mistakes it recognises: a transposed gradient, a gradient summed over the batch instead of averaged
(m times too large) or divided by m twice, the opposite sign, twice the gradient (the derivative of
Σ(ŷ − y)² without symnet's ½), f′ of a layer missing, another activation's f′ in its place (σ′ where tanh′
belongs, also written in the layer's outputs as A*(1 - A)), f′ evaluated at A instead of H, the element-wise
product with f′ taken before the matrix product with Wᵀ (``*`` and ``@`` group left to right), a dot product
where the element-wise product belongs, W where Wᵀ belongs in the back-propagation, dW from H where A
belongs, a bias gradient not summed over the batch, and with ``--l2`` the decay term λW left out or
counted twice.  A ``*`` where ``@`` belongs usually cannot run at all: the error it raises is reported with
the line of your file.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import sympy as sp

from symnet.errors import InputError
from symnet.functions.activations import (ACTIVATION_CLASSES, IDENTITY, SOFTMAX, glyph, inline, lemma,
                                          numpy_functions, x)
from symnet.functions.losses import LOSSES
from symnet.numeric.finite_differences import targets
from symnet.derivation.graph_matrix import graph_matrix_form, matrix_name
from symnet.derivation.rules import GraphRules, rules
from symnet.functions.layers import DENSE, kind as layer_kind
from symnet.spec import Graph, Network, Spec
from symnet.spec.graph import INPUT, PREDICTION
from symnet.verify.grammar import text as claim_text

__all__ = ["CONVENTIONS", "TOLERANCE", "CodeReport", "Diagnosis", "ParamResult", "batch_sizes", "check_code",
           "derived_gradients", "diagnose", "in_convention", "random_batch"]

CONVENTIONS = ("rows", "columns")
#: largest relative error of a correct gradient: float64 code agrees to ~1e-15, float32 code to ~1e-7
TOLERANCE = 1e-5
#: entries smaller than this share of the largest gradient are compared absolutely (at that scale)
_FLOOR = 1e-4
_RUNNER = Path(__file__).with_name("code_runner.py")

Array = np.ndarray
Point = tuple[list[Array], Array, Array]  # params (rows layout), X (m, n0), Y (m, nL)


# -- the report ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParamResult:
    """One parameter's gradient: right or wrong, by how much, and the mistake when one is recognised."""

    name: str
    ok: bool
    #: max over the batches of |yours − true| / max(|yours|, |true|, 1e-4 · largest gradient); inf when
    #: the shapes differ
    max_rel_error: float
    shape: tuple[int, ...]
    expected_shape: tuple[int, ...]
    diagnosis: str = ""

    @property
    def layer(self) -> int:
        return int(self.name[1:])


@dataclass(frozen=True)
class CodeReport:
    """The verdict on a file's backprop function: ``ok`` when every gradient matches the derivation."""

    path: str
    function: str
    net: Network
    convention: str
    sizes: tuple[int, ...]
    params: tuple[ParamResult, ...]
    #: the highest layer k with a wrong dWk or dbk (back-propagation goes wrong there first), or None
    first_wrong_layer: int | None
    #: the mistake in plain words ("" when ok)
    diagnosis: str

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.params)

    def lines(self) -> list[str]:
        """What the CLI prints: a header, one line per parameter, and the verdict."""
        sizes = ", ".join(map(str, self.sizes))
        out = [f"check-code {self.path}: {self.function} against {self.net.describe()} "
               f"({self.convention} convention, batches of m = {sizes})"]
        width = max(len(p.name) for p in self.params)
        for p in self.params:
            if p.max_rel_error == float("inf"):
                how = f"shape {p.shape}, expected {p.expected_shape}"
            else:
                how = f"max rel. error {p.max_rel_error:.2g}"
            status = "ok   " if p.ok else "wrong"
            line = f"{p.name:<{width}}  {status} ({how})"
            out.append(line + (f": {p.diagnosis}" if p.diagnosis else ""))
        if self.ok:
            out.append(f"correct: every gradient matches symnet's derivation (tolerance {TOLERANCE:g})")
        else:
            out.append(f"wrong from layer {self.first_wrong_layer} (the first wrong layer counted from the "
                       f"output): {self.diagnosis}")
        return out


# -- the check -----------------------------------------------------------------------------------------
def check_code(path: str, net: Network, *, function: str | None = None, convention: str = "rows",
               timeout: float = 20.0, batches: int = 3, seed: int = 0) -> CodeReport:
    """Call the backprop function in ``path`` on ``batches`` random batches (in a child process, killed
    after ``timeout`` seconds) and judge its gradients against the derivation of ``net``.

    Raises InputError (one line) when the file cannot be run or its answer cannot be compared: missing
    file or function, syntax error, an exception, a hang, a wrong count or shape, non-finite values.
    """
    if convention not in CONVENTIONS:
        raise InputError(f"unknown convention {convention!r}; allowed: {', '.join(CONVENTIONS)}")
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        raise InputError(f"batches must be a whole number >= 1, got {batches!r}")
    if not timeout > 0:
        raise InputError(f"the time limit must be positive, got {timeout!r} s")
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{path}: no such file" if not file.exists() else f"{path} is not a file")
    rng = np.random.default_rng(seed)
    sizes = batch_sizes(net, batches, rng)
    points = [random_batch(net, m, rng) for m in sizes]
    layout = _Layout(convention, net)
    label = f"{function}() in {file.name}" if function else f"your backprop in {file.name}"
    chosen, answers = _run(file, function, layout, points, timeout, label)
    token = _SUMMED.set(net.reduction == "sum")
    try:
        return _judge(str(path), f"{chosen}()", net, layout, points, answers, f"{chosen}() in {file.name}")
    finally:
        _SUMMED.reset(token)


#: whether the cost being judged sums its batch (``reduction='sum'``): how a gradient m times too large or too
#: small is explained (the same forms, the other way round)
_SUMMED: ContextVar[bool] = ContextVar("summed", default=False)


def widths(net: Spec) -> tuple[int, ...]:
    """Every width of the network: a layer list's layers, a graph's nodes'."""
    return tuple(net.layers) if isinstance(net, Network) else tuple(sorted(set(net.widths.values())))


def batch_sizes(net: Spec, batches: int, rng: np.random.Generator) -> tuple[int, ...]:
    """``batches`` different batch sizes m, each at least 3 and none a layer width."""
    # no m equal to a layer width, so that an (m, n) array is never mistaken for a transposed (n, m) one;
    # none below 3, so that m times the gradient is never twice it or the gradient itself
    taken = widths(net)
    candidates = [m for m in range(3, 3 + 14 + len(taken) + batches) if m not in taken]
    return tuple(int(m) for m in rng.permutation(candidates)[:batches])


def random_batch(net: Spec, m: int, rng: np.random.Generator) -> Point:
    """Random parameters, m random inputs and m valid targets, in the rows layout."""
    params: list[Array] = []
    for _, shape in net.param_shapes:
        # small weights (scaled by the fan-in) keep every unit off its saturated flats, where f′ ≈ 0 would
        # make a missing or wrong f′ invisible
        params.append(rng.normal(0.0, 0.8 / np.sqrt(shape[0]), shape) if len(shape) == 2 else rng.normal(0.0, 0.5, shape))
    X = rng.normal(0.0, 1.0, (m, net.n_in))
    return params, X, targets(net.loss, net.n_out, m, rng)


# -- the layouts -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Layout:
    """The user's convention: how symnet's row-layout arrays look to them, and how to name things."""

    convention: str
    net: Spec

    @property
    def columns(self) -> bool:
        return self.convention == "columns"

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.net.param_shapes]

    def param(self, i: int, rows: Array) -> Array:
        """Parameter number i (of ``names``) as this layout holds it: a weight transposed, a bias a column."""
        if not self.columns:
            return rows
        return np.ascontiguousarray(rows.T) if len(self.net.param_shapes[i][1]) == 2 else rows.reshape(-1, 1)

    def data(self, A: Array) -> Array:
        return np.ascontiguousarray(A.T) if self.columns else A

    def targets(self, Y: Array) -> Array:
        """The batch's targets as the code reads them: as data, or (``labels='int'``) each sample's class, (m,)."""
        if self.net.labels == "int":
            return np.argmax(Y, axis=1).astype(np.int64)
        return self.data(Y)

    def convert(self, name: str, rows: Array) -> Array:
        """∂E/∂(name) from the rows layout into this one: "Wk" and "bk" as their parameters, "Hk" and "Ak"
        (m, nk) as data."""
        if name in self.names:
            return self.param(self.names.index(name), rows)
        return self.data(rows)

    def per_sample(self, D: Array) -> Array:
        """A layer's Δ (m, nk) as the user would hold it."""
        return D.T if self.columns else D

    # the names the diagnoses use, as the user's code would write them
    def H(self, k: int) -> str:
        return f"Z{k}" if self.columns else f"H{k}"

    def D(self, k: int) -> str:
        return f"dZ{k}" if self.columns else f"D{k}"

    def back(self, k: int, transposed: bool = True) -> str:
        """Δ of layer k carried back through W_k: D2 @ W2.T (rows), W2.T @ dZ2 (columns)."""
        W = f"W{k}.T" if transposed else f"W{k}"
        return f"{W} @ {self.D(k)}" if self.columns else f"{self.D(k)} @ {W}"

    def dW(self, k: int, A: str) -> str:
        return f"{self.D(k)} @ {A}.T" if self.columns else f"{A}.T @ {self.D(k)}"

    def axis(self) -> str:
        return "np.sum(dZ, axis=1, keepdims=True)" if self.columns else "D.sum(axis=0)"


# -- running the user's file -------------------------------------------------------------------------------
def _run(file: Path, function: str | None, layout: _Layout, points: list[Point], timeout: float,
         label: str) -> tuple[str, list[list[Array]]]:
    """The name of the function called, and the gradients it returned for each batch, in their layout."""
    names = layout.names
    with tempfile.TemporaryDirectory(prefix="symnet-check-code-") as tmp:
        work = Path(tmp)
        arrays: dict[str, Array] = {}
        for b, (params, X, Y) in enumerate(points):
            arrays[f"X{b}"], arrays[f"Y{b}"] = layout.data(X), layout.targets(Y)
            arrays.update({f"P{b}_{i}": layout.param(i, p) for i, p in enumerate(params)})
        np.savez(work / "input.npz", **arrays)
        request = {"file": str(file.resolve()), "function": function, "names": names, "sizes": [len(X) for _, X, _ in points],
                   "input": str(work / "input.npz"), "output": str(work / "output.npz"),
                   "error": str(work / "error.json")}
        (work / "request.json").write_text(json.dumps(request))
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, "1")  # tiny arrays: threads only cost start-up time
        # what it prints goes to a file, not a pipe: nothing to hold in memory here, and nothing that a
        # process it started (and left running) can keep open to block the wait
        with open(work / "stderr.txt", "wb") as stderr:
            proc = subprocess.Popen([sys.executable, str(_RUNNER), str(work / "request.json")],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                    env=env, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise InputError(f"{label} did not return within {timeout:g} s; it was stopped (look for an "
                             f"endless loop, or a step far too slow for a few small batches)") from None
        _kill(proc)  # whatever it started and left behind
        err = _tail(work / "stderr.txt")
        if (work / "error.json").is_file():
            error = json.loads((work / "error.json").read_text())["error"]
            if ("used as indices must be of integer" in error and LOSSES[layout.net.loss].one_hot
                    and layout.net.labels == "onehot"):
                error += "; if it reads each sample's class as an integer, say so: --labels int (in a graph's loss, labels='int')"
            raise InputError(error)
        if proc.returncode != 0 or not (work / "output.npz").is_file():
            raise InputError(f"{label} stopped without an answer ({_status(proc.returncode)})"
                             f"{_last_line(err)}")
        with np.load(work / "output.npz") as out:
            return str(out["function"]), [[out[f"G{b}_{i}"] for i in range(len(names))]
                                          for b in range(len(points))]


def _kill(proc: subprocess.Popen) -> None:
    """Stop the child and whatever it started: it leads a session of its own."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _tail(path: Path, size: int = 4096) -> bytes:
    """The end of a file the user's code printed to (it may be large)."""
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - size))
        return f.read()


def _status(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return f"; it printed: {lines[-1][:200]}" if lines else ""


# -- the derivation's backprop, with pieces that can be swapped ---------------------------------------------
FPrime = Callable[[Array, Array], Array]  # f′ of a layer from its H and A


@dataclass(frozen=True)
class _Mistake:
    """One known mistake as a change to the backprop: a layer's f′, how Δ is carried back into a layer,
    or which activations dW reads.  ``layer`` is where it happens; ``text`` says it in plain words."""

    layer: int
    text: str
    fprime: dict[int, FPrime] = field(default_factory=dict)
    #: how Δ is carried into ``layer`` from layer + 1: "untransposed", "precedence" or "inner"
    propagate: str = ""
    #: dW of ``layer`` from H of the layer below instead of its A
    dw_from_h: bool = False
    #: the L2 term λW of a layer's dW times this instead of once (0: left out, 2: counted twice)
    decay: dict[int, float] = field(default_factory=dict)
    #: a graph's (node, consumer) whose share of ∂E/∂node is left out
    path: tuple[str, str] | None = None


@cache
def _numpy(expr: sp.Expr, *args: sp.Symbol) -> Callable[..., Array]:
    fn = sp.lambdify(args, inline(expr, kernel=True), modules=[numpy_functions(), "numpy"])

    def evaluate(*values: Array) -> Array:
        with np.errstate(all="ignore"):
            return np.broadcast_to(np.asarray(fn(*values), dtype=float), np.shape(values[0]))

    return evaluate


_S = sp.Symbol("s", real=True)  # f(x), the value a compact lemma is written in


def _activate(name: str, H: Array) -> Array:
    if name == IDENTITY:
        return H
    if name == SOFTMAX:
        e = np.exp(H - H.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return ACTIVATION_CLASSES[name].numpy_function()(H)


@cache
def _fprime(name: str) -> FPrime:
    """f′(H), the derivation's lemma (the compact form SymPy derived from f's definition)."""
    if name == IDENTITY:
        return lambda H, A: np.ones_like(H)
    f = _numpy(lemma(name).compact, x)
    return lambda H, A: f(H)


def _in_outputs(name: str) -> sp.Expr | None:
    """f′ written in f's own value s (σ′ = s(1 − s), tanh′ = 1 − s²), when the lemma is written so."""
    if name == IDENTITY:
        return None
    cls = ACTIVATION_CLASSES[name]
    if cls.derivative_in not in (None, name) or not lemma(name).compact.has(cls(x)):
        return None
    return lemma(name).compact.subs(cls(x), _S)


@cache
def _loss_derivative(loss: str) -> Callable[[Array, Array], Array]:
    """∂E/∂Ŷ of each row, from the loss's term: its own ŷⱼ's share, and (a hinge) each term's share through
    the prediction at the target, Σₖ yₖŷₖ, whose derivative by ŷⱼ is yⱼ."""
    p, t, picked = sp.symbols("p t s_y", real=True)
    term = LOSSES[loss].term(p, t, LOSSES[loss].sample(sp.Symbol("n"), picked, {}))
    own, through = (_numpy(sp.diff(term, v), p, t, picked) for v in (p, picked))

    def derivative(P: Array, Y: Array) -> Array:
        at = np.sum(Y * P, axis=1, keepdims=True)
        return own(P, Y, at) + Y * np.sum(through(P, Y, at), axis=1, keepdims=True)
    return derivative


def derived_gradients(net: Spec, params: list[Array], X: Array, Y: Array) -> list[Array]:
    """∂E/∂θ for a batch in the rows layout ([W1, b1, …], X (m, n0), Y (m, nL)): what check_code compares
    with, the evaluation of the graph's matrix form (a layer list's graph for a layer list)."""
    return graph_matrix_form(net).param_gradients(params, X, Y)


def _derivatives(net: Spec, layout: _Layout, point: Point, mistake: _Mistake | None = None
                 ) -> tuple[dict[str, Array], dict[int, Array]]:
    """Every ∂E/∂(name) that can be diagnosed, in the layout's shapes — "Wk", "bk", "Hk" (Δ⁽ᵏ⁾) and "Ak"
    (k = 0..L: ∂E/∂X … ∂E/∂Ŷ) — and each layer's Δ as the layout holds it (a bias not summed over the batch)."""
    if isinstance(net, Graph):
        return _graph_derivatives(net, layout, point, mistake)
    if mistake is None:  # the truth: the matrix form's, in a layer list's names (∂E/∂X is A0's, ∂E/∂Ŷ AL's)
        out, deltas = _graph_derivatives(net.graph, layout, point)
        out["A0"], out[f"A{net.depth}"] = out.pop(matrix_name(INPUT)), out.pop(matrix_name(PREDICTION))
        return out, deltas
    # a known mistake is made in the layer list's own backprop, the form people write it in
    grads, deltas, outputs = _backprop(net, *point, mistake, outputs=True)
    out = {}
    for k in range(1, net.depth + 1):
        out[f"W{k}"], out[f"b{k}"] = layout.param(0, grads[2 * k - 2]), layout.param(1, grads[2 * k - 1])
        out[f"H{k}"] = layout.data(deltas[k])
    out.update({f"A{k}": layout.data(G) for k, G in outputs.items()})
    return out, {k: layout.per_sample(D) for k, D in deltas.items()}


def _graph_derivatives(graph: Graph, layout: _Layout, point: Point, mistake: _Mistake | None = None
                       ) -> tuple[dict[str, Array], dict[int, Array]]:
    """A graph's ∂E/∂θ for every parameter and ∂E/∂Hk (Δ⁽ᵏ⁾) from its matrix form (with a mistake: of the rules
    that miss its path), in the layout's shapes; and each dense layer's Δ as the layout holds it."""
    form = graph_matrix_form(graph) if mistake is None else _missing_path_form(graph, mistake.path)
    params, X, Y = point
    values = form.evaluate(params, X, Y)
    out = {name: layout.param(n, np.reshape(values[f"d{name}"], shape))
           for n, (name, shape) in enumerate(graph.param_shapes)}
    out.update({key[1:]: layout.data(v) for key, v in values.items()
                if key.startswith("d") and key[1:] not in out and np.ndim(v) == 2})
    deltas = {}
    for node in graph.dense_nodes:
        deltas[node.number] = layout.per_sample(values[f"D{node.number}"])
        out[f"H{node.number}"] = layout.data(values[f"D{node.number}"])
    return out, deltas


def _backprop(net: Network, params: list[Array], X: Array, Y: Array, mistake: _Mistake | None = None, *,
              outputs: bool = False) -> tuple:
    """∂E/∂θ in the rows layout (and every layer's Δ = ∂E/∂H), from the registries' f, f′ and ℓ′;
    with a mistake, the same computation with that one piece changed.  With ``outputs`` also
    ∂E/∂A⁽ᵏ⁾ for k = 0..L (A⁽⁰⁾ = X, A⁽ᴸ⁾ = Ŷ)."""
    L, m = net.depth, len(X)
    A, H = [X], [X]
    for k in range(1, L + 1):
        H.append(A[-1] @ params[2 * k - 2] + params[2 * k - 1])
        A.append(_activate(net.activations[k - 1], H[-1]))
    changed = mistake.fprime if mistake else {}

    def fprime(k: int) -> Array:
        f = changed.get(k) or _fprime(net.activations[k - 1])
        return f(H[k], A[k])

    # E is the mean over the batch: ∂E/∂Ŷ carries the 1/m that every gradient below inherits
    G = _loss_derivative(net.loss)(A[L], Y) / m
    if net.output == SOFTMAX:
        # ∂ŷ_q/∂h_j = ŷ_q(δ_qj − ŷ_j), the softmax's Jacobian (layer_form differentiates it the same way)
        D = A[L] * (G - np.sum(G * A[L], axis=1, keepdims=True))
    else:
        D = G * fprime(L)
    grads: list[Array] = [np.empty(0)] * (2 * L)
    deltas, dA = {}, {L: G}
    decay = _decay() if getattr(net, "l2", 0.0) else None
    for k in range(L, 0, -1):
        deltas[k] = D
        below = H[k - 1] if mistake and mistake.dw_from_h and mistake.layer == k else A[k - 1]
        W = params[2 * k - 2]
        times = mistake.decay.get(k, 1.0) if mistake else 1.0
        grads[2 * k - 2] = below.T @ D + (times * decay(W, net.l2) if decay else 0.0)
        grads[2 * k - 1] = D.sum(axis=0)
        how = mistake.propagate if mistake and mistake.layer == k - 1 else ""
        dA[k - 1] = D @ W if how == "untransposed" else D @ W.T
        if k > 1:
            F = fprime(k - 1)
            if how == "precedence":
                D = (D * F) @ W.T
            elif how == "inner":
                D = np.broadcast_to(np.sum(dA[k - 1] * F, axis=1, keepdims=True), F.shape)
            else:
                D = dA[k - 1] * F
    return (grads, deltas, dA) if outputs else (grads, deltas)


@cache
def _decay() -> Callable[[Array, float], Array]:
    # imported here: the L2 term is new, and most specs have none
    from symnet.functions.regularisers import decay, lam

    w = sp.Symbol("w", real=True)
    return sp.lambdify((w, lam), decay(w), "numpy")


def _mistakes(net: Network, layout: _Layout) -> Iterator[_Mistake]:
    """Every known mistake that can change this network's gradients, from the output layer down."""
    if isinstance(net, Graph):
        # a share of a node's ∂E/∂· left out: the path through one of the nodes that read it missing
        for node, consumer in rules(net).paths():
            reader = net.by_name[consumer]
            how = f"{consumer} = {layer_kind(reader.kind).describe(reader)}"
            yield _Mistake(_graph_layer(net, node), f"the path from {node} through {consumer} is missing: ∂E/∂{node} "
                           f"is the sum over every node that reads {node}, and {how} reads it too", path=(node, consumer))
        return
    L = net.depth
    elementwise = [k for k in range(1, L + 1) if net.activations[k - 1] not in (IDENTITY, SOFTMAX)]
    for k in range(L, 0, -1):
        act = net.activations[k - 1]
        Hk, Ak = layout.H(k), f"A{k}"
        if k in elementwise:
            truth = _fprime_text(act, Hk, Ak)
            yield _Mistake(k, f"f′ of layer {k} missing: {glyph(act)}′({Hk}) = {truth} is not multiplied in",
                           {k: lambda H, A: np.ones_like(H)})
            f = _numpy(lemma(act).compact, x)
            yield _Mistake(k, f"f′ of layer {k} evaluated at {Ak} instead of {Hk}: {glyph(act)}′({Ak}) where "
                              f"{glyph(act)}′({Hk}) = {truth} belongs", {k: lambda H, A, f=f: f(A)})
            yield _Mistake(k, f"the activation itself where its derivative belongs in layer {k}: {Ak} = "
                              f"{glyph(act)}({Hk}) instead of {glyph(act)}′({Hk}) = {truth}",
                           {k: lambda H, A: A})
            own = _in_outputs(act)
            if own is not None:
                g = _numpy(own, x, _S)
                yield _Mistake(k, f"f′ of layer {k} written in {Hk} where {Ak} belongs: "
                                  f"{claim_text(own.subs(_S, sp.Symbol(Hk)))} instead of {truth}",
                               {k: lambda H, A, g=g: g(H, H)})
            for other in ACTIVATION_CLASSES:
                if other == act:
                    continue
                f = _numpy(lemma(other).compact, x)
                yield _Mistake(k, f"{glyph(other)}′ used where {glyph(act)}′ belongs in layer {k}: "
                                  f"{_fprime_text(other, Hk, None)} instead of {truth}", {k: lambda H, A, f=f: f(H)})
                written = _in_outputs(other)
                if written is not None:
                    g = _numpy(written, x, _S)
                    yield _Mistake(k, f"{glyph(other)}′ used where {glyph(act)}′ belongs in layer {k}: "
                                      f"{claim_text(written.subs(_S, sp.Symbol(Ak)))} is {glyph(other)}′ written in "
                                      f"a {other} layer's output; for {act} it is {truth}",
                                   {k: lambda H, A, g=g: g(H, A)})
        if k < L:
            n_k, n_next = net.layers[k], net.layers[k + 1]
            F = f"{glyph(act)}′({Hk})" if act != IDENTITY else None
            right = f"({layout.back(k + 1)}) * {F}" if F else layout.back(k + 1)
            if n_k == n_next:
                yield _Mistake(k, f"layer {k}'s delta {layout.D(k)} carried back with W{k + 1} where "
                                  f"W{k + 1}.T belongs: {layout.back(k + 1, transposed=False)} instead of "
                                  f"{layout.back(k + 1)}", propagate="untransposed")
                if F:
                    wrong = (f"W{k + 1}.T @ ({layout.D(k + 1)} * {F})" if layout.columns
                             else f"({layout.D(k + 1)} * {F}) @ W{k + 1}.T")
                    yield _Mistake(k, f"in layer {k}'s delta the element-wise product with {F} comes before the "
                                      f"matrix product: {wrong} where {right} belongs (`*` and `@` group left "
                                      f"to right; parenthesise)", propagate="precedence")
            if F and n_k > 1:
                yield _Mistake(k, f"a dot product where the element-wise product belongs in layer {k}'s delta: "
                                  f"np.dot({layout.back(k + 1)}, {F}) sums over the units and gives each the "
                                  f"same number; use {right}", propagate="inner")
        if k > 1:
            below = f"A{k - 1}"
            yield _Mistake(k, f"dW{k} computed from {layout.H(k - 1)} (before the activation) where {below} "
                              f"belongs: {layout.dW(k, below)}", dw_from_h=True)
        if net.l2:
            yield _Mistake(k, f"the L2 term λ·W{k} (λ = {net.l2:g}) is missing from dW{k}: the cost has "
                              f"(λ/2)·ΣW², so ∂E/∂W{k} gains λ·W{k}", decay={k: 0.0})
            yield _Mistake(k, f"the L2 term λ·W{k} (λ = {net.l2:g}) is counted twice in dW{k}: ∂/∂W of "
                              f"(λ/2)·W² is λ·W, not 2λ·W", decay={k: 2.0})
    if net.l2 and L > 1:
        yield _Mistake(L, f"the L2 term λ·Wk (λ = {net.l2:g}) is missing from every dWk: the cost has "
                          f"(λ/2)·ΣW², so every ∂E/∂Wk gains λ·Wk", decay=dict.fromkeys(range(1, L + 1), 0.0))
        yield _Mistake(L, f"the L2 term λ·Wk (λ = {net.l2:g}) is counted twice in every dWk: ∂/∂W of "
                          f"(λ/2)·W² is λ·W, not 2λ·W", decay=dict.fromkeys(range(1, L + 1), 2.0))
    for kind, text in (("missing", "f′ missing in every layer"), ("at A", "f′ evaluated at A instead of H in "
                                                                          "every layer")):
        if len(elementwise) > 1:
            table = {k: (lambda H, A: np.ones_like(H)) if kind == "missing"
                     else (lambda H, A, f=_numpy(lemma(net.activations[k - 1]).compact, x): f(A))
                     for k in elementwise}
            yield _Mistake(max(elementwise), text, table)


def _fprime_text(name: str, H: str, A: str | None) -> str:
    """f′ as the write-up gives it, in the layer's names: 1 - A1**2 (in its output when it can be)."""
    written = _in_outputs(name)
    if A is not None and written is not None:
        return claim_text(written.subs(_S, sp.Symbol(A)))
    return claim_text(lemma(name).compact.subs(x, sp.Symbol(H)))


# -- comparing -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Form:
    """A way a returned gradient can relate to the true one: sign, scale, transposed, per sample."""

    sign: int = 1
    scale: str = "1"
    transposed: bool = False
    per_sample: bool = False

    @property
    def cost(self) -> int:
        return (self.sign < 0) + (self.scale not in ("1",) and not (self.per_sample and self.scale == "m")) \
            + self.transposed + self.per_sample

    def words(self, name: str, axis: str = "", shapes: tuple[object, object] | None = None
              ) -> str:
        """The form in plain words; ``shapes`` (returned, expected) are said where they differ."""
        parts = []
        where = f", shape {shapes[0]} where {shapes[1]} belongs" if shapes and shapes[0] != shapes[1] else ""
        if self.per_sample:
            parts.append(f"not summed over the batch: one entry per sample{where}; sum over the samples ({axis})")
        elif self.transposed:
            parts.append(f"transposed: (∂E/∂{name})ᵀ{where}")
        scale = {"m": f"m times ∂E/∂{name}: summed over the batch where E averages (divide by m)",
                 "1/m": f"1/m times ∂E/∂{name}: divided by m twice",
                 "2": f"twice ∂E/∂{name}: the derivative of Σ(ŷ − y)², but symnet's mse is ½Σ(ŷ − y)²",
                 "2m": f"2m times ∂E/∂{name}: summed over the batch where E averages, and without mse's ½"}
        if _SUMMED.get():
            scale.update({"m": f"m times ∂E/∂{name}: a summed cost's gradient summed over the batch once more",
                          "1/m": f"1/m times ∂E/∂{name}: averaged over the batch where E sums it "
                                 f"(reduction='sum'; do not divide by m)"})
        if self.scale in scale and not (self.per_sample and self.scale == "m"):
            parts.append(scale[self.scale])
        if self.sign < 0:
            parts.append(f"the opposite sign: −∂E/∂{name} (ŷ − y, not y − ŷ; the update subtracts the gradient)")
        return "; ".join(parts)


def _scales(net: Network, m: int) -> dict[str, float]:
    out = {"1": 1.0, "m": float(m), "1/m": 1.0 / m}
    if net.loss == "mse":
        out.update({"2": 2.0, "2m": 2.0 * m})
    return out


def _rel_error(u: Array, t: Array, floor: float) -> float:
    with np.errstate(all="ignore"):
        return float(np.max(np.abs(u - t) / np.maximum(np.maximum(np.abs(u), np.abs(t)), floor), initial=0.0))


def _forms(net: Network, u: Array, t: Array, d: Array | None, m: int) -> Iterator[tuple[_Form, Array]]:
    """Candidate arrays (true gradient t, or the layer's per-sample Δ d for a bias) that u has the shape of."""
    for scale, c in _scales(net, m).items():
        for sign in (1, -1):
            if u.shape == t.shape:
                yield _Form(sign, scale), sign * c * t
            if t.ndim == 2 and u.shape == t.T.shape:
                yield _Form(sign, scale, transposed=True), sign * c * t.T
            if d is not None:
                if u.shape == d.shape:
                    yield _Form(sign, scale, per_sample=True), sign * c * d
                elif u.shape == d.T.shape:
                    yield _Form(sign, scale, transposed=True, per_sample=True), sign * c * d.T


@dataclass
class _Batch:
    m: int
    user: dict[str, Array]
    floor: float


@dataclass(frozen=True)
class Diagnosis:
    """What a set of wrong answers has in common with the derivation: the simplest known ``mistake`` ("" when
    there is none: the answers are the truth in some form) and, per answer, the ``forms`` in which it equals
    the truth (or the truth with the mistake made): transposed, scaled, of the opposite sign, not summed over
    the batch.  ``changed`` holds the answers the mistake changes; ``layer`` is where it is made, and a
    ``local`` mistake (dW from H, the L2 term) changes nothing it is not made in."""

    mistake: str
    layer: int | None
    forms: dict[str, _Form]
    changed: frozenset[str]
    local: bool = False

    def describe(self, name: str, shown: str | None = None, axis: str = "",
                 shapes: tuple[object, object] | None = None) -> str:
        """One line for one answer: the mistake where it changes that answer, then its form (``shown`` is
        the name as the person writes it; ``shapes`` (theirs, expected) are said where they differ)."""
        parts = [self.mistake] if self.mistake and name in self.changed else []
        form = self.forms.get(name)
        if form is not None and form != _Form():
            parts.append(form.words(shown or name, axis, shapes))
        return "; ".join(parts)


def diagnose(net: Network, convention: str, points: list[Point], answers: dict[str, list[Array]], *,
             tolerance: float = TOLERANCE, floor: float = _FLOOR) -> Diagnosis | None:
    """The known mistake (or none) and the forms that explain ``answers``: per name ("Wk", "bk" — gradients of
    the parameters —, "Hk" for Δ⁽ᵏ⁾ = ∂E/∂Hk, "Ak" for ∂E/∂Ak with A0 = X and AL = Ŷ) one array per batch of
    ``points`` (rows-layout batches, as :func:`random_batch` draws them), in the shapes of ``convention``.
    None when nothing known explains them.  Entries below ``floor`` times the largest true value are compared
    absolutely at that scale; ``tolerance`` is the largest relative error that still counts as equal."""
    layout = _Layout(convention, net)
    truths = [_derivatives(net, layout, point) for point in points]
    batches = []
    for b, ((_, X, _), (true, _)) in enumerate(zip(points, truths)):
        largest = max(float(np.max(np.abs(true[n]), initial=0.0)) for n in answers)
        batches.append(_Batch(len(X), {n: np.asarray(a[b], dtype=float) for n, a in answers.items()},
                              floor * largest or 1e-300))
    return _explain(net, layout, points, batches, truths, tolerance)


def in_convention(convention: str, net: Network, name: str, rows: Array) -> Array:
    """A rows-layout array of ∂E/∂(name) (or of the quantity itself: "Wk", "bk", data "Hk", "Ak", X, Y) as
    ``convention`` holds it."""
    return _Layout(convention, net).convert(name, rows)


def _judge(path: str, function: str, net: Network, layout: _Layout, points: list[Point],
           answers: list[list[Array]], label: str) -> CodeReport:
    names = layout.names
    batches: list[_Batch] = []
    truths = []
    misshaped: dict[str, str] = {}
    for point, user in zip(points, answers):
        true, deltas = _derivatives(net, layout, point)
        m = len(point[1])
        for n, u in zip(names, user):
            wrong_shape = _shape_mistake(u, true[n], n, layout, m)
            if wrong_shape:
                misshaped[n] = wrong_shape
                user = [np.zeros(true[n].shape) if k == n else v for k, v in zip(names, user)]
        largest = max(float(np.max(np.abs(true[n]), initial=0.0)) for n in names)
        batches.append(_Batch(m, {n: _shaped(u, true[n], n, layout, m, label) for n, u in zip(names, user)},
                              _FLOOR * largest or 1e-300))
        truths.append((true, deltas))
    if misshaped:  # a shape that would broadcast in the user's own update is a wrong gradient, named as such
        return _misshaped(path, function, net, layout, batches, truths, misshaped)
    errors = []
    for n in names:
        errs = [_rel_error(b.user[n], t[n], b.floor) if b.user[n].shape == t[n].shape else float("inf")
                for b, (t, _) in zip(batches, truths)]
        errors.append(max(errs))
    wrong = [i for i, e in enumerate(errors) if not e <= TOLERANCE]
    shapes = [tuple(batches[0].user[n].shape) for n in names]
    expected = [tuple(truths[0][0][n].shape) for n in names]
    if not wrong:
        results = tuple(ParamResult(n, True, e, s, x_) for n, e, s, x_ in zip(names, errors, shapes, expected))
        return CodeReport(path, function, net, layout.convention, tuple(b.m for b in batches), results, None, "")
    first = max(_layer_of(names[i]) for i in wrong)
    found = _explain(net, layout, points, batches, truths, TOLERANCE)
    per_param = [""] * len(names)
    if found is None:
        worst = max(e for e in errors if e != float("inf")) if any(e != float("inf") for e in errors) else None
        how = f"max relative error {worst:.2g}" if worst is not None else "the shapes differ"
        diagnosis = f"does not match any known mistake; {how}"
    else:
        texts = []
        if found.mistake:
            texts.append(found.mistake)
        for i in wrong:
            name, form = names[i], found.forms[names[i]]
            form_text = form.words(name, layout.axis()) if form != _Form() else ""
            if found.mistake and name in found.changed:
                k = _layer_of(name)
                cause = found.mistake if k == found.layer or found.local else \
                    f"follows from layer {found.layer} ({layout.D(k)} is carried back from it)"
                per_param[i] = cause + (f"; also {form_text}" if form_text else "")
            else:
                per_param[i] = form_text
            if form_text:
                texts.append(f"d{name} {form.words(name, layout.axis(), (shapes[i], expected[i]))}")
        diagnosis = _summary(texts, [found.forms[names[i]] for i in wrong], len(wrong) == len(names),
                             found.mistake or None)
    results = tuple(ParamResult(n, i not in wrong, errors[i], shapes[i], expected[i], per_param[i])
                    for i, n in enumerate(names))
    return CodeReport(path, function, net, layout.convention, tuple(b.m for b in batches), results, first, diagnosis)


def _missing_path_form(graph: Graph, path: tuple[str, str]):
    """The matrix form of rules that leave out one share of ∂E/∂node (cached per path)."""
    key = (graph, path)
    if key not in _VARIANTS:
        from symnet.derivation.graph_matrix import GraphMatrixForm

        _VARIANTS[key] = GraphMatrixForm(graph, GraphRules(graph, without=path))
    return _VARIANTS[key]


_VARIANTS: dict = {}


def _graph_layer(graph: Graph, node: str) -> int:
    """The dense layer whose delta a node's ∂E/∂· flows into first (the layer a missing path is made in)."""
    seen, todo = set(), [node]
    while todo:
        name = todo.pop()
        n = graph.by_name.get(name)
        if n is None or name in seen:
            continue
        seen.add(name)
        if n.kind == DENSE.name:
            return n.number
        todo += list(n.inputs)
    return 1


def _layer_of(name: str) -> int:
    """k of a parameter named W{k} or b{k}."""
    return int(name[1:])


def _summary(texts: list[str], forms: list[_Form], every: bool, mistake: _Mistake | None) -> str:
    """The one-line diagnosis: the same form on every gradient is said once."""
    if mistake is None and every and len(set(forms)) == 1 and not forms[0].per_sample:
        one = forms[0].words("θ")
        return f"every gradient is {one}"
    return "; ".join(dict.fromkeys(texts))


def _shape_mistake(u: Array, t: Array, name: str, layout: _Layout, m: int) -> str:
    """What is wrong with a bias gradient's shape that still holds numbers of the right count: a column
    for a flat vector (or the reverse), which ``b - lr*db`` broadcasts to a matrix, or a sum over the wrong
    axis (one entry per sample)."""
    if not name.startswith("b") or u.shape == t.shape:
        return ""
    if u.size == t.size and u.squeeze().shape == t.squeeze().shape:
        spread = np.broadcast_shapes(u.shape, t.shape)
        if spread == t.shape:  # a plain number for a (1, 1) bias, say: the update keeps its shape
            return ""
        return (f"d{name} has shape {u.shape} where {name} is {t.shape}: an update {name} - lr*d{name} would "
                f"broadcast to shape {spread} (return it in {name}'s shape, e.g. {layout.axis()})")
    if u.size == m and t.size != m and u.squeeze().ndim == 1:
        return (f"d{name} has one entry per sample (shape {u.shape}): it was summed over the units instead of over "
                f"the samples ({layout.axis()} in the {layout.convention} convention)")
    return ""


def _misshaped(path: str, function: str, net: Network, layout: _Layout, batches: list, truths: list,
               misshaped: dict[str, str]) -> CodeReport:
    names = layout.names
    results = []
    for n in names:
        t = truths[0][0][n]
        u = batches[0].user[n]
        if n in misshaped:
            results.append(ParamResult(n, False, float("inf"), t.shape, t.shape, misshaped[n]))
            continue
        e = max(_rel_error(b.user[n], tt[n], b.floor) if b.user[n].shape == tt[n].shape else float("inf")
                for b, (tt, _) in zip(batches, truths))
        results.append(ParamResult(n, e <= TOLERANCE, e, tuple(u.shape), tuple(t.shape)))
    first = max(_layer_of(n) for n in misshaped)
    return CodeReport(path, function, net, layout.convention, tuple(b.m for b in batches), tuple(results), first,
                      "; ".join(misshaped.values()))


def _shaped(u: Array, t: Array, name: str, layout: _Layout, m: int, label: str) -> Array:
    """The returned array, a bias vector reshaped to its parameter's (n,) or (n, 1); refused when its shape
    cannot be the gradient's in any recognised form, or it holds nan or inf."""
    if not np.all(np.isfinite(u)):
        bad = "nan" if np.any(np.isnan(u)) else "inf"
        raise InputError(f"{label} returned d{name} with {bad} entries on a batch of m = {m} samples; "
                         f"gradients of a small random batch are finite numbers")
    if u.shape == t.shape:
        return u
    if u.size == t.size and u.squeeze().shape == t.squeeze().shape:
        return u.reshape(t.shape)
    n = t.size if name.startswith("b") else None
    if n == 1 and u.shape == (m,):  # one output's per-sample bias gradients, as a flat vector
        return u.reshape((1, m) if layout.columns else (m, 1))
    fits = (u.ndim == 2 and t.ndim == 2 and u.shape == t.T.shape) or (n is not None and u.shape in ((m, n), (n, m)))
    if not fits:
        raise InputError(f"{label} returned d{name} with shape {u.shape}; expected {t.shape}, the shape of {name} "
                         f"in the {layout.convention} convention (see `symnet check-code --help`)")
    return u


def _explain(net: Network, layout: _Layout, points: list[Point], batches: list[_Batch], truths: list,
             tolerance: float) -> Diagnosis | None:
    """The simplest known mistake (or none) and a form per answer that together give what was answered."""
    best: tuple[int, _Mistake | None, dict[str, _Form], frozenset[str]] | None = None
    forms = _fit(net, batches, truths, tolerance)
    if forms is not None:
        best = (sum(f.cost for f in forms.values()), None, forms, frozenset())
    for mistake in _mistakes(net, layout):
        variant = [_derivatives(net, layout, point, mistake) for point in points]
        changed = _changed(variant, truths, batches, tolerance)
        if not changed:
            continue  # this mistake changes nothing asked about here (ReLU′ evaluated at A = ReLU′ at H)
        forms = _fit(net, batches, variant, tolerance)
        if forms is None:
            continue
        cost = 1 + sum(f.cost for f in forms.values())
        if best is None or cost < best[0]:
            best = (cost, mistake, forms, changed)
        if best[0] == 1:
            break  # one mistake explains everything: nothing simpler can follow
    if best is None:
        return None
    _, mistake, forms, changed = best
    if mistake is None:
        return Diagnosis("", None, forms, changed)
    return Diagnosis(mistake.text, mistake.layer, forms, changed, local=mistake.dw_from_h or bool(mistake.decay))


def _changed(variant: list, truths: list, batches: list[_Batch], tolerance: float) -> frozenset[str]:
    """The answered names whose truth the mistake changes."""
    return frozenset(n for n in batches[0].user
                     if any(_rel_error(v[n], t[n], b.floor) > tolerance
                            for (v, _), (t, _), b in zip(variant, truths, batches)))


def _fit(net: Network, batches: list[_Batch], truths: list, tolerance: float) -> dict[str, _Form] | None:
    """Per answer, the simplest form in which every batch's answer equals ``truths``'s."""
    out = {}
    for name in batches[0].user:
        common: dict[_Form, int] | None = None
        for b, (true, deltas) in zip(batches, truths):
            d = deltas[int(name[1:])] if name[0] == "b" else None
            matching = {f: f.cost for f, arr in _forms(net, b.user[name], true[name], d, b.m)
                        if arr.shape == b.user[name].shape and _rel_error(b.user[name], arr, b.floor) <= tolerance}
            common = matching if common is None else {f: c for f, c in common.items() if f in matching}
        if not common:
            return None
        out[name] = min(common, key=lambda f: (common[f], list(common).index(f)))
    return out
