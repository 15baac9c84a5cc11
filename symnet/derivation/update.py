"""The optimisers as SymPy update rules (DESIGN.md): gradient descent θ ← θ − α g and the rules that
keep a state per parameter — momentum, Nesterov, RMSprop and Adam.

Each :class:`Optimizer` is a list of assignments in order (its state first, θ last) over the symbols
below.  The write-up prints these assignments, the worked example and the data-parallel trainer
evaluate them (lambdified), and the kernels print them into their update loops: the rule shown and the
rule run are the same expressions.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp

from symnet.errors import InputError

theta = sp.Symbol("theta", real=True)
gradient = sp.Symbol("g", real=True)  # ∂E/∂θ
alpha = sp.Symbol("alpha", positive=True)
#: the step number, 1 for the first step (Adam's bias correction reads it)
t = sp.Symbol("t", integer=True, positive=True)
# the state, one value per parameter, zero before the first step
velocity = sp.Symbol("v", real=True)
first_moment = sp.Symbol("m", real=True)
second_moment = sp.Symbol("s", nonnegative=True)
# Adam's bias-corrected moments: per-step values, not state
m_hat = sp.Symbol("mhat", real=True)
s_hat = sp.Symbol("shat", nonnegative=True)
# hyperparameters
mu = sp.Symbol("mu", nonnegative=True)
beta1 = sp.Symbol("beta1", positive=True)
beta2 = sp.Symbol("beta2", positive=True)
eps = sp.Symbol("epsilon", positive=True)


@dataclass(frozen=True)
class Hyperparameter:
    symbol: sp.Symbol
    option: str  # the CLI option and keyword: momentum, beta1, beta2, eps
    default: float
    allowed: str  # in words, for the error message

    def valid(self, value: float) -> bool:
        if not np.isfinite(value):
            return False
        return 0 <= value < 1 if self.allowed == "in [0, 1)" else value > 0


MOMENTUM = Hyperparameter(mu, "momentum", 0.9, "in [0, 1)")
BETA1 = Hyperparameter(beta1, "beta1", 0.9, "in [0, 1)")
BETA2 = Hyperparameter(beta2, "beta2", 0.999, "in [0, 1)")
EPS = Hyperparameter(eps, "eps", 1e-8, "positive")
#: RMSprop's decay of the squared gradients: PyTorch's default (Adam's 0.999 remembers too long for it)
RMS_BETA2 = Hyperparameter(beta2, "beta2", 0.99, "in [0, 1)")


@dataclass(frozen=True)
class Optimizer:
    name: str
    title: str
    #: the per-parameter state (v; m and s), kept from step to step
    state: tuple[sp.Symbol, ...]
    #: assignments in order: the state, per-step values (m̂, ŝ), then θ (later ones read the earlier)
    steps: tuple[tuple[sp.Symbol, sp.Expr], ...]
    hyperparameters: tuple[Hyperparameter, ...]
    why: str  # one sentence for the write-up
    #: the learning rate when none is given: RMSprop's and Adam's steps are about α per parameter whatever the
    #: gradient's size, so theirs is a hundredth of plain descent's
    default_lr: float = 0.1

    @property
    def temporaries(self) -> tuple[sp.Symbol, ...]:
        """Per-step values that are neither θ nor state (Adam's m̂ and ŝ)."""
        return tuple(target for target, _ in self.steps if target != theta and target not in self.state)

    @property
    def counts_steps(self) -> bool:
        """Whether a rule reads the step number t (Adam's bias correction)."""
        return any(rhs.has(t) for _, rhs in self.steps)

    def defaults(self, **given: float | None) -> dict[str, float]:
        """The hyperparameters' values: given ones checked, the others their defaults."""
        out = {}
        for h in self.hyperparameters:
            value = given.get(h.option)
            value = h.default if value is None else float(value)
            if not h.valid(value):
                raise InputError(f"--{h.option} must be {h.allowed}, got {value}")
            out[h.option] = value
        unused = sorted(k for k, v in given.items() if v is not None and k not in out)
        if unused:
            raise InputError(f"--{unused[0]} does not apply to --optimizer {self.name}; "
                             f"it takes {', '.join('--' + h.option for h in self.hyperparameters) or 'only --lr'}")
        return out

    def rules(self, theta_: sp.Basic, g: sp.Basic, state: dict[sp.Symbol, sp.Basic] | None = None,
              alpha_: sp.Basic = alpha, hyper: dict[sp.Symbol, sp.Basic] | None = None,
              t_: sp.Basic = t) -> list[tuple[sp.Basic, sp.Expr]]:
        """The assignments with the caller's symbols in place of θ, g, the state, α, the hyperparameters, t."""
        reps = {theta: theta_, gradient: g, alpha: alpha_, t: t_, **(state or {}), **(hyper or {})}
        return [(target.xreplace(reps), rhs.xreplace(reps)) for target, rhs in self.steps]

    @cached_property
    def _numeric(self) -> list:
        args = (theta, gradient, alpha, t, *self.state, *self.temporaries, *(h.symbol for h in self.hyperparameters))
        return [sp.lambdify(args, rhs, "numpy") for _, rhs in self.steps]

    def apply(self, theta_: np.ndarray, g: np.ndarray, lr: float, state: dict[str, np.ndarray],
              hyper: dict[str, float], step: int) -> None:
        """One step on whole arrays, in place: θ and the state arrays (named v, m, s) are updated."""
        values = {s: state[s.name] for s in self.state} | {s: 0.0 for s in self.temporaries}
        for (target, _), fn in zip(self.steps, self._numeric):
            new = fn(theta_, g, lr, step, *(values[s] for s in (*self.state, *self.temporaries)),
                     *(hyper[h.option] for h in self.hyperparameters))
            if target == theta:
                theta_[...] = new
            elif target in self.state:
                values[target] = new
                state[target.name][...] = new
            else:
                values[target] = new

    def step(self, before: float, g: float, lr: float, state: dict[str, float], hyper: dict[str, float],
             step: int) -> "Step":
        """One step of one parameter from ``state`` (zeros before the first step): θ after, the new state."""
        th, st = np.array(before, dtype=float), {k: np.array(v, dtype=float) for k, v in state.items()}
        self.apply(th, np.array(g, dtype=float), lr, st, hyper, step)
        return Step(float(th), {k: float(v) for k, v in st.items()})


@dataclass(frozen=True)
class Step:
    after: float
    state: dict[str, float]  # empty for plain gradient descent

    @property
    def velocity(self) -> float | None:
        return self.state.get("v")


SGD = Optimizer("sgd", "gradient descent", (), ((theta, theta - alpha * gradient),), (),
                "each step moves a parameter against its gradient, scaled by the learning rate.")
MOMENTUM_SGD = Optimizer(
    "momentum", "gradient descent with momentum", (velocity,),
    ((velocity, mu * velocity - alpha * gradient), (theta, theta + velocity)), (MOMENTUM,),
    "a velocity (one per parameter, starting at 0) accumulates the past steps, and the momentum sets how much "
    "of it is kept, so steps along a consistent direction grow and oscillating ones cancel.")
NESTEROV = Optimizer(
    "nesterov", "Nesterov momentum", (velocity,),
    ((velocity, mu * velocity - alpha * gradient), (theta, theta + mu * velocity - alpha * gradient)), (MOMENTUM,),
    "as with momentum a velocity accumulates the past steps, but the parameter moves by the momentum times the "
    "new velocity plus a gradient step: it looks ahead along the velocity (the form of Sutskever et al., 2013, "
    "which PyTorch uses).")
RMSPROP = Optimizer(
    "rmsprop", "RMSprop", (second_moment,),
    ((second_moment, beta2 * second_moment + (1 - beta2) * gradient ** 2),
     (theta, theta - alpha * gradient / (sp.sqrt(second_moment) + eps))), (RMS_BETA2, EPS),
    "the step of each parameter is divided by a running root mean square of its gradients, so steep and flat "
    "directions move at similar speeds.", default_lr=1e-3)
ADAM = Optimizer(
    "adam", "Adam", (first_moment, second_moment),
    ((first_moment, beta1 * first_moment + (1 - beta1) * gradient),
     (second_moment, beta2 * second_moment + (1 - beta2) * gradient ** 2),
     (m_hat, first_moment / (1 - beta1 ** t)), (s_hat, second_moment / (1 - beta2 ** t)),
     (theta, theta - alpha * m_hat / (sp.sqrt(s_hat) + eps))), (BETA1, BETA2, EPS),
    "running means of the gradient and of its square, each corrected for its start at 0, give every parameter "
    "a step of about the learning rate in the direction its recent gradients agree on (Kingma and Ba, 2015).",
    default_lr=1e-3)

OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in (SGD, MOMENTUM_SGD, NESTEROV, RMSPROP, ADAM)}
#: the kernels' first layout keeps plain descent and momentum in one loop, chosen per call
CLASSIC = ("sgd", "momentum")


