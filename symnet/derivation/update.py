"""The gradient-descent update as SymPy rules: θ ← θ − α ∂E/∂θ, and with momentum μ
v ← μ v − α ∂E/∂θ, θ ← θ + v (DESIGN.md).

The write-up prints these rules and the worked example evaluates them, so the update shown and the
numbers computed are the same expressions.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

theta = sp.Symbol("theta", real=True)
gradient = sp.Symbol("g", real=True)  # ∂E/∂θ
velocity = sp.Symbol("v", real=True)
alpha = sp.Symbol("alpha", positive=True)
mu = sp.Symbol("mu", nonnegative=True)

#: θ ← θ − α g
SGD = theta - alpha * gradient
#: v ← μ v − α g, then θ ← θ + v
VELOCITY = mu * velocity - alpha * gradient
WITH_VELOCITY = theta + velocity



def valid_momentum(mu: float) -> bool:
    """0 ≤ μ < 1: with μ ≥ 1 the velocity never decays and the steps grow without bound."""
    return 0 <= mu < 1


# plain floats: "math" keeps lambdify from importing SciPy at start-up
_sgd = sp.lambdify((theta, gradient, alpha), SGD, "math")
_velocity = sp.lambdify((velocity, gradient, alpha, mu), VELOCITY, "math")
_with_velocity = sp.lambdify((theta, velocity), WITH_VELOCITY, "math")
# the same rules on NumPy arrays (a data-parallel step applies them to whole parameter arrays)
_sgd_arrays = sp.lambdify((theta, gradient, alpha), SGD, "numpy")
_velocity_arrays = sp.lambdify((velocity, gradient, alpha, mu), VELOCITY, "numpy")
_with_velocity_arrays = sp.lambdify((theta, velocity), WITH_VELOCITY, "numpy")


def apply(theta: "np.ndarray", g: "np.ndarray", lr: float, momentum: float = 0.0,
          v: "np.ndarray | None" = None) -> None:
    """The same rules on whole arrays, in place: θ ← θ − α g, or v ← μ v − α g then θ ← θ + v."""
    if momentum:
        v[...] = _velocity_arrays(v, g, lr, momentum)
        theta[...] = _with_velocity_arrays(theta, v)
    else:
        theta[...] = _sgd_arrays(theta, g, lr)


@dataclass(frozen=True)
class Step:
    after: float
    velocity: float | None  # None for plain SGD


def step(before: float, g: float, lr: float, momentum: float | None = None, v: float = 0.0) -> Step:
    """One update of one parameter; with momentum, from velocity ``v`` (0 for the first step)."""
    if momentum is None:
        return Step(float(_sgd(before, g, lr)), None)
    v_new = float(_velocity(v, g, lr, momentum))
    return Step(float(_with_velocity(before, v_new)), v_new)


def rules(theta_: sp.Basic, g: sp.Basic, v: sp.Basic = velocity, alpha_: sp.Basic = alpha,
          mu_: sp.Basic = mu) -> dict[str, sp.Expr]:
    """The right-hand sides with the write-up's own symbols in place of θ, g, v, α, μ."""
    reps = {theta: theta_, gradient: g, velocity: v, alpha: alpha_, mu: mu_}
    return {"sgd": SGD.xreplace(reps), "velocity": VELOCITY.xreplace(reps),
            "with_velocity": WITH_VELOCITY.xreplace(reps)}
