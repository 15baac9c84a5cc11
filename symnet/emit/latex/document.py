"""The write-up as data: what each section shows, as SymPy expressions and named steps.

Like SymPy Gamma's derivative steps, every derivation the document prints is a small tree of named
rules that the templates walk: a :class:`ChainStep` (one parameter's chain rule) is its paths of
:class:`Step` s, each a local derivative with the successive forms of its value (σ′(h) → σ(h)(1 − σ(h))
→ ŷ(1 − ŷ)) and the rule it comes from.  Nothing here is LaTeX; :mod:`symnet.emit.latex.render` prints it.

The chain is shown as the first article groups it: one factor per layer, ∂E/∂ŷ · ∂ŷ/∂h · ∂h/∂h₁ · ∂h₁/∂W.
Each hidden factor ∂h⁽ᵏ⁺¹⁾ₗ/∂h⁽ᵏ⁾ⱼ is the derivation's two local factors ∂h⁽ᵏ⁺¹⁾ₗ/∂a⁽ᵏ⁾ⱼ · ∂a⁽ᵏ⁾ⱼ/∂h⁽ᵏ⁾ⱼ,
and with a softmax output the factors ∂E/∂ŷₘ · ∂ŷₘ/∂h⁽ᴸ⁾ⱼ of every m are summed into ∂E/∂h⁽ᴸ⁾ⱼ — the
lemma that gives ŷⱼ − yⱼ.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from symnet.functions.activations import ACTIVATION_CLASSES, IDENTITY, SOFTMAX, Activation, Lemma, latex_name
from symnet.functions.losses import LOSSES
from symnet.derivation.chains import E, Delta, Derivation, Factor, derive
from symnet.derivation.model import quantity
from symnet.derivation import update
from symnet.functions import regularisers
from symnet.functions.regularisers import l2_penalty, lam
from symnet.errors import InputError
from symnet.files import shell_word
from symnet.derivation.layer_form import LayerRule, base, width
from symnet.derivation.names import Name, parse_name, symbol
from symnet.emit.latex.printer import latex
from symnet.emit.latex.layout import LINE_EM, tex_width
from symnet.numeric.worked import Values, WorkedExample, load_values
from symnet.spec import Network

#: nets with at most this many parameters get every parameter's chain by default
ALL_PARAMS_UP_TO = 50
#: neurons per layer up to which the feed-forward and the deltas are written out neuron by neuron
PER_NEURON_UP_TO = 10
#: paths of a chain printed in full; more are summarised (the delta form is how they are summed)
PATHS_SHOWN = 4
#: a written-out gradient longer than this many display lines is left to the delta form
RESULT_LINES = 4


@dataclass(frozen=True)
class Ordered:
    """A product printed in the order given — the chain's — not SymPy's."""

    factors: tuple[sp.Basic, ...]


@dataclass(frozen=True)
class Terms:
    """A sum printed in the order given; ``more`` further terms are shown as ⋯."""

    terms: tuple["Math", ...]
    more: int = 0


Math = sp.Basic | Ordered | Terms


@dataclass(frozen=True)
class Eqn:
    """A displayed equation: ``lhs`` then each (relation, form) in turn, e.g. σ′(x) = … = … ."""

    lhs: Math
    forms: tuple[tuple[str, Math], ...]


def eqn(lhs: Math, *forms: Math, rel: str = "=") -> Eqn:
    """lhs = form₁ = form₂ …, dropping a form that repeats the one before it."""
    kept: list[Math] = []
    for f in forms:
        if not kept or f != kept[-1]:
            kept.append(f)
    return Eqn(lhs, tuple((rel, f) for f in kept))


# -- the chain rule per parameter ------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One factor of the chain, ∂of/∂wrt, with how its value is found.

    ``rule``: ``loss`` (∂E/∂ŷ), ``activation`` (∂ŷ/∂h at the output), ``output`` (∂E/∂h⁽ᴸ⁾ⱼ summed
    over a softmax's outputs), ``hidden`` (∂h⁽ᵏ⁺¹⁾/∂h⁽ᵏ⁾ through an activation), ``weight``, ``bias``.
    ``forms`` are the successive forms of its value, the last the compact one the chain uses.
    """

    of: sp.Symbol
    wrt: sp.Symbol
    rule: str
    forms: tuple[Math, ...]
    assumption: sp.Eq | None = None

    @property
    def derivative(self) -> sp.Derivative:
        return sp.Derivative(self.of, self.wrt, evaluate=False)

    @property
    def value(self) -> sp.Expr:
        last = self.forms[-1]
        return sp.Mul(*last.factors) if isinstance(last, Ordered) else last

    @property
    def equation(self) -> Eqn:
        return eqn(self.derivative, *self.forms)


