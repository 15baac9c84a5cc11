"""Numbers from the derivation: the derivation's own expressions evaluated with NumPy.

This is the one numeric path behind the worked example, `symnet example` and the symbolic side of
verification: it evaluates the model's definitions, the per-sample loss, the deltas and the chain
factors — it never computes a gradient any other way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from symnet.functions.activations import numpy_functions
from symnet.derivation.chains import E, Derivation
from symnet.derivation.model import flat
from symnet.functions.regularisers import lam




@dataclass
class Values:
    """Every quantity of the network for m samples: ``env[symbol]`` is an array of shape (m,)."""

    env: dict[sp.Symbol, np.ndarray]
    m: int

    def __getitem__(self, sym: sp.Symbol) -> np.ndarray:
        return self.env[sym]

    @property
    def E(self) -> float:
        return float(np.mean(self.env[E]))


class Evaluator:
    """Evaluates a derivation's expressions; compiled expressions are cached per evaluator."""

    def __init__(self, derivation: Derivation):
        self.d = derivation
        self._compiled: dict[sp.Expr, tuple[list[sp.Symbol], object]] = {}

    def value(self, expr: sp.Expr, env: dict[sp.Symbol, np.ndarray | float]) -> np.ndarray | float:
        """expr evaluated at env (symbols to numbers or arrays)."""
        if isinstance(expr, sp.Symbol):
            return env[expr]
        if expr.is_number:
            return float(expr)
        if expr not in self._compiled:
            args = sorted(expr.free_symbols, key=lambda s: s.name)
            self._compiled[expr] = (args, sp.lambdify(args, expr, modules=[numpy_functions(), "numpy"], cse=True))
        args, fn = self._compiled[expr]
        # log 0 or 1/0 at a saturated point is the true value (−inf, inf): shown, not warned about
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return fn(*(env[a] for a in args))

    def point(self, params: list[np.ndarray], X: np.ndarray, Y: np.ndarray) -> dict[sp.Symbol, object]:
        """The symbols of parameters, inputs and targets bound to numbers (X, Y: (m, n))."""
        m = self.d.model
        X, Y = _as_rows(X, len(m.x), "X"), _as_rows(Y, len(m.y), "Y")
        env: dict[sp.Symbol, object] = {}
        for arr, value in zip(m.param_arrays(), params):
            for s, v in zip(flat(arr), np.asarray(value, dtype=float).reshape(-1)):
                env[s] = v
        for i, s in enumerate(m.x):
            env[s] = X[:, i]
        for j, s in enumerate(m.y):
            env[s] = Y[:, j]
        env[lam] = self.d.net.l2
        return env

    def evaluate(self, params: list[np.ndarray], X: np.ndarray, Y: np.ndarray) -> Values:
        """Forward pass, per-sample loss and every delta, for each of the m samples."""
        env = self.point(params, X, Y)
        m = len(next(iter(env[s] for s in self.d.model.x)))
        for sym, definition in self.d.model.definitions.items():
            env[sym] = np.broadcast_to(self.value(definition, env), (m,))
        env[E] = np.broadcast_to(self.value(self.d.model.loss + self.d.penalty, env), (m,))
        for delta in self.d.all_deltas():  # output layer first
            env[delta.symbol] = np.broadcast_to(self.value(delta.expr, env), (m,))
        return Values(env, m)

    def loss(self, params: list[np.ndarray], X: np.ndarray, Y: np.ndarray) -> float:
        """E, the mean per-sample loss (with the L2 term), from the forward definitions only."""
        env = self.point(params, X, Y)
        for sym, definition in self.d.model.definitions.items():
            env[sym] = self.value(definition, env)
        return float(self._reduce(self.value(self.d.model.loss, env))) + float(self.value(self.d.penalty, env))

    def _reduce(self, per_sample: np.ndarray) -> float:
        """The batch's cost from its samples' values: their mean, or their sum under ``reduction='sum'``."""
        return float(np.sum(per_sample) if self.d.net.reduction == "sum" else np.mean(per_sample))

    def gradients(self, params: list[np.ndarray], X: np.ndarray, Y: np.ndarray) -> list[np.ndarray]:
        """∂E/∂θ (the mean over the samples, or their sum) in the kernel's layout [W1, b1, W2, b2, …]."""
        values = self.evaluate(params, X, Y)
        out = [np.zeros(np.shape(p), dtype=float) for p in params]
        for arr_no, arr in enumerate(self.d.model.param_arrays()):
            entries = out[arr_no].reshape(-1)
            for n, s in enumerate(flat(arr)):
                chain = self.d.chain(s)
                per_sample = self.value(chain.via_delta, values.env)
                if self.d.net.reduction == "sum":
                    # the L2 term is the cost's once: the samples' other terms summed, then λθ
                    decay = float(self.value(chain.decay, values.env)) if chain.decay != 0 else 0.0
                    entries[n] = float(np.sum(per_sample - decay)) + decay
                else:
                    entries[n] = np.mean(per_sample)
        return out


def _as_rows(A: np.ndarray, n: int, what: str) -> np.ndarray:
    A = np.asarray(A, dtype=float)
    if A.ndim == 1:
        A = A.reshape(1, -1) if A.size == n else A.reshape(-1, 1)
    if A.ndim != 2 or A.shape[1] != n:
        raise ValueError(f"{what} must have shape (m, {n}), got {np.shape(A)}")
    return A