def optimizer(name: str) -> Optimizer:
    if name not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name]


def resolve(name: str | None = None, **given: float | None) -> tuple[Optimizer, dict[str, float]]:
    """The optimiser and its hyperparameters from options (None: not given): no name means momentum when
    a momentum > 0 is given, else gradient descent (``--momentum 0`` is plain descent)."""
    given = {k: v for k, v in given.items() if v is not None}
    if name is None:
        name = MOMENTUM_SGD.name if given.get("momentum") else SGD.name
        if name == SGD.name and given.get("momentum") == 0:
            given.pop("momentum")
    rule = optimizer(name)
    return rule, rule.defaults(**given)


def valid_momentum(mu_: float) -> bool:
    """0 ≤ μ < 1: with μ ≥ 1 the velocity never decays and the steps grow without bound."""
    return MOMENTUM.valid(mu_)


def apply(theta_: "np.ndarray", g: "np.ndarray", lr: float, momentum: float = 0.0,
          v: "np.ndarray | None" = None) -> None:
    """Plain descent or momentum on whole arrays, in place (the rules above)."""
    if momentum:
        MOMENTUM_SGD.apply(theta_, g, lr, {"v": v}, {"momentum": momentum}, 1)
    else:
        SGD.apply(theta_, g, lr, {}, {}, 1)


def step(before: float, g: float, lr: float, momentum: float | None = None, v: float = 0.0) -> Step:
    """One update of one parameter; with momentum, from velocity ``v`` (0 for the first step)."""
    if momentum is None:
        return SGD.step(before, g, lr, {}, {}, 1)
    return MOMENTUM_SGD.step(before, g, lr, {"v": v}, {"momentum": momentum}, 1)


def rules(theta_: sp.Basic, g: sp.Basic, v: sp.Basic = velocity, alpha_: sp.Basic = alpha,
          mu_: sp.Basic = mu) -> dict[str, sp.Expr]:
    """Plain descent and momentum's right-hand sides with the caller's symbols in place of θ, g, v, α, μ."""
    (_, sgd), = SGD.rules(theta_, g, alpha_=alpha_)
    (_, vel), (_, with_v) = MOMENTUM_SGD.rules(theta_, g, {velocity: v}, alpha_, {mu: mu_})
    return {"sgd": sgd, "velocity": vel, "with_velocity": with_v}
