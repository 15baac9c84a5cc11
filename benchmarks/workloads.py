"""The four workloads of issue 7, their data and their common initial weights.

Everything here is deterministic: the same seed gives byte-identical arrays, so the parent process can build
a workload once, save it, and every implementation (each in its own process) trains from the same numbers.
The reference maths lives here too: the loss E (mean over samples of the per-sample loss), used to judge every
implementation's final parameters the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Workload:
    name: str
    layers: tuple[int, ...]
    activations: tuple[str, ...]  # one per layer with weights; the last is the output's
    loss: str  # "mse" (½ Σ (ŷ − y)²) or "cce" (−Σ y log ŷ, softmax output)
    batch_size: int
    lr: float
    data: str  # how the data is made (for the table's header)
    epochs: int  # timed epochs in a default run (after one warm-up epoch)

    @property
    def spec(self) -> str:
        return "-".join(map(str, self.layers))

    @property
    def hidden(self) -> tuple[str, ...]:
        return self.activations[:-1]

    @property
    def output(self) -> str:
        return self.activations[-1]

    @property
    def smooth(self) -> bool:
        """Whether every activation has a continuous derivative. ReLU's jumps at 0, so where two correct
        implementations round an h near 0 to opposite signs, one sample's gradient differs by O(1) and their
        trajectories part: in float32 that happens within wide's first epoch (float64 rounding is too small
        to reach it). The benchmark's float32 checks are therefore coarser for a workload that is not smooth."""
        return "relu" not in self.activations

    @property
    def n_params(self) -> int:
        return sum(a * b + b for a, b in zip(self.layers, self.layers[1:]))

    def describe(self) -> str:
        acts = "/".join(dict.fromkeys(self.hidden)) + "/" + self.output
        return (f"{self.name}: {self.spec} {acts}/{self.loss}, {self.data}, batch {self.batch_size}, "
                f"lr {self.lr}, {self.n_params:,} parameters")


WORKLOADS = {
    w.name: w
    for w in (
        Workload("seed", (2, 2, 1), ("sigmoid", "sigmoid"), "mse", 1, 0.5,
                 "1,000 samples of two moons (2-D, two classes)", 30),
        Workload("digits", (64, 32, 10), ("sigmoid", "softmax"), "cce", 32, 0.1,
                 "scikit-learn digits /16 (1,797 samples)", 30),
        Workload("wide", (784, 256, 10), ("relu", "softmax"), "cce", 128, 0.05,
                 "8,192 x 784 synthetic (seeded)", 10),
        Workload("deep", (64, 128, 128, 128, 10), ("tanh", "tanh", "tanh", "softmax"), "cce", 64, 0.05,
                 "8,192 x 64 synthetic (seeded)", 10),
    )
}

SEED = 20240607


def make_data(w: Workload) -> tuple[np.ndarray, np.ndarray]:
    """X (m, n0) and Y (m, nL), float64, C-contiguous; one-hot Y for cce, 0/1 for the 2-2-1 net."""
    rng = np.random.default_rng(SEED)
    if w.name == "seed":
        X, labels = _moons(1000, rng)
        Y = labels.reshape(-1, 1).astype(np.float64)
    elif w.name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        X, labels = d.data / 16.0, d.target
        Y = np.eye(10)[labels]
    elif w.name == "wide":
        # pixel-like intensities in [0, 1); classes from a random linear teacher (balanced enough to learn)
        X = rng.random((8192, 784))
        teacher = rng.standard_normal((784, 10)) / np.sqrt(784)
        labels = np.argmax((X - 0.5) @ teacher + 0.1 * rng.standard_normal((8192, 10)), axis=1)
        Y = np.eye(10)[labels]
    elif w.name == "deep":
        X = rng.standard_normal((8192, 64))
        t1 = rng.standard_normal((64, 32)) / np.sqrt(64)
        t2 = rng.standard_normal((32, 10)) / np.sqrt(32)
        labels = np.argmax(np.tanh(X @ t1) @ t2, axis=1)
        Y = np.eye(10)[labels]
    else:
        raise KeyError(w.name)
    return np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(Y, dtype=np.float64)


def _moons(m: int, rng: np.random.Generator, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles, alternating labels (the same construction as ``symnet.train.data``)."""
    labels = np.arange(m) % 2
    angle = np.pi * rng.uniform(0, 1, m)
    X = np.where(labels[:, None] == 0,
                 np.c_[np.cos(angle), np.sin(angle)],
                 np.c_[1 - np.cos(angle), 0.5 - np.sin(angle)])
    return X + rng.normal(0, noise, X.shape), labels


def initial_params(w: Workload) -> list[np.ndarray]:
    """[W1, b1, W2, b2, ...]: He-normal before a ReLU, Glorot-uniform otherwise; small random biases."""
    rng = np.random.default_rng(SEED + 1)
    params = []
    for n_in, n_out, act in zip(w.layers, w.layers[1:], w.activations):
        if act == "relu":
            W = rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)
        else:
            limit = np.sqrt(6.0 / (n_in + n_out))
            W = rng.uniform(-limit, limit, (n_in, n_out))
        b = rng.uniform(-0.05, 0.05, n_out)
        params += [np.ascontiguousarray(W), np.ascontiguousarray(b)]
    return params


# -- reference maths (NumPy) -------------------------------------------------------------------------

def activate(act: str, h: np.ndarray) -> np.ndarray:
    if act == "sigmoid":
        return 1.0 / (1.0 + np.exp(-h))
    if act == "tanh":
        return np.tanh(h)
    if act == "relu":
        return np.maximum(h, 0.0)
    if act == "softmax":
        e = np.exp(h - h.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise KeyError(act)


def loss(w: Workload, params: list[np.ndarray], X: np.ndarray, Y: np.ndarray) -> float:
    """E = mean over the samples of the per-sample loss (mse ½ Σ (ŷ − y)², cce −Σ y log softmax(h))."""
    a = X
    L = len(w.activations)
    for k, act in enumerate(w.activations):
        h = a @ params[2 * k] + params[2 * k + 1]
        if k == L - 1 and act == "softmax":
            shifted = h - h.max(axis=1, keepdims=True)
            log_yhat = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            return float(np.mean(-(Y * log_yhat).sum(axis=1)))
        a = activate(act, h)
    return float(np.mean(0.5 * ((a - Y) ** 2).sum(axis=1)))


def batches(m: int, batch_size: int) -> list[slice]:
    """The fixed batch order of symnet's ``train_epoch``: in order, no shuffling, last partial batch included."""
    return [slice(s, min(s + batch_size, m)) for s in range(0, m, batch_size)]


def epoch_flops(w: Workload, m: int) -> float:
    """Multiply-add FLOPs (2 per MAC) of one epoch's matrix products: forward h = a W, ∂E/∂W = aᵀ δ and the
    back-propagated δ W_nextᵀ of every layer but the first (nothing needs ∂E/∂x)."""
    flops = 0.0
    for k, (n_in, n_out) in enumerate(zip(w.layers, w.layers[1:])):
        flops += 2 * m * n_in * n_out * (2 if k == 0 else 3)
    return flops