@dataclass(frozen=True)
class ChainStep:
    """∂E/∂θ by the chain rule: grouped paths, the factors met here first, the result, the delta form."""

    param: sp.Symbol
    paths: tuple[tuple[Step, ...], ...] | None  # None: too many paths to list
    n_paths: int
    new_steps: tuple[Step, ...]
    result: sp.Expr | None  # written out in the forward quantities; None when too long to read
    local: Step
    delta: sp.Symbol
    h: sp.Symbol
    decay: sp.Expr = sp.S.Zero  # λθ of a weight when the error has an L2 term

    def _with_decay(self, form: Math) -> Math:
        """A form of the loss's part of ∂E/∂θ, plus the decay term λθ when there is one."""
        if self.decay == 0:
            return form
        terms = form.terms if isinstance(form, Terms) else (form,)
        return Terms((*terms, Ordered((lam, self.param))), form.more if isinstance(form, Terms) else 0)

    @property
    def derivative(self) -> sp.Derivative:
        return sp.Derivative(E, self.param, evaluate=False)

    @property
    def shown_paths(self) -> tuple[tuple[Step, ...], ...]:
        return (self.paths or ())[:PATHS_SHOWN]

    @property
    def chain(self) -> Eqn:
        """∂E/∂θ = Σ over paths of the unevaluated factors, then of their values, then the result."""
        more = len(self.paths) - len(self.shown_paths) if self.paths else 0
        symbolic = Terms(tuple(Ordered(tuple(s.derivative for s in p)) for p in self.shown_paths), more)
        values = Terms(tuple(Ordered(tuple(s.value for s in p)) for p in self.shown_paths), more)
        forms: list[Math] = [self._with_decay(_single(symbolic)), self._with_decay(_single(values))]
        if self.result is not None:
            forms.append(self.result)
        return eqn(self.derivative, *forms)

    @property
    def symbolic(self) -> Eqn:
        """∂E/∂θ as the product of unevaluated local derivatives."""
        return Eqn(self.chain.lhs, self.chain.forms[:1])

    @property
    def evaluated(self) -> Eqn:
        """∂E/∂θ = the factors' values = the result."""
        return Eqn(self.chain.lhs, self.chain.forms[1:])

    @property
    def via_delta(self) -> Eqn:
        """∂E/∂θ = ∂E/∂h · ∂h/∂θ = δ · (∂h/∂θ)."""
        return eqn(self.derivative,
                   self._with_decay(Ordered((sp.Derivative(E, self.h, evaluate=False), self.local.derivative))),
                   self._with_decay(Ordered((self.delta, self.local.value))))


def _single(f: Math) -> Math:
    return f.terms[0] if isinstance(f, Terms) and len(f.terms) == 1 and not f.more else f


class _Steps:
    """Builds the grouped steps of a derivation, each once (the write-up explains a factor once)."""

    def __init__(self, d: Derivation, whole: Network | None = None):
        # d may be a slice of the net being written up (printed_part): sizes are read from the whole
        self.d, self.m, self.whole = d, d.model, whole or d.net
        self.L = d.net.depth
        self.softmax = d.net.output == SOFTMAX
        self.cache: dict[tuple[sp.Symbol, sp.Symbol], Step] = {}

    def grouped(self, factors: tuple[Factor, ...]) -> tuple[Step, ...]:
        fs = list(factors)
        steps: list[Step] = []
        if self.softmax:
            steps.append(self.output(fs[1].wrt))
            fs = fs[2:]
        else:
            steps += [self.loss(fs[0]), self.activation(fs[1])]
            fs = fs[2:]
        while len(fs) > 1:
            steps.append(self.hidden(fs[0], fs[1]))
            fs = fs[2:]
        steps.append(self.local(fs[0]))
        return tuple(steps)

    def _once(self, key: tuple[sp.Symbol, sp.Symbol], make) -> Step:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def loss(self, f: Factor) -> Step:
        def make() -> Step:
            part = sp.Add(*(t for t in sp.Add.make_args(_loss_terms(self.m.loss)) if t.has(f.wrt)))
            return Step(E, f.wrt, "loss", (sp.Derivative(part, f.wrt, evaluate=False), f.value))
        return self._once((E, f.wrt), make)

    def activation(self, f: Factor) -> Step:
        def make() -> Step:
            return Step(f.of, f.wrt, "activation", tuple(_activation_forms(self.m, f)))
        return self._once((f.of, f.wrt), make)

    def output(self, h: sp.Symbol) -> Step:
        def make() -> Step:
            delta = self.d.delta(h)
            outs = self.m.yhat
            symbolic = Terms(tuple(Ordered((sp.Derivative(E, p, evaluate=False), sp.Derivative(p, h, evaluate=False)))
                                   for p in outs))
            values = Terms(tuple(Ordered((self.d.local(E, p).compact, self.d.local(p, h).compact)) for p in outs))
            collected = sp.collect(sp.expand(delta.terms), self.m.yhat, evaluate=True)
            return Step(E, h, "output", (symbolic, values, collected, delta.expr), delta.assumption)
        return self._once((E, h), make)

    def hidden(self, up: Factor, act: Factor) -> Step:
        def make() -> Step:
            forms = [Ordered((up.derivative, act.derivative))]
            for form in _activation_forms(self.m, act)[1:] or [act.compact]:
                forms.append(Ordered(tuple(x for x in (up.compact, form) if x != 1) or (sp.S.One,)))
            return Step(up.of, act.wrt, "hidden", tuple(forms))
        return self._once((up.of, act.wrt), make)

    def local(self, f: Factor) -> Step:
        def make() -> Step:
            forms: list[Math] = []
            definition = self.m.definitions[f.of]
            if self.whole.layers[parse_name(f.of.name).layer - 1] <= PER_NEURON_UP_TO:  # a short Σ: shown
                forms.append(sp.Derivative(definition, f.wrt, evaluate=False))
            forms.append(f.value)
            return Step(f.of, f.wrt, f.rule, tuple(forms))
        return self._once((f.of, f.wrt), make)


