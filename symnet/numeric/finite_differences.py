"""Central finite differences: the independent check of every gradient symnet derives or generates."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp

from symnet.derivation.chains import Derivation
from symnet.derivation.graph_matrix import graph_matrix_form
from symnet.functions.layers import kind
from symnet.spec import Graph, Network
from symnet.functions.activations import ACTIVATION_CLASSES, Activation, is_kinked
from symnet.functions.losses import LOSSES
from symnet.numeric.evaluate import Evaluator

Loss = Callable[[list[np.ndarray]], float]
#: draws of a point before gradcheck settles for one near a kink
KINK_ATTEMPTS = 50


@dataclass
class Comparison:
    """Analytic gradients next to finite differences, in the kernel's layout."""

    analytic: list[np.ndarray]
    numeric: list[np.ndarray]

    @property
    def relative_errors(self) -> list[np.ndarray]:
        """|analytic − numeric| / max(|analytic|, |numeric|, floor).

        Finite differences in float64 carry an absolute error near 1e-13 (rounding of E over the
        step), so a gradient that is ten thousand times smaller than the largest one cannot be
        measured relatively; the floor, 1e-4 of the largest gradient (at least 1e-4), says so.
        """
        largest = max(float(np.max(np.abs(g), initial=0.0)) for g in self.analytic)
        floor = 1e-4 * max(largest, 1.0)
        return [
            np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
            for a, n in zip(self.analytic, self.numeric)
        ]

    @property
    def max_relative_error(self) -> float:
        return max(float(np.max(r, initial=0.0)) for r in self.relative_errors)


def finite_differences(loss: Loss, params: list[np.ndarray], step: float = 2e-3) -> list[np.ndarray]:
    """∂loss/∂θ for every entry of params, by central differences refined by Richardson extrapolation.

    The step is scaled per parameter (step · max(1, |θ|)).  D(h) = (f(θ+h) − f(θ−h)) / 2h has error
    O(h²); two Richardson steps over h, h/2, h/4 cancel the h² and h⁴ terms, leaving O(h⁶) ≈ 1e-16
    next to a rounding error of about 1e-16 / h ≈ 1e-13 — the checks' 1e-7 has room to spare.
    """
    params = [np.array(p, dtype=float) for p in params]
    grads = [np.zeros_like(p) for p in params]
    for p, g in zip(params, grads):
        flat, gflat = p.reshape(-1), g.reshape(-1)
        for n in range(flat.size):
            theta = flat[n]
            h = step * max(1.0, abs(theta))

            def central(hh: float) -> float:
                flat[n] = theta + hh
                up = loss(params)
                flat[n] = theta - hh
                down = loss(params)
                flat[n] = theta
                return (up - down) / (2 * hh)

            d1, d2, d4 = central(h), central(h / 2), central(h / 4)
            r1, r2 = (4 * d2 - d1) / 3, (4 * d4 - d2) / 3
            gflat[n] = (16 * r2 - r1) / 15
    return grads


def compare(derivation: Derivation, params: list[np.ndarray], X: np.ndarray, Y: np.ndarray) -> Comparison:
    """The derived gradients evaluated at (params, X, Y) against finite differences of E."""
    ev = Evaluator(derivation)
    analytic = ev.gradients(params, X, Y)
    numeric = finite_differences(lambda p: ev.loss(p, X, Y), params)
    return Comparison(analytic, numeric)


def random_point(derivation: Derivation, m: int = 4, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Parameters, inputs and valid targets at random: one-hot for cce, in [0, 1] for bce."""
    rng = np.random.default_rng(seed)
    net = derivation.net
    params = [rng.normal(0, 0.5 if len(shape) == 1 else 1, shape) for _, shape in net.param_shapes]
    X = rng.normal(0, 1, (m, net.n_in))
    Y = targets(net.loss, net.n_out, m, rng)
    return params, X, Y


def gradcheck(module, *, m: int = 4, seed: int = 0, max_entries: int = 200,
              margin: float = 0.05) -> Comparison:
    """A generated kernel module's ``gradients`` against central finite differences of its ``loss``.

    The point: the module's own initial weights with biases drawn at random (so their gradients are
    not trivially alike), m random inputs and valid targets (one-hot for cce, in [0, 1] for bce),
    redrawn (up to KINK_ATTEMPTS times) until every ReLU-type pre-activation lies ``margin`` away from its
    kink; where none is found, only the parameters whose difference stencil crosses no kink are compared.  Nets with more
    than ``max_entries`` parameters are checked on that many entries drawn at random, each array
    represented.  Float32 kernels are differenced with a larger step (their loss is rounded at 1e-7).
    """
    rng = np.random.default_rng(seed)
    kinks = _module_kinks(module)
    shapes = [np.shape(p) for p in module.init_params(seed)]
    float32 = np.dtype(module.DTYPE) == np.float32
    step = 5e-2 if float32 else 2e-3
    for _ in range(KINK_ATTEMPTS):
        params = [np.asarray(p, dtype=float) for p in module.init_params(seed)]
        for p in params[1::2]:
            p[...] = rng.normal(0.0, 0.5, p.shape)
        X = rng.normal(0.0, 1.0, (m, module.LAYERS[0]))
        Y = targets(module.LOSS, module.LAYERS[-1], m, rng)
        in_loss = _loss_kinks(module, kinks, params, X, Y)
        if kink_distance(kinks, params, X) > margin and all(np.min(np.abs(a)) > margin for a in in_loss if a.size):
            break

    def pattern(values: list[np.ndarray]) -> list[np.ndarray]:
        return _kink_pattern(kinks, values, X) + [a > 0 for a in _loss_kinks(module, kinks, values, X, Y)]

    entries = _entries(shapes, max_entries, rng)
    # near a kink, keep the entries whose difference stencil crosses none (wide ReLU nets always have
    # some pre-activation near 0, but each parameter moves only a few of them)
    entries = [idx[[_smooth_across(pattern, params, a, n, step) for n in idx]] if idx.size else idx
               for a, idx in enumerate(entries)]
    analytic = [g.reshape(-1)[idx] for g, idx in zip(module.gradients(params, X, Y), entries)]

    def loss_at(values: list[np.ndarray]) -> float:
        moved = [p.copy() for p in params]
        for p, idx, v in zip(moved, entries, values):
            p.reshape(-1)[idx] = v
        return float(module.loss(moved, X, Y))

    start = [p.reshape(-1)[idx].copy() for p, idx in zip(params, entries)]
    numeric = finite_differences(loss_at, start, step=step)
    return Comparison([np.asarray(a, dtype=float) for a in analytic], numeric)


def _module_kinks(module) -> Kinks:
    """What a generated module's kinks are read from: its graph (a graph's module carries its spec as GRAPH),
    or its activations."""
    text = getattr(module, "GRAPH", None)
    if text is None:
        return tuple(module.ACTIVATIONS)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return Graph.from_toml("kernel", tomllib.loads(text))


def targets(loss: str, K: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """m valid targets of K outputs for the loss: one-hot rows, values in [0, 1], or any reals."""
    if LOSSES[loss].one_hot:
        return np.eye(K)[rng.integers(0, K, m)]
    if LOSSES[loss].unit_interval:
        return rng.uniform(0.0, 1.0, (m, K))
    return rng.normal(0.0, 1.0, (m, K))


Kinks = tuple[str, ...] | Graph


def kinks_of(net: Network | Graph) -> Kinks:
    """What :func:`kink_distance` reads of a spec: a layer list's activations, or the graph itself."""
    return net.activations if isinstance(net, Network) else net