def _loss_terms(loss: sp.Expr) -> sp.Expr:
    """½((ŷ₁ − y₁)² + …) as ½(ŷ₁ − y₁)² + …, so one output's part of E can be picked out."""
    coeff, rest = loss.as_coeff_Mul()
    if isinstance(rest, sp.Add):
        return sp.Add(*(sp.Mul(coeff, t, evaluate=False) for t in rest.args), evaluate=False)
    return loss


def _activation_forms(m, f: Factor) -> list[sp.Expr]:
    """f′(h), then the derivative as SymPy gives it, then in the forward quantity (ŷ(1 − ŷ))."""
    definition = m.definitions[f.of]
    forms = []
    if isinstance(definition, Activation):
        forms.append(sp.Derivative(definition, f.wrt, evaluate=False))
    forms += [f.value, f.compact]
    out: list[sp.Expr] = []
    for x in forms:
        if not out or x != out[-1]:
            out.append(x)
    return out


# -- sections ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Notation:
    symbols: dict[str, sp.Basic]  # x_i, h, a, yhat_j, y_j, W, b, E, delta — in the layer form's indices
    matrices: list[tuple[sp.MatrixSymbol, sp.Matrix]]  # W⁽ᵏ⁾ written out, augmented with the bias row


@dataclass(frozen=True)
class FigureNode:
    key: str
    column: int
    row: float
    label: sp.Basic | None  # None: the ⋮ of a wide layer


@dataclass(frozen=True)
class Figure:
    nodes: list[FigureNode]
    edges: list[tuple[str, str, sp.Basic | None]]
    columns: list[tuple[int, str]]  # (neurons, activation) per layer
    labelled: bool


@dataclass(frozen=True)
class FeedForward:
    per_neuron: list[list[Eqn]]  # per layer; empty for a wide layer
    general: list[list[Eqn]]  # per layer: h⁽ᵏ⁾ⱼ = Σᵢ …, a⁽ᵏ⁾ⱼ = f(h⁽ᵏ⁾ⱼ)
    vector: list[Eqn]
    composite: Eqn


@dataclass(frozen=True)
class ErrorSection:
    per_sample: Eqn | None
    general: Eqn
    mean: Eqn
    penalty: Eqn | None = None  # E with the L2 term, when the cost has one
    l2: float = 0.0


@dataclass(frozen=True)
class LemmaSteps:
    lemma: Lemma
    derivation: Eqn  # f′(x) = d/dx definition = derivative
    substitution: sp.Eq | None
    result: Eqn  # f′(x) = compact

    @property
    def symbol(self) -> sp.Basic:
        return ACTIVATION_CLASSES[self.lemma.name](sp.Symbol("x", real=True))


@dataclass(frozen=True)
class SoftmaxLemma:
    entries: list[Eqn]  # ∂ŷₘ/∂hⱼ for m = j and m ≠ j
    general: Eqn
    output: Step  # ∂E/∂h⁽ᴸ⁾₁ = Σₘ … = ŷ₁ − y₁
    general_delta: Eqn
    assumption: sp.Eq | None


@dataclass(frozen=True)
class DeltaLayer:
    k: int
    rule: LayerRule
    general: Eqn  # δ⁽ᵏ⁾ⱼ = ∂E/∂h⁽ᵏ⁾ⱼ = terms = rule
    dW: Eqn
    db: Eqn
    neurons: list[Eqn]  # δ⁽ᵏ⁾ⱼ per neuron, for narrow nets

    @property
    def definition(self) -> Eqn:
        """δ⁽ᵏ⁾ⱼ = ∂E/∂h⁽ᵏ⁾ⱼ"""
        return Eqn(self.general.lhs, self.general.forms[:1])


@dataclass(frozen=True)
class UpdateSection:
    rules: list[Eqn]
    batch: Eqn
    optimizer: update.Optimizer
    steps: list[Eqn]  # the optimiser's rule for one parameter θ (empty for plain gradient descent)
    hyperparameters: list[tuple[sp.Symbol, float]]
    decay: Eqn | None  # ∂E/∂W with the L2 term, when the cost has one

    @property
    def momentum(self) -> list[Eqn]:
        return self.steps if self.optimizer.name == "momentum" else []


@dataclass(frozen=True)
class WorkedStep:
    """One update of the worked example: per parameter θ before, ∂E/∂θ, the optimiser's state after
    (in ``optimizer.state`` order) and θ after; then E at the new parameters."""

    number: int
    rows: list[tuple[sp.Symbol, float, float, tuple[float, ...], float]]
    error_after: float


@dataclass(frozen=True)
class WorkedSection:
    example: WorkedExample
    given: list[tuple[sp.Basic, float]]
    forward: list[tuple[sp.Basic, float]]
    error: float
    chains: list[tuple[sp.Symbol, list[list[tuple[Step, float]]], float]]
    deltas: list[tuple[sp.Symbol, float]]
    updates: list[tuple[sp.Symbol, float, float, tuple[float, ...], float]]  # the first step's rows
    learning_rate: float
    momentum: float | None
    truncated: bool
    steps: list[WorkedStep]
    optimizer: update.Optimizer
    hyperparameters: list[tuple[sp.Symbol, float]]


@dataclass
class WriteUp:
    derivation: Derivation
    params: list[sp.Symbol]
    sampled: bool  # the parameters are samples of a wide net, not all of them
    notation: Notation
    figure: Figure
    feedforward: FeedForward
    error: ErrorSection
    lemmas: list[LemmaSteps]
    loss_steps: list[Step]
    loss_general: Eqn | None
    softmax: SoftmaxLemma | None
    chains: list[ChainStep]
    deltas: list[DeltaLayer]
    update: UpdateSection
    worked: WorkedSection | None
    bias_rows: dict[int, int] = field(default_factory=dict)
    #: the command that writes this document again, byte for byte (its first line)
    command: str = ""

    @property
    def net(self):
        return self.derivation.net


# -- building ------------------------------------------------------------------------------
def parse_params(text: str | list[str] | None) -> list[str] | None:
    """``all`` (or nothing) → None; ``W1[1,1],b2[1]`` → the names (commas inside brackets kept)."""
    if text is None:
        return None
    items = text if isinstance(text, list) else re.split(r",(?![^\[]*\])", text)
    names = [s.strip() for s in items if s.strip()]
    if names == ["all"]:
        return None
    if not names:
        raise InputError("--params is empty; give 'all' or names such as W1[1,1],b2[1]")
    return names


def select_params(d: Derivation, names: list[str] | None) -> tuple[list[sp.Symbol], bool]:
    """The parameters whose chains are written out, and whether they are samples of a wide net (named
    from the layer sizes: the scalar model of a wide net is never built for them)."""
    net, L = d.net, d.net.depth
    if names is None:
        if net.n_params <= ALL_PARAMS_UP_TO:
            return list(d.model.params), False
        picks = [quantity(net, "W", k, 1, 1) for k in range(1, L + 1)] + [quantity(net, "b", 1, 1)]
        if L > 1:
            picks.append(quantity(net, "b", L, 1))
        return picks, True
    chosen = []
    for name in names:
        parsed = parse_name(name.replace(" ", ""))
        if not _is_parameter(net, parsed):
            first, last = quantity(net, "W", 1, 1, 1), quantity(net, "b", L, net.layers[L])
            raise InputError(f"--params: {name!r} is not a parameter of the {net.compact} network "
                             f"(parameters are W<k>[i,j] and b<k>[j], {first} ... {last})")
        sym = symbol(parsed)
        if sym not in chosen:
            chosen.append(sym)
    return chosen, False


def _is_parameter(net, name: Name | None) -> bool:
    if name is None or name.kind not in ("W", "b") or not 1 <= (name.layer or 0) <= net.depth:
        return False
    sizes = (net.layers[name.layer - 1], net.layers[name.layer]) if name.kind == "W" else (net.layers[name.layer],)
    return len(name.index) == len(sizes) and all(1 <= i <= n for i, n in zip(name.index, sizes))


def printed_part(d: Derivation, chosen: list[sp.Symbol]) -> Derivation:
    """The derivation the chains are printed from: of a net with many parameters and inputs, the net with
    its input layer cut to the inputs the chosen chains read (at least two, so x keeps its index).  No path from E to a parameter
    passes through the inputs, so every chain, delta and lemma is the whole net's, and the scalar model
    (one symbol per parameter: 203,530 for 784-256-10) is built for a few thousand."""
    if d.net.n_params <= ALL_PARAMS_UP_TO or d.net.layers[0] <= PER_NEURON_UP_TO:
        return d  # (narrow inputs: the steps print h⁽¹⁾'s Σ over every input)
    rows = [parse_name(p.name).index[0] for p in chosen if parse_name(p.name).kind == "W"
            and parse_name(p.name).layer == 1]
    inputs = max([2, *rows])
    if inputs >= d.net.layers[0]:
        return d
    return derive(dataclasses.replace(d.net, layers=(inputs, *d.net.layers[1:])))