def kink_arguments(net: Kinks, params: list[np.ndarray], X: np.ndarray) -> list[np.ndarray]:
    """The arguments of every activation whose f′ jumps at 0 (ReLU), by a plain forward pass: of a layer list
    (``net``: its activations) or of a graph (its matrix form's forward pass)."""
    if isinstance(net, Graph):
        form = graph_matrix_form(net)
        values = form.forward(params, X)
        return [values[form.symbols[str(form.rules.arrays[n.inputs[0]].label)].name]
                for n in net.nodes if is_kinked(n.kind) and kind(n.kind).elementwise]
    a, out = X, []
    for k, act in enumerate(net):
        h = a @ params[2 * k] + params[2 * k + 1]
        if is_kinked(act):
            out.append(h)
        a = ACTIVATION_CLASSES[act].numpy_function()(h) if act in ACTIVATION_CLASSES else h  # identity; softmax is last
    return out


def _kink_pattern(activations: Kinks, params: list[np.ndarray], X: np.ndarray) -> list[np.ndarray]:
    """Which side of its kink every kinked pre-activation lies on."""
    return [h > 0 for h in kink_arguments(activations, params, X)]


def _loss_kinks(module, kinks: Kinks, params: list[np.ndarray], X: np.ndarray, Y: np.ndarray) -> list[np.ndarray]:
    """The arguments of the loss's own kinks (a hinge's sⱼ − s_y + Δ), from its term and the kernel's prediction."""
    loss = LOSSES[module.LOSS]
    p, t, picked = sp.symbols("p t s_y", real=True)
    options = dict(kinks.loss_node.options) if isinstance(kinks, Graph) else {}
    term = loss.term(p, t, loss.sample(sp.Integer(module.LAYERS[-1]), picked, options))
    arguments = [a.args[0] for a in term.atoms(Activation) if is_kinked(type(a).name)]
    if not arguments:
        return []
    P = np.asarray(module.forward(params, X), dtype=float)
    at = np.sum(Y * P, axis=1, keepdims=True)
    return [np.broadcast_to(sp.lambdify((p, t, picked), a, "numpy")(P, Y, at), P.shape) for a in arguments]


def _smooth_across(pattern: Callable[[list[np.ndarray]], list[np.ndarray]], params: list[np.ndarray], array: int,
                   entry: int, step: float) -> bool:
    """Whether moving one parameter over its widest difference stencil crosses no kink (``pattern``: the side
    of its kink every kinked argument lies on)."""
    moved = [p.copy() for p in params]
    flat = moved[array].reshape(-1)
    theta = flat[entry]
    h = step * max(1.0, abs(theta))
    patterns = []
    for value in (theta - h, theta, theta + h):
        flat[entry] = value
        patterns.append(pattern(moved))
    return all(np.array_equal(p, q) for ps in patterns[1:] for p, q in zip(patterns[0], ps))


def kink_distance(activations: Kinks, params: list[np.ndarray], X: np.ndarray) -> float:
    """How close any pre-activation of a layer whose f′ jumps at 0 (ReLU) comes to 0, by a plain NumPy
    forward pass (inf when the net has none).  Finite differences across the kink measure neither
    one-sided derivative, so checks keep away from it."""
    return min((float(np.min(np.abs(h))) for h in kink_arguments(activations, params, X) if np.size(h)),
               default=float("inf"))


def _entries(shapes: list[tuple[int, ...]], most: int, rng: np.random.Generator) -> list[np.ndarray]:
    sizes = [int(np.prod(s)) for s in shapes]
    if sum(sizes) <= most:
        return [np.arange(n) for n in sizes]
    per_array = max(1, most // len(sizes))
    return [np.sort(rng.choice(n, min(n, per_array), replace=False)) for n in sizes]