def writeup_of(d: Derivation, values: "Values | str | Path | None" = None, params: str | list[str] | None = None,
               momentum: float | None = None, optimizer: str | None = None, *, command: str | None = None,
               html: bool = False, **hyperparameters: float | None) -> "WriteUp":
    """The document every renderer (LaTeX, HTML) prints, from a command's options: a values file is read
    and the optimiser (none: momentum with a momentum, or the values file's, else plain descent) and its
    hyperparameters checked here, once for both.  ``command``: the command line that writes the document
    again (its first line); by default ``symnet derive`` with these options, writing to standard output."""
    given = dict(momentum=momentum, beta1=None, beta2=None, eps=None) | hyperparameters
    if command is None:
        source = None if isinstance(values, Values) else values
        command = derive_command(d.net, values=source, params=params, optimizer=optimizer, html=html, **given)
    if isinstance(values, (str, Path)):
        values = load_values(values, d.net)
    if momentum is None and optimizer is None and values is not None and values.momentum:
        given["momentum"] = values.momentum
    w = build(d, parse_params(params), values, update.resolve(optimizer, **given))
    w.command = command
    return w


def derive_command(net: Network, *, values: "str | Path | None" = None, params: str | list[str] | None = None,
                   optimizer: str | None = None, out: str | Path | None = None, html: bool = False,
                   **hyperparameters: float | None) -> str:
    """``symnet derive …``: the command that writes a write-up with these options (to ``out``, or to
    standard output)."""
    words = ["symnet derive", net.arguments()]
    if values is not None:
        words.append(f"--values {shell_word(str(values))}")
    if params is not None and parse_params(params) is not None:
        words.append(f"--params {shell_word(','.join(parse_params(params)))}")
    if optimizer is not None:
        words.append(f"--optimizer {optimizer}")
    words += [f"--{k} {v!r}" for k, v in hyperparameters.items() if v is not None]
    if html:
        words.append("--html")
    if out is not None:
        words.append(f"-o {shell_word(str(out))}")
    return " ".join(words)


def build(d: Derivation, params: list[str] | None = None, values: Values | None = None,
          optimizing: tuple[update.Optimizer, dict[str, float]] = (update.SGD, {})) -> WriteUp:
    """Everything the document shows, in the order it shows it; ``optimizing``: the optimiser and its
    hyperparameters (``update.resolve``)."""
    chosen, sampled = select_params(d, params)
    net, part = d.net, printed_part(d, chosen)
    bias_rows = {k: net.layers[k - 1] + 1 for k in range(1, net.depth + 1)} if net.bias == "augmented" else {}
    steps = _Steps(part, net)
    chains = [_chain_step(part, steps, p, bias_rows) for p in chosen]
    seen: set[tuple] = set()
    deduped = []
    for c in chains:
        new = tuple(s for s in c.new_steps if (s.of, s.wrt) not in seen)
        seen.update((s.of, s.wrt) for s in new)
        deduped.append(ChainStep(c.param, c.paths, c.n_paths, new, c.result, c.local, c.delta, c.h, c.decay))
    loss_steps, loss_general = _loss_lemmas(part, steps)
    worked = _worked(d, steps, values, chosen, optimizing, deduped) if values is not None else None
    return WriteUp(
        d, chosen, sampled, _notation(d, part, bias_rows), _figure(d, bias_rows), _feedforward(d, part), _error(part),
        [_lemma_steps(lem) for lem in d.lemmas], loss_steps, loss_general,
        _softmax_lemma(part, steps) if net.output == SOFTMAX else None, deduped,
        [_delta_layer(part, k) for k in range(net.depth, 0, -1)], _update(d, optimizing), worked, bias_rows)


def _chain_step(d: Derivation, steps: _Steps, param: sp.Symbol, bias_rows: dict[int, int]) -> ChainStep:
    c = d.chain(param)
    n_paths = d.count_paths(E, param)
    paths = None
    if c.paths is not None:
        grouped: dict[tuple, tuple[Step, ...]] = {}
        for p in c.paths:
            g = steps.grouped(p.factors)
            grouped.setdefault(tuple((s.of, s.wrt) for s in g), g)
        paths = tuple(grouped.values())
        n_paths = len(paths)
    new: list[Step] = []
    for p in (paths or ())[:PATHS_SHOWN]:
        new += [s for s in p if s not in new]
    local = steps.local(c.local)
    if local not in new:
        new.append(local)
    result = c.result if paths is not None else None
    if result is not None and tex_width(latex(result, bias_rows=bias_rows or None)) > RESULT_LINES * LINE_EM:
        result = None
    return ChainStep(param, paths, n_paths, tuple(new), result, local, c.delta, c.local.of, c.decay)


def _notation(d: Derivation, part: Derivation, bias_rows: dict[int, int]) -> Notation:
    """The symbols, and the weight matrices of narrow layers written out (from ``part``'s model: the layers
    above the input are the whole net's)."""
    i, j, k = sp.symbols("i j k", integer=True, positive=True)
    L = d.net.depth
    symbols = {
        "x": base("a", 0, L)[i], "h": sp.IndexedBase("hk")[j], "a": sp.IndexedBase("ak")[j],
        "yhat": base("a", L, L)[j], "y": base("y", None, L)[j], "W": sp.IndexedBase("Wk")[i, j],
        "b": sp.IndexedBase("bk")[j], "E": E, "delta": sp.IndexedBase("deltak")[j],
    }
    matrices = []
    for kk in range(1, L + 1):
        n_rows, n_cols = d.net.layers[kk - 1] + (1 if bias_rows else 0), d.net.layers[kk]
        if n_rows <= PER_NEURON_UP_TO + 1 and n_cols <= 8:
            m = (part if kk > 1 else d).model
            rows = [list(r) for r in m.W[kk]] + ([list(m.b[kk])] if bias_rows else [])
            matrices.append((sp.MatrixSymbol(f"W{kk}", n_rows, n_cols), sp.Matrix(rows)))
    return Notation(symbols, matrices)


def _shown_neurons(n: int) -> list[float]:
    """Which neurons of a layer the figure draws: all of a narrow layer, else 1, 2, 3, ⋮, n."""
    return list(range(1, n + 1)) if n <= 7 else [1, 2, 3, 0, n]


def _figure(d: Derivation, bias_rows: dict[int, int]) -> Figure:
    net = d.net
    labelled = all(a * b <= 9 for a, b in zip(net.layers, net.layers[1:]))
    nodes, keys = [], []
    tallest = max(len(_shown_neurons(n)) + (1 if bias_rows else 0) for n in net.layers)
    for col, n in enumerate(net.layers):
        shown = _shown_neurons(n)
        extra = 1 if bias_rows and col < net.depth else 0
        offset = (tallest - len(shown) - extra) / 2
        layer_keys = []
        for r, idx in enumerate(shown):
            key = f"n{col}x{idx}" if idx else f"n{col}dots"
            label = None if not idx else quantity(net, "a", col, idx)
            nodes.append(FigureNode(key, col, offset + r, label))
            if idx:
                layer_keys.append((idx, key))
        if extra:
            nodes.append(FigureNode(f"n{col}bias", col, offset + len(shown), sp.S.One))
            layer_keys.append((None, f"n{col}bias"))
        keys.append(layer_keys)
    edges = []
    for k in range(1, net.depth + 1):
        for i, src in keys[k - 1]:
            for j, dst in keys[k]:
                if j is None:
                    continue
                weight = quantity(net, "b", k, j) if i is None else quantity(net, "W", k, i, j)
                edges.append((src, dst, weight if labelled else None))
    return Figure(nodes, edges, list(zip(net.layers, ("",) + net.activations)), labelled)


def _feedforward(d: Derivation, part: Derivation) -> FeedForward:
    """Each layer's forward rule, and neuron by neuron for narrow layers (from ``part``'s model, whose
    layers above the input are the whole net's)."""
    net = d.net
    L = net.depth
    per_neuron = []
    for k in range(1, L + 1):
        if net.layers[k] > PER_NEURON_UP_TO or net.layers[k - 1] > PER_NEURON_UP_TO:
            per_neuron.append([])
            continue
        m = (part if k > 1 else d).model
        layer = [eqn(h, m.definitions[h]) for h in m.h[k]]
        layer += [eqn(a, m.definitions[a]) for a in m.a[k] if a not in m.h[k]]
        per_neuron.append(layer)
    general = []
    for k in range(1, L + 1):
        r = d.layer_rule(k)
        a_j = base("a", k, L)[sp.Symbol("j", integer=True, positive=True)]
        general.append([eqn(r.h.lhs, r.h.rhs), eqn(a_j, r.a.rhs)])
    vector, inner = [], sp.MatrixSymbol("x", net.layers[0], 1)
    composite = inner
    for k in range(1, L + 1):
        Wk = sp.MatrixSymbol(f"W{k}", net.layers[k - 1], net.layers[k])
        bk = sp.MatrixSymbol(f"b{k}", net.layers[k], 1)
        prev = sp.MatrixSymbol(f"a{k - 1}", net.layers[k - 1], 1) if k > 1 else inner
        hk = sp.MatrixSymbol(f"h{k}", net.layers[k], 1)
        ak = sp.MatrixSymbol(f"a{k}" if k < L else "yhat", net.layers[k], 1)
        vector.append(eqn(hk, Wk.T * prev + bk))
        vector.append(eqn(ak, _apply_vector(net.activations[k - 1], hk)))
        composite = _apply_vector(net.activations[k - 1], Wk.T * composite + bk)
    yhat = sp.MatrixSymbol("yhat", net.layers[L], 1)
    return FeedForward(per_neuron, general, vector, eqn(yhat, composite))


class Elementwise(sp.MatrixExpr):
    """An activation applied to every component of a vector, f(𝐡): a matrix expression of its own so
    that the vector form can nest it inside matrix products."""

    def __new__(cls, act: str | sp.Symbol, arg: sp.MatrixExpr):
        return sp.Basic.__new__(cls, act if isinstance(act, sp.Symbol) else sp.Symbol(act), arg)

    @property
    def shape(self):
        return self.args[1].shape

    def _latex(self, printer, exp=None):
        act = self.args[0].name
        head = latex_name(act)
        return rf"{head}\left({printer._print(self.args[1])}\right)"


def _apply_vector(act: str, v: sp.MatrixExpr) -> sp.MatrixExpr:
    return v if act == IDENTITY else Elementwise(act, v)


def _error(d: Derivation) -> ErrorSection:
    L, n = d.net.depth, d.net.layers[-1]
    q = sp.Symbol("j", integer=True, positive=True)
    general = eqn(E, LOSSES[d.net.loss].indexed(base("a", L, L), base("y", None, L), q, width(L)))
    per_sample = eqn(E, d.model.loss) if n <= 3 else None
    m_, s = sp.Symbol("m", integer=True, positive=True), sp.Symbol("s", integer=True, positive=True)
    Es = sp.IndexedBase("E")[s]
    mean = eqn(E, sp.Mul(sp.UnevaluatedExpr(1 / m_), sp.Sum(Es, (s, 1, m_)), evaluate=False))
    penalty = None
    if d.net.l2:
        i, j, k = sp.symbols("i j k", integer=True, positive=True)
        Wk = sp.IndexedBase("Wk")[i, j]
        # nested, one Σ per index (k outermost), as a teacher writes it
        total = sp.Sum(sp.Sum(sp.Sum(l2_penalty([Wk]) / lam * 2, (i, 1, sp.Symbol("n_{k-1}"))),
                              (j, 1, sp.Symbol("n_k"))), (k, 1, sp.Symbol("L", integer=True, positive=True)))
        penalty = eqn(E, Terms((general.forms[-1][1], Ordered((lam / 2, total)))))
    return ErrorSection(per_sample, general, mean, penalty, d.net.l2)


def _lemma_steps(lem: Lemma) -> LemmaSteps:
    x = sp.Symbol("x", real=True)
    f = ACTIVATION_CLASSES[lem.name](x)
    fprime = sp.Derivative(f, x, evaluate=False)
    derivation = eqn(fprime, sp.Derivative(lem.definition, x, evaluate=False), lem.derivative)
    return LemmaSteps(lem, derivation, lem.substitution, eqn(fprime, lem.compact))


def _loss_lemmas(d: Derivation, steps: _Steps) -> tuple[list[Step], Eqn | None]:
    """∂E/∂ŷⱼ for the first outputs, and for any j (elementwise outputs; softmax has its own lemma)."""
    if d.net.output == SOFTMAX:
        return [], None
    m = d.model
    shown = [steps.loss(d.local(E, p)) for p in m.yhat[:2]]
    L = d.net.depth
    general = None
    if len(m.yhat) > 1:
        r = d.layer_rule(L)
        j = sp.Symbol("j", integer=True, positive=True)
        general = eqn(sp.Derivative(E, base("a", L, L)[j], evaluate=False), r.local["dE/dyhat"])
    return shown, general


def _softmax_lemma(d: Derivation, steps: _Steps) -> SoftmaxLemma:
    m, L = d.model, d.net.depth
    h = m.h[L]
    entries = [eqn(sp.Derivative(m.yhat[0], h[0], evaluate=False),
                   sp.Derivative(m.definitions[m.yhat[0]], h[0], evaluate=False), d.local(m.yhat[0], h[0]).compact),
               eqn(sp.Derivative(m.yhat[1], h[0], evaluate=False), d.local(m.yhat[1], h[0]).compact)]
    r = d.layer_rule(L)
    j, q = sp.Symbol("j", integer=True, positive=True), sp.Symbol("q", integer=True, positive=True)
    yh = base("a", L, L)
    general = eqn(sp.Derivative(yh[q], base("h", L, L)[j], evaluate=False), r.local["dyhat/dh"])
    general_delta = eqn(r.delta.lhs, r.delta.rhs)
    return SoftmaxLemma(entries, general, steps.output(h[0]), general_delta, r.assumption)


def _delta_layer(d: Derivation, k: int) -> DeltaLayer:
    r = d.layer_rule(k)
    j = r.delta.lhs.indices[0]
    h_j = base("h", k, d.net.depth)[j]
    dE_dh = sp.Derivative(E, h_j, evaluate=False)
    show_terms = not (r.is_output and d.net.output == SOFTMAX)
    general = eqn(r.delta.lhs, dE_dh, *( [r.delta_terms] if show_terms else []), r.delta.rhs)
    neurons = []
    n, up = d.net.layers[k], d.net.layers[min(k + 1, d.net.depth)]
    if n <= PER_NEURON_UP_TO and up <= PER_NEURON_UP_TO:
        for hk in d.model.h[k]:
            dl: Delta = d.delta(hk)
            neurons.append(eqn(dl.symbol, dl.terms, dl.expr))
    return DeltaLayer(k, r, general, eqn(r.dW.lhs, r.dW.rhs + r.decay), eqn(r.db.lhs, r.db.rhs), neurons)


def _update(d: Derivation, optimizing: tuple[update.Optimizer, dict[str, float]]) -> UpdateSection:
    rule, hyper = optimizing
    i, j = sp.symbols("i j", integer=True, positive=True)
    W, b = sp.IndexedBase("Wk")[i, j], sp.IndexedBase("bk")[j]
    rules = [eqn(p, update.rules(p, sp.Derivative(E, p, evaluate=False))["sgd"], rel=r"\leftarrow") for p in (W, b)]
    theta = update.theta
    m_, s = sp.Symbol("m", integer=True, positive=True), sp.Symbol("s", integer=True, positive=True)
    Es = sp.IndexedBase("E")[s]
    batch = eqn(sp.Derivative(E, theta, evaluate=False),
                sp.Mul(sp.UnevaluatedExpr(1 / m_), sp.Sum(sp.Derivative(Es, theta, evaluate=False), (s, 1, m_)),
                       evaluate=False))
    steps = []
    if rule is not update.SGD:
        steps = [eqn(target, rhs, rel=r"\leftarrow")
                 for target, rhs in rule.rules(theta, sp.Derivative(E, theta, evaluate=False))]
    values = [(h.symbol, hyper[h.option]) for h in rule.hyperparameters]
    decay = None
    if d.net.l2:
        Wd = sp.IndexedBase("W")[i, j]
        decay = eqn(sp.Derivative(l2_penalty([Wd]), Wd, evaluate=False), regularisers.decay(Wd))
    return UpdateSection(rules, batch, rule, steps, values, decay)


def _worked(d: Derivation, steps: _Steps, values: Values, chosen: list[sp.Symbol],
            optimizing: tuple[update.Optimizer, dict[str, float]], chains: list[ChainStep]) -> WorkedSection:
    rule, hyper = optimizing
    ex = WorkedExample(d, values, [str(p) for p in chosen])
    m, net = d.model, d.net
    truncated = any(n > 2 * PER_NEURON_UP_TO for n in net.layers)

    def few(syms: list[sp.Symbol]) -> list[sp.Symbol]:
        return syms if len(syms) <= 2 * PER_NEURON_UP_TO else syms[:PER_NEURON_UP_TO]

    given = [(s, ex.num(s)) for s in few(m.x) + few(m.y)]
    forward = []
    for k in range(1, net.depth + 1):
        forward += [(s, ex.num(s)) for s in few(m.h[k])]
        forward += [(s, ex.num(s)) for s in few(m.a[k]) if s not in m.h[k]]
    numbers = []
    for c in chains:
        paths = [[(s, ex.num(s.value)) for s in p] for p in c.shown_paths]
        numbers.append((c.param, paths, ex.gradient(c.param)))
    deltas = [(dl.symbol, v) for dl, v in ex.deltas if len(ex.deltas) <= 3 * PER_NEURON_UP_TO or dl.symbol in
              {c.delta for c in chains}]
    shown = set(m.params) if net.n_params <= ALL_PARAMS_UP_TO else set(chosen)
    worked_steps = _training_steps(d, values, rule, hyper, shown, ex)
    mu = hyper.get("momentum") if rule.name == "momentum" else None
    return WorkedSection(ex, given, forward, ex.error, numbers, deltas, worked_steps[0].rows, values.learning_rate,
                         mu, truncated, worked_steps, rule, [(h.symbol, hyper[h.option]) for h in rule.hyperparameters])


def _training_steps(d: Derivation, values: Values, rule: update.Optimizer, hyper: dict[str, float],
                    shown: set[sp.Symbol], first: WorkedExample) -> list[WorkedStep]:
    """The optimiser's steps from ``values`` (one for plain descent; two for a rule with a state, whose
    first step from a zero state says little about it), each ending with E at the new parameters."""
    params = d.model.params
    theta = np.concatenate([np.asarray(a, dtype=float).reshape(-1) for a in values.params])
    state = {s.name: np.zeros(len(params)) for s in rule.state}
    out, ex = [], first
    for number in range(1, 2 if rule is update.SGD else 3):
        grads = np.array([ex.gradient(p) for p in params])
        before = theta.copy()
        for n in range(len(params)):
            moved = rule.step(before[n], grads[n], values.learning_rate, {k: v[n] for k, v in state.items()},
                              hyper, number)
            theta[n] = moved.after
            for k, v in moved.state.items():
                state[k][n] = v
        ex = WorkedExample(d, _at(values, theta), [])
        rows = [(p, before[n], grads[n], tuple(state[s.name][n] for s in rule.state), theta[n])
                for n, p in enumerate(params) if p in shown]
        out.append(WorkedStep(number, rows, ex.error))
    return out


def _at(values: Values, flat: np.ndarray) -> Values:
    """``values`` with its parameters replaced by ``flat`` (the kernel's order)."""
    arrays, at = [], 0
    for a in values.params:
        arrays.append(flat[at:at + a.size].reshape(a.shape))
        at += a.size
    return Values(values.x, values.y, arrays, values.learning_rate, values.momentum)
