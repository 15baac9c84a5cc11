"""The write-up as data: what each section shows, as SymPy expressions and named steps.

Like SymPy Gamma's derivative steps, every derivation the document prints is a small tree of named
rules that the templates walk: a :class:`ChainStep` (one parameter's chain rule) is its paths of
:class:`Step` s, each a local derivative with the successive forms of its value (σ′(h) → σ(h)(1 − σ(h))
→ ŷ(1 − ŷ)) and the rule it comes from.  Nothing here is LaTeX; :mod:`symnet.emit.latex.render` prints it.

Besides the derivation proper, the document holds the sections a teacher would otherwise write
(:mod:`symnet.emit.latex.teaching`: the chain-rule primer, the network as a composite function, the
computational graph, σ′/tanh′/softmax step by step), numbers the equations later steps cite ("by (4)"),
and groups chains of one shape: the first written out, the others in a table (:class:`ChainGroup`).
The matrix (batch) form (``WriteUp.matrix_form``, a :class:`MatrixSection`) prints the forward and
backward pass over a batch of m samples from :mod:`symnet.derivation.matrix_form`, every equation with
the shape of what it defines.

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
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symnet.functions.activations import ACTIVATION_CLASSES, IDENTITY, SOFTMAX, Activation, Lemma, latex_name
from symnet.functions.losses import LOSSES
from symnet.derivation.chains import E, Delta, Derivation, Factor, derive
from symnet.derivation.model import quantity
from symnet.derivation import update
from symnet.functions import formula, regularisers
from symnet.functions.regularisers import l2_penalty, lam
from symnet.errors import InputError
from symnet.files import shell_word
from symnet.derivation.layer_form import LayerRule, base, width
from symnet.derivation.matrix_form import M as BATCH, MatrixForm, matrix_form
from symnet.derivation.names import Name, parse_name, symbol
from symnet.emit.latex.forms import Eqn, Math, Ordered, Shape, Terms, eqn
from symnet.emit.latex.printer import latex
from symnet.emit.latex.layout import LINE_EM, tex_width
from symnet.emit.latex.printer import AUGMENTED_MARK, NO_BIAS_MARK
from symnet.emit.latex.teaching import (C, SPELLED_OUT_UP_TO, Composite, Graph, Primer, SoftmaxSteps,
                                        activation_steps, chain_rule_primer, composite, graph, softmax_error,
                                        softmax_steps)
from symnet.numeric.worked import Values, WorkedExample, load_values
from symnet.spec import Network

#: nets with at most this many parameters get every parameter's chain by default
ALL_PARAMS_UP_TO = 50
#: neurons per layer up to which the feed-forward and the deltas are written out neuron by neuron
PER_NEURON_UP_TO = 10
#: a weight matrix is written out with at most this many entries
MATRIX_ENTRIES_UP_TO = 9
#: a layer's feed-forward is written neuron by neuron when all its sums hold at most this many terms
PER_NEURON_TERMS_UP_TO = 12
#: a layer's deltas are written neuron by neuron when all their sums hold at most this many terms
DELTA_TERMS_UP_TO = 4
#: paths of a chain printed in full; more are summarised (the delta form is how they are summed)
PATHS_SHOWN = 4
#: a written-out gradient longer than this many display lines is left to the delta form
RESULT_LINES = 4
#: a table of chains of one shape lists the written-out results when each fits in this many em
TABLE_RESULT_EM = 26.0
#: the width a table row of results may take, in em
TABLE_ROW_EM = 38.0
#: a table of written-out results with more rows than this lists the delta forms instead, several a row
TABLE_ROWS_UP_TO = 6
#: the labels of the numbered equations that later steps cite
LOSS_LABEL = "eq:loss"
SOFTMAX_LABEL = "eq:softmax"
SOFTMAX_ERROR_LABEL = "eq:softmax-error"
UPDATE_LABEL = "eq:update"
#: the optimiser's own rule, when it is not plain gradient descent (the worked example's steps cite it)
OPTIMIZER_LABEL = "eq:optimizer"
CHAIN_SUM_LABEL = "eq:chain-sum"
#: small counts in words, for the templates ("two training steps")
COUNT_WORDS = dict(enumerate(("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")))


def lemma_label(activation: str) -> str:
    """The label of an activation's derivative lemma."""
    return f"eq:lemma-{activation.replace('_', '-')}"


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
    cite: str | None = None  # the lemma the value comes from ("by (3)")
    brief: bool = False  # a factor of a kind explained before: its forms run on one line

    @property
    def derivative(self) -> sp.Derivative:
        return sp.Derivative(self.of, self.wrt, evaluate=False)

    @property
    def value(self) -> sp.Expr:
        last = self.forms[-1]
        return sp.Mul(*last.factors) if isinstance(last, Ordered) else last

    @property
    def equation(self) -> Eqn:
        return eqn(self.derivative, *self.forms, cite=self.cite, one_line=self.brief)


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
        values = Terms(tuple(Ordered(_without_ones(s.value for s in p)) for p in self.shown_paths), more)
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
                   self._with_decay(Ordered(_without_ones((self.delta, self.local.value)))), one_line=True)

    @property
    def shape(self) -> tuple:
        """What makes two chains the same but for their indices: the kind and layer of the parameter,
        and the rules of the factors along each path."""
        name = parse_name(self.param.name)
        kind = "b" if self.local.rule == "bias" else name.kind
        # the factors above the parameter's own ∂h/∂θ, which is the one that tells weights and biases apart
        paths = tuple(tuple(s.rule for s in p[:-1]) for p in self.paths) if self.paths is not None else None
        return kind, name.layer, self.n_paths, paths


def _without_ones(factors) -> tuple[sp.Basic, ...]:
    """A product's factors without the factors 1 (∂h/∂b = 1 adds nothing to a bias's chain)."""
    kept = tuple(f for f in factors if f != 1)
    return kept or (sp.S.One,)


@dataclass(frozen=True)
class ChainGroup:
    """Parameters whose chains have the same shape: the first written out in full, the others as a table
    of their results (the same factors with their own indices)."""

    lead: ChainStep
    others: list[ChainStep]
    #: the column the table shows: the written-out result, or the delta form when a result is too wide
    written_out: bool
    #: biases whose chains are a weight's of the same layer but for the last factor: shown as a table only
    like: ChainStep | None = None

    #: how many (parameter, derivative) pairs a row of the table holds (narrow entries share a row)
    per_row: int = 1

    @property
    def members(self) -> list[ChainStep]:
        return [self.lead, *self.others]

    def table(self, rows: list[ChainStep]) -> list[list[ChainStep]]:
        """The chains of a table, ``per_row`` to a row."""
        return [rows[k:k + self.per_row] for k in range(0, len(rows), self.per_row)]

    def entry(self, c: ChainStep) -> Math:
        if self.written_out:
            return c.result
        return c.via_delta.forms[-1][1]

    def equation(self, c: ChainStep) -> Eqn:
        return eqn(c.derivative, self.entry(c), one_line=True)

    @property
    def header(self) -> sp.Derivative:
        """∂E/∂θ, the table's heading."""
        return sp.Derivative(E, update.theta, evaluate=False)


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

    def lemma_of(self, a: sp.Symbol) -> str | None:
        """The label of the lemma that gives ∂a/∂h for the activation of a's layer (None: identity)."""
        name = parse_name(a.name)
        layer = name.layer if name.kind == "a" else self.L
        act = self.d.net.activations[layer - 1]
        return lemma_label(act) if act in ACTIVATION_CLASSES else None

    def loss(self, f: Factor) -> Step:
        def make() -> Step:
            part = sp.Add(*(t for t in sp.Add.make_args(_loss_terms(self.m.loss)) if t.has(f.wrt)))
            return Step(E, f.wrt, "loss", (sp.Derivative(part, f.wrt, evaluate=False), f.value), cite=LOSS_LABEL)
        return self._once((E, f.wrt), make)

    def activation(self, f: Factor) -> Step:
        def make() -> Step:
            return Step(f.of, f.wrt, "activation", tuple(_activation_forms(self.m, f)), cite=self.lemma_of(f.of))
        return self._once((f.of, f.wrt), make)

    def output(self, h: sp.Symbol) -> Step:
        def make() -> Step:
            delta = self.d.delta(h)
            outs = self.m.yhat
            n = self.whole.layers[-1]
            if n > SPELLED_OUT_UP_TO:  # a wide output: the sum over the outputs as a Σ, not n terms
                yh, j = base("a", self.L, self.L), parse_name(h.name).index[0]
                q = sp.Symbol("q", integer=True, positive=True)
                symbolic = sp.Sum(sp.Derivative(E, yh[q], evaluate=False) * sp.Derivative(yh[q], h, evaluate=False),
                                  (q, 1, n))
                return Step(E, h, "output", (symbolic, delta.expr), delta.assumption, cite=SOFTMAX_ERROR_LABEL)
            symbolic = Terms(tuple(Ordered((sp.Derivative(E, p, evaluate=False), sp.Derivative(p, h, evaluate=False)))
                                   for p in outs))
            values = Terms(tuple(Ordered((self.d.local(E, p).compact, self.d.local(p, h).compact)) for p in outs))
            collected = sp.collect(sp.expand(delta.terms), self.m.yhat, evaluate=True)
            return Step(E, h, "output", (symbolic, values, collected, delta.expr), delta.assumption,
                        cite=SOFTMAX_ERROR_LABEL)
        return self._once((E, h), make)

    def hidden(self, up: Factor, act: Factor) -> Step:
        def make() -> Step:
            forms = [Ordered((up.derivative, act.derivative))]
            for form in _activation_forms(self.m, act)[1:] or [act.compact]:
                forms.append(Ordered(_without_ones((up.compact, form))))
            return Step(up.of, act.wrt, "hidden", tuple(forms), cite=self.lemma_of(act.of))
        return self._once((up.of, act.wrt), make)

    def local(self, f: Factor) -> Step:
        def make() -> Step:
            forms: list[Math] = []
            definition = self.m.definitions[f.of]
            if self.whole.layers[parse_name(f.of.name).layer - 1] <= PER_NEURON_UP_TO:  # a short Σ: shown
                forms.append(sp.Derivative(definition, f.wrt, evaluate=False))
            forms.append(f.value)
            return Step(f.of, f.wrt, f.rule, tuple(forms), brief=True)
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

    def label_positions(self, dx: float, dy: float, width: float, height: float,
                        node: float, sloped: bool = False) -> dict[tuple[str, str], float]:
        """Where along each arrow (0 at its source, 1 at its target) its weight's label sits, so that no
        two labels and no label and neuron overlap: each label in turn takes the place farthest from those
        already placed.  ``dx``, ``dy``: the grid's spacing; ``width``, ``height``: a label's size;
        ``node``: a neuron's diameter; all in one unit; ``sloped``: labels turn with their arrows."""
        import math
        at = {n.key: (dx * n.column, dy * n.row) for n in self.nodes}
        taken = [(x, y, node, node) for x, y in at.values()]
        out: dict[tuple[str, str], float] = {}

        def gap(x: float, y: float, w: float, h: float, boxes) -> float:
            """How far a w × h label at (x, y) stays from the nearest box (negative: it overlaps one)."""
            return min((max(abs(x - bx) - (w + bw) / 2, abs(y - by) - (h + bh) / 2)
                        for bx, by, bw, bh in boxes), default=9.0)

        for src, dst, label in self.edges:
            if label is None:
                continue
            (x1, y1), (x2, y2) = at[src], at[dst]
            angle = math.atan2(y2 - y1, x2 - x1) if sloped else 0.0
            w = width * abs(math.cos(angle)) + height * abs(math.sin(angle))  # the turned label's box
            h = width * abs(math.sin(angle)) + height * abs(math.cos(angle))
            # the other arrows, as points along them: a label should not sit on a line it does not name
            lines = [(at[s][0] + (at[t][0] - at[s][0]) * k / 12, at[s][1] + (at[t][1] - at[s][1]) * k / 12, 0, 0)
                     for s, t, _ in self.edges if (s, t) != (src, dst) for k in range(2, 11)]
            best, room = 0.5, -9.0
            for pos in (0.22, 0.3, 0.38, 0.46, 0.54, 0.62, 0.7, 0.78):
                x, y = x1 + (x2 - x1) * pos, y1 + (y2 - y1) * pos
                score = (min(gap(x, y, w, h, taken), 0.0) * 4 + min(gap(x, y, w * 0.8, h * 0.8, lines), 0.0)
                         + 0.01 * gap(x, y, w, h, taken))
                if score > room + 1e-9:
                    best, room = pos, score
            out[(src, dst)] = best
            taken.append((x1 + (x2 - x1) * best, y1 + (y2 - y1) * best, w, h))
        return out


@dataclass(frozen=True)
class FeedForward:
    per_neuron: list[list[Eqn]]  # per layer; empty for a wide layer
    general: list[list[Eqn]]  # per layer: h⁽ᵏ⁾ⱼ = Σᵢ …, a⁽ᵏ⁾ⱼ = f(h⁽ᵏ⁾ⱼ)
    vector: list[Eqn]
    composite: Eqn | None  # ŷ = f(W⁽ᴸ⁾ᵀ … f(W⁽¹⁾ᵀx + b⁽¹⁾) … + b⁽ᴸ⁾), None when it does not fit a line
    #: with the bias as the last row of W: x̃ = (x₁, …, 1) and ã⁽ᵏ⁾, the vectors extended by a 1
    extended: list[Eqn] = field(default_factory=list)
    #: per layer: whether per_neuron shows its first two neurons only
    partial: list[bool] = field(default_factory=list)


@dataclass(frozen=True)
class ErrorSection:
    per_sample: Eqn | None
    general: Eqn
    mean: Eqn  # C = (1/m) Σₛ Eₛ, the cost of a batch
    penalty: Eqn | None = None  # E with the L2 term, when the cost has one
    l2: float = 0.0
    #: what the loss is called, from the loss registry ("half the squared error", "the loss huber")
    title: str = ""
    #: the loss is the negative log-likelihood of a one-hot target's class (cross-entropy over classes)
    one_hot: bool = False
    #: the loss was defined with --define (symnet.functions.formula), not built in
    defined: bool = False


@dataclass(frozen=True)
class LemmaSteps:
    lemma: Lemma
    derivation: Eqn  # f′(x) = d/dx definition = derivative
    substitution: sp.Eq | None
    result: Eqn  # f′(x) = compact, numbered
    #: the derivation as the articles do it (σ′ by factoring, tanh′ by the quotient rule), numbered;
    #: None where the lemma's own steps are shown
    steps: Eqn | None = None

    @property
    def symbol(self) -> sp.Basic:
        return ACTIVATION_CLASSES[self.lemma.name](sp.Symbol("x", real=True))


@dataclass(frozen=True)
class SoftmaxLemma:
    steps: SoftmaxSteps  # ŷ₁'s definition and ∂ŷ₁/∂h₁, ∂ŷ₂/∂h₁ by the quotient rule
    general: Eqn  # ∂ŷ_q/∂hⱼ = ŷ_q(𝟏[q = j] − ŷⱼ), numbered
    output: Eqn  # ∂E/∂h⁽ᴸ⁾₁ = Σ_q … = ŷ₁ − y₁, numbered
    general_delta: Eqn
    assumption: sp.Eq | None

    @property
    def entries(self) -> list[Eqn]:
        return [self.steps.same, *([self.steps.other] if self.steps.other else [])]


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
    rules: list[Eqn]  # θ ← θ − α ∂C/∂θ for a weight and a bias, numbered
    batch: Eqn  # ∂C/∂θ = (1/m) Σₛ ∂Eₛ/∂θ
    optimizer: update.Optimizer
    steps: list[Eqn]  # the optimiser's rule for one parameter θ (empty for plain gradient descent)
    hyperparameters: list[tuple[sp.Symbol, float]]
    decay: Eqn | None  # ∂E/∂W with the L2 term, when the cost has one
    #: v ← μv − α ∂C/∂θ; θ ← θ + v, for the words on momentum (numbered when it is the rule used)
    momentum_rule: list[Eqn] = field(default_factory=list)

    @property
    def momentum_type(self) -> bool:
        """Whether the optimiser keeps a velocity (momentum, Nesterov): the words on momentum apply."""
        return update.velocity in self.optimizer.state

    @property
    def cite(self) -> str:
        """The label of the rule the steps take: the plain step's, or the optimiser's own."""
        return UPDATE_LABEL if self.optimizer is update.SGD else OPTIMIZER_LABEL


@dataclass(frozen=True)
class MatrixSection:
    """The forward and backward pass over a batch of m samples, one row per sample, from
    :func:`symnet.derivation.matrix_form.matrix_form`: every equation carries the shape of what it
    defines.  In the augmented notation the bias stays the last row of W⁽ᵏ⁾: each layer multiplies its
    input with a column of ones appended, Ã = (A 𝟏), and the backward pass uses W̄⁽ᵏ⁾, W⁽ᵏ⁾ without that
    row."""

    form: MatrixForm
    given: list[tuple[sp.MatrixSymbol, Shape]]  # X, Y, W⁽ᵏ⁾ (and b⁽ᵏ⁾) with their shapes
    widths: list[sp.Eq]  # n₀ = 2, n₁ = 2, …: the symbolic widths of the shapes, for this network
    extended: list[Eqn]  # the augmented notation's X̃ = (X 𝟏), Ã⁽ᵏ⁾ = (A⁽ᵏ⁾ 𝟏)
    forward: list[Eqn]  # H⁽ᵏ⁾ and A⁽ᵏ⁾ (Ŷ) layer by layer
    backward: list[Eqn]  # from the output down: Δ⁽ᵏ⁾, ∂C/∂W⁽ᵏ⁾ (and ∂C/∂b⁽ᵏ⁾, a row)
    definition: Eqn  # Δ⁽ᵏ⁾ = ∂C/∂H⁽ᵏ⁾, for the words
    decay: bool  # the weights' gradients hold λW
    augmented: bool
    assumption: sp.Eq | None  # one-hot targets (softmax + cross-entropy)
    #: the generic pieces the words name, for any layer k: "forward" A⁽ᵏ⁻¹⁾W⁽ᵏ⁾ (Ã⁽ᵏ⁻¹⁾W⁽ᵏ⁾), "back"
    #: Δ⁽ᵏ⁺¹⁾W⁽ᵏ⁺¹⁾ᵀ, "grad" A⁽ᵏ⁻¹⁾ᵀΔ⁽ᵏ⁾, "bias" 𝟏ᵀΔ⁽ᵏ⁾ and 𝟏b⁽ᵏ⁾ᵀ ("ones_b"), "D" Δ⁽ᵏ⁾, "delta" δ⁽ᵏ⁾ⱼ,
    #: "H" H⁽ᵏ⁾, "A" A⁽ᵏ⁾, "W" W⁽ᵏ⁾, "W_proper" W̄⁽ᵏ⁾, "Y" Y, "f" f(H⁽ᵏ⁾) and "f_prime" f′(H⁽ᵏ⁾)
    words: dict[str, sp.Basic] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkedStep:
    """One update of the worked example: per parameter θ before, ∂E/∂θ, the optimiser's state after
    (in ``optimizer.state`` order) and θ after; then E at the new parameters."""

    number: int
    rows: list[tuple[sp.Symbol, float, float, tuple[float, ...], float]]
    error_after: float


@dataclass(frozen=True)
class Grid:
    """Numbers of one kind per neuron, a column per layer (h⁽¹⁾ⱼ, a⁽¹⁾ⱼ, h⁽²⁾ⱼ, …), a row per j; a
    column shorter than the others leaves its cells empty, a wide layer lists its first neurons."""

    index: sp.Symbol
    columns: list[tuple[sp.Basic, list[float]]]
    more: bool = False  # a wide layer's further neurons are left out

    @property
    def rows(self) -> list[tuple[int, list[float | None]]]:
        n = max(len(v) for _, v in self.columns)
        return [(r + 1, [v[r] if r < len(v) else None for _, v in self.columns]) for r in range(n)]

    def chunks(self, width: int = 6) -> list["Grid"]:
        """The grid cut into grids of at most ``width`` columns (so a deep net's table fits the page)."""
        return [Grid(self.index, self.columns[k:k + width], self.more) for k in range(0, len(self.columns), width)]


@dataclass(frozen=True)
class WorkedChain:
    """The numbers of one chain of the worked example: each shown path's factors (with their steps), how
    many paths are left out (⋯), the decay term's λ and θ when the cost has one, and ∂E/∂θ — so that
    Σ paths' products (+ ⋯) + λ·θ = gradient is the equation printed."""

    param: sp.Symbol
    paths: list[list[tuple[Step, float]]]
    more: int
    decay: tuple[float, float] | None
    gradient: float

    @property
    def total(self) -> float:
        """What the printed terms add up to (all of ∂E/∂θ when no path is left out)."""
        out = sum(float(np.prod([v for _, v in p])) for p in self.paths)
        return out + (self.decay[0] * self.decay[1] if self.decay else 0.0)


@dataclass(frozen=True)
class WorkedSection:
    example: WorkedExample
    given: list[tuple[sp.Basic, float]]
    forward: list[tuple[sp.Basic, float]]
    error: float
    chains: list[WorkedChain]
    deltas: list[tuple[sp.Symbol, float]]
    updates: list[tuple[sp.Symbol, float, float, tuple[float, ...], float]]  # the first step's rows
    learning_rate: float
    momentum: float | None
    truncated: bool
    steps: list[WorkedStep]
    optimizer: update.Optimizer
    hyperparameters: list[tuple[sp.Symbol, float]]
    sample: Grid | None = None  # x and y
    forward_grid: Grid | None = None  # h⁽ᵏ⁾ⱼ and a⁽ᵏ⁾ⱼ of every layer
    delta_grid: Grid | None = None  # δ⁽ᴸ⁾ⱼ … δ⁽¹⁾ⱼ
    cite: str = UPDATE_LABEL  # the rule the steps take (the plain step's, or the optimiser's own)


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
    primer: Primer | None = None  # the chain rule, before the network
    composite: Composite | None = None  # the network as ℓ ∘ f⁽ᴸ⁾ ∘ … ∘ f⁽¹⁾ and its derivative
    graph: Graph | None = None  # the computational graph
    chain_groups: list[ChainGroup] = field(default_factory=list)  # the chains, same shapes together
    #: the matrix (batch) form of the forward and backward pass (None where the derivation has none)
    matrix_form: MatrixSection | None = None

    @property
    def cost(self) -> sp.Symbol:
        """C, the cost of a batch (E is one sample's error)."""
        return C

    @property
    def loss_equations(self) -> list[Eqn]:
        """∂E/∂ŷⱼ for the first outputs and for any j, the last numbered (the chains cite it)."""
        shown = [dataclasses.replace(s.equation, cite=None) for s in self.loss_steps]
        if self.loss_general is not None:
            return shown + [dataclasses.replace(self.loss_general, label=LOSS_LABEL)]
        return shown[:-1] + [dataclasses.replace(shown[-1], label=LOSS_LABEL)] if shown else []

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
    groups = _groups(chains, bias_rows)
    # each factor is explained once, where a chain written out in full first meets it; a factor of a kind
    # already explained (the same rule in the same layer, another neuron) is given by its value only
    seen: set[tuple] = set()
    kinds: set[tuple] = set()
    deduped: dict[sp.Symbol, ChainStep] = {}
    shown_first = [g.lead for g in groups if g.like is None]
    for c in shown_first + [c for c in chains if c not in shown_first]:
        new = []
        for st in c.new_steps:
            if (st.of, st.wrt) in seen:
                continue
            seen.add((st.of, st.wrt))
            kind = (st.rule, _layer_of(st.of), _layer_of(st.wrt))
            new.append(_brief(st) if kind in kinds or (st.rule == "output" and net.output == SOFTMAX) else st)
            kinds.add(kind)
        deduped[c.param] = ChainStep(c.param, c.paths, c.n_paths, tuple(new), c.result, c.local, c.delta, c.h,
                                     c.decay)
    in_order = [deduped[c.param] for c in chains]
    groups = [ChainGroup(deduped[g.lead.param], [deduped[c.param] for c in g.others], g.written_out,
                         deduped[g.like.param] if g.like is not None else None, g.per_row) for g in groups]
    loss_steps, loss_general = _loss_lemmas(part, steps)
    worked = _worked(d, steps, values, chosen, optimizing, in_order) if values is not None else None
    return WriteUp(
        d, chosen, sampled, _notation(d, part, bias_rows), _figure(d, bias_rows), _feedforward(d, part, bias_rows),
        _error(part), [_lemma_steps(lem) for lem in d.lemmas], loss_steps, loss_general,
        _softmax_lemma(part, steps) if net.output == SOFTMAX else None, in_order,
        [_delta_layer(part, k) for k in range(net.depth, 0, -1)], _update(d, optimizing), worked, bias_rows,
        primer=chain_rule_primer(), composite=composite(net), graph=graph(net, d.layer_rule), chain_groups=groups,
        matrix_form=matrix_section(net, bool(bias_rows)))


def matrix_section(net: Network, augmented: bool = False) -> MatrixSection | None:
    """The matrix form of ``net``'s forward and backward pass (None when the derivation has no matrix
    form, as for a loss whose per-output terms do not separate)."""
    try:
        mf = matrix_form(net)
    except NotImplementedError:
        return None
    L = mf.depth
    wide: dict[int, sp.MatrixSymbol] = {}  # Ã⁽ᵏ⁾ of the augmented notation, the input of layer k + 1
    weights: dict[int, sp.MatrixSymbol] = {}  # W⁽ᵏ⁾ as the document names it
    proper: dict[int, sp.MatrixSymbol] = {}  # W̄⁽ᵏ⁾: W⁽ᵏ⁾ without its bias row (the augmented notation)
    given: list[tuple[sp.MatrixSymbol, Shape]] = [(mf.X, Shape(*mf.X.shape)), (mf.Y, Shape(*mf.Y.shape))]
    extended: list[Eqn] = []
    for lay in mf.layers:
        below = mf.X if lay.k == 1 else mf.layers[lay.k - 2].A
        if augmented:
            n_below, n_k = below.shape[1], lay.W.shape[1]
            wide[lay.k - 1] = sp.MatrixSymbol(str(below.name) + AUGMENTED_MARK, BATCH, n_below + 1)
            weights[lay.k] = sp.MatrixSymbol(str(lay.W.name), n_below + 1, n_k)
            proper[lay.k] = sp.MatrixSymbol(str(lay.W.name) + NO_BIAS_MARK, n_below, n_k)
            extended.append(eqn(wide[lay.k - 1], sp.BlockMatrix([[below, sp.OneMatrix(BATCH, 1)]]),
                                shape=Shape(*wide[lay.k - 1].shape)))
            given.append((weights[lay.k], Shape(*weights[lay.k].shape)))
        else:
            weights[lay.k] = lay.W
            given += [(lay.W, Shape(*lay.W.shape)), (lay.b, Shape(*lay.b.shape))]
    # the augmented notation goes back through the weights proper, W̄, never the bias row
    backwards = {lay.W: proper[lay.k] for lay in mf.layers} if augmented else {}
    forward = []
    for lay in mf.layers:
        h = sp.MatMul(wide[lay.k - 1], weights[lay.k]) if augmented else lay.forward_H
        forward += [eqn(lay.H, h, shape=Shape(*lay.H.shape)), eqn(lay.A, lay.forward_A, shape=Shape(*lay.A.shape))]
    backward = []
    x = sp.Symbol("x", real=True)
    for lay in reversed(mf.layers):
        forms: list[sp.Basic] = []
        act = net.activations[lay.k - 1]
        if not lay.is_output and act != IDENTITY:
            # the layer rule's shape, (Δ⁽ᵏ⁺¹⁾W⁽ᵏ⁺¹⁾ᵀ) ⊙ f′(H⁽ᵏ⁾), before f′ is written out
            upper = mf.layer(lay.k + 1)
            f_prime = sp.Lambda(x, sp.Derivative(ACTIVATION_CLASSES[act](x), x, evaluate=False))
            forms.append(sp.HadamardProduct(sp.MatMul(upper.D, sp.Transpose(backwards.get(upper.W, upper.W))),
                                            ElementwiseApplyFunction(f_prime, lay.H)))
        forms.append(lay.delta.xreplace(backwards))
        backward.append(eqn(lay.D, *forms, shape=Shape(*lay.D.shape)))
        W = weights[lay.k]
        if augmented:
            dW = sp.MatMul(sp.Transpose(wide[lay.k - 1]), lay.D)
            if mf.decay:  # the bias row is not decayed
                dW = sp.MatAdd(dW, sp.MatMul(regularisers.lam, sp.BlockMatrix(
                    [[proper[lay.k]], [sp.ZeroMatrix(1, W.shape[1])]])))
        else:
            dW = lay.dW
        backward.append(eqn(sp.Derivative(C, W, evaluate=False), dW, shape=Shape(*W.shape)))
        if not augmented:
            # a row, 1 × n_k: the gradient of the row b⁽ᵏ⁾ᵀ that every sample adds
            backward.append(eqn(sp.Derivative(C, lay.b, evaluate=False), lay.db, shape=Shape(*lay.db.shape)))
    n_k, n_up, n_below = (sp.Symbol(f"n_{{{s}}}", integer=True, positive=True) for s in ("k", "k+1", "k-1"))
    Dk, Hk = sp.MatrixSymbol("Dk", BATCH, n_k), sp.MatrixSymbol("Hk", BATCH, n_k)
    below = sp.MatrixSymbol("Ak-1" + (AUGMENTED_MARK if augmented else ""), BATCH, n_below + (1 if augmented else 0))
    Wk = sp.MatrixSymbol("Wk", below.shape[1], n_k)
    W_up = sp.MatrixSymbol("Wk+1" + (NO_BIAS_MARK if augmented else ""), n_k, n_up)
    words = {"D": Dk, "forward": sp.MatMul(below, Wk), "back": sp.MatMul(sp.MatrixSymbol("Dk+1", BATCH, n_up),
                                                                        sp.Transpose(W_up)),
             "grad": sp.MatMul(sp.Transpose(below), Dk), "bias": sp.MatMul(sp.OneMatrix(1, BATCH), Dk),
             "ones_b": sp.MatMul(sp.OneMatrix(BATCH, 1), sp.Transpose(sp.MatrixSymbol("bk", n_k, 1))),
             "delta": sp.IndexedBase("deltak")[sp.Symbol("j", integer=True, positive=True)],
             "H": Hk, "A": sp.MatrixSymbol("Ak", BATCH, n_k), "W": Wk, "W_proper": sp.MatrixSymbol("Wk" + NO_BIAS_MARK, n_below, n_k),
             "Y": mf.Y,
             "f": ElementwiseApplyFunction(sp.Lambda(x, sp.Function("f")(x)), Hk),
             "f_prime": ElementwiseApplyFunction(sp.Lambda(x, sp.Derivative(sp.Function("f")(x), x)), Hk)}
    definition = eqn(Dk, sp.Derivative(C, Hk, evaluate=False))
    widths = [sp.Eq(width(n), size, evaluate=False) for n, size in enumerate(net.layers)]
    return MatrixSection(mf, given, widths, extended, forward, backward, definition, mf.decay, augmented,
                         mf.assumption, words)


def _layer_of(sym: sp.Symbol) -> int | None:
    name = parse_name(sym.name)
    return name.layer if name is not None else None


def _brief(st: Step) -> Step:
    """A factor of a kind explained before: its value only (a hidden factor keeps its two local factors)."""
    forms = (st.forms[0], st.forms[-1]) if st.rule == "hidden" else (st.forms[-1],)
    return dataclasses.replace(st, forms=forms, brief=True)


def _groups(chains: list[ChainStep], bias_rows: dict[int, int]) -> list[ChainGroup]:
    """Chains of the same shape together, in the order their first member comes."""
    by_shape: dict[tuple, list[ChainStep]] = {}
    for c in chains:
        by_shape.setdefault(c.shape, []).append(c)
    groups = []
    weights: dict[tuple, ChainGroup] = {}
    for shape, members in by_shape.items():
        lead, others = members[0], members[1:]
        kind, layer = shape[0], shape[1]
        like_group = weights.get((layer, shape[2:])) if kind == "b" else None
        like = like_group.lead if like_group is not None else None
        listed = members if like is not None else others
        widths = [tex_width(latex(c.result, bias_rows=bias_rows or None)) if c.result is not None else 99.0
                   for c in listed]
        # written out while each result is short and the table short; else in the delta form, several a row
        fits = all(w <= TABLE_RESULT_EM for w in widths) and (
            len(listed) <= TABLE_ROWS_UP_TO or max(widths) * 2 + 10 <= TABLE_ROW_EM)
        if like_group is not None and like_group.others and not like_group.written_out:
            fits = False  # the biases' table in the same form as their weights'
        entry = max(widths, default=0.0) if fits else 6.0
        per_row = max(1, min(4, len(listed), int(TABLE_ROW_EM // (entry + 5.0))))
        group = ChainGroup(lead, others, fits, like, per_row)
        groups.append(group)
        if kind == "W":
            weights.setdefault((layer, shape[2:]), group)
    return groups


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
        if all((n + (1 if bias_rows else 0)) * m <= MATRIX_ENTRIES_UP_TO
               for n, m in zip(d.net.layers, d.net.layers[1:])):  # all of them or none
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


def _feedforward(d: Derivation, part: Derivation, bias_rows: dict[int, int] | None = None) -> FeedForward:
    """Each layer's forward rule, and neuron by neuron for narrow layers (from ``part``'s model, whose
    layers above the input are the whole net's)."""
    net = d.net
    L = net.depth
    per_neuron, partial = [], []
    for k in range(1, L + 1):
        every = net.layers[k] * (net.layers[k - 1] + 1) <= PER_NEURON_TERMS_UP_TO
        if not every and (net.layers[k - 1] > PER_NEURON_UP_TO or net.layers[k] <= 2):
            per_neuron.append([])
            partial.append(False)
            continue
        m = (part if k > 1 else d).model
        shown = m.h[k] if every else m.h[k][:2]  # a wider layer: its first two neurons, as the articles do
        layer = [eqn(h, m.definitions[h]) for h in shown]
        if every and not (k == L and net.output == SOFTMAX):  # (the softmax's definition opens its lemma)
            layer += [eqn(a, m.definitions[a]) for h, a in zip(m.h[k], m.a[k]) if a != h and h in shown]
        per_neuron.append(layer)
        partial.append(not every)
    general = []
    for k in range(1, L + 1):
        r = d.layer_rule(k)
        a_j = base("a", k, L)[sp.Symbol("j", integer=True, positive=True)]
        general.append([eqn(r.h.lhs, r.h.rhs), eqn(a_j, r.a.rhs)])
    vector, inner = [], sp.MatrixSymbol("x", net.layers[0], 1)
    composite = inner
    extended = []
    for k in range(1, L + 1):
        prev = sp.MatrixSymbol(f"a{k - 1}", net.layers[k - 1], 1) if k > 1 else inner
        hk = sp.MatrixSymbol(f"h{k}", net.layers[k], 1)
        ak = sp.MatrixSymbol(f"a{k}" if k < L else "yhat", net.layers[k], 1)
        if bias_rows:
            # the bias is the last row of W: the layer multiplies the input extended by a constant 1
            Wk = sp.MatrixSymbol(f"W{k}", net.layers[k - 1] + 1, net.layers[k])
            wide = sp.MatrixSymbol(prev.name + AUGMENTED_MARK, net.layers[k - 1] + 1, 1)
            if net.layers[k - 1] <= PER_NEURON_UP_TO:
                entries = part.model.a[k - 1] if k > 1 else d.model.x
                extended.append(eqn(wide, sp.Matrix([*entries, 1])))
            vector.append(eqn(hk, Wk.T * wide))
            composite = _apply_vector(net.activations[k - 1], Wk.T * _one_more(composite))
        else:
            Wk = sp.MatrixSymbol(f"W{k}", net.layers[k - 1], net.layers[k])
            bk = sp.MatrixSymbol(f"b{k}", net.layers[k], 1)
            vector.append(eqn(hk, Wk.T * prev + bk))
            composite = _apply_vector(net.activations[k - 1], Wk.T * composite + bk)
        vector.append(eqn(ak, _apply_vector(net.activations[k - 1], hk)))
    yhat = sp.MatrixSymbol("yhat", net.layers[L], 1)
    whole = eqn(yhat, composite)
    if tex_width(latex(composite)) > 0.75 * LINE_EM:  # a deep net's nest does not fit a line (the estimate runs low)
        whole = None
    return FeedForward(per_neuron, general, vector, whole, extended, partial)


def _one_more(v: sp.MatrixExpr) -> sp.MatrixExpr:
    """A vector extended by a constant 1 (x̃), for the composite of the augmented notation."""
    if isinstance(v, sp.MatrixSymbol):
        return sp.MatrixSymbol(v.name + AUGMENTED_MARK, v.shape[0] + 1, 1)
    return Extended(v)


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


class Extended(sp.MatrixExpr):
    """A vector expression with a constant 1 appended, (v, 1): the augmented notation's input to a layer."""

    def __new__(cls, arg: sp.MatrixExpr):
        return sp.Basic.__new__(cls, arg)

    @property
    def shape(self):
        return (self.args[0].shape[0] + 1, 1)

    def _latex(self, printer, exp=None):
        return rf"\begin{{pmatrix}} {printer._print(self.args[0])} \\ 1 \end{{pmatrix}}"


def _apply_vector(act: str, v: sp.MatrixExpr) -> sp.MatrixExpr:
    return v if act == IDENTITY else Elementwise(act, v)


def _error(d: Derivation) -> ErrorSection:
    L, n = d.net.depth, d.net.layers[-1]
    q = sp.Symbol("j", integer=True, positive=True)
    general = eqn(E, LOSSES[d.net.loss].indexed(base("a", L, L), base("y", None, L), q, width(L)))
    per_sample = eqn(E, d.model.loss) if n <= 3 else None
    m_, s = sp.Symbol("m", integer=True, positive=True), sp.Symbol("s", integer=True, positive=True)
    Es = sp.IndexedBase("E")[s]
    mean = eqn(C, sp.Mul(sp.UnevaluatedExpr(1 / m_), sp.Sum(Es, (s, 1, m_)), evaluate=False))
    penalty = None
    if d.net.l2:
        i, j, k = sp.symbols("i j k", integer=True, positive=True)
        Wk = sp.IndexedBase("Wk")[i, j]
        # nested, one Σ per index (k outermost), as a teacher writes it
        total = sp.Sum(sp.Sum(sp.Sum(l2_penalty([Wk]) / lam * 2, (i, 1, sp.Symbol("n_{k-1}"))),
                              (j, 1, sp.Symbol("n_k"))), (k, 1, sp.Symbol("L", integer=True, positive=True)))
        penalty = eqn(E, Terms((general.forms[-1][1], Ordered((lam / 2, total)))))
    loss = LOSSES[d.net.loss]
    title = loss.title if loss.title.startswith(("the ", "half ")) else f"the {loss.title}"
    return ErrorSection(per_sample, general, mean, penalty, d.net.l2, title, loss.one_hot and loss.likelihood,
                        d.net.loss in formula.DEFINED)


def _lemma_steps(lem: Lemma) -> LemmaSteps:
    x = sp.Symbol("x", real=True)
    f = ACTIVATION_CLASSES[lem.name](x)
    fprime = sp.Derivative(f, x, evaluate=False)
    derivation = eqn(fprime, sp.Derivative(lem.definition, x, evaluate=False), lem.derivative)
    steps = activation_steps(lem)
    if steps is not None:
        steps = dataclasses.replace(steps, label=lemma_label(lem.name))
    return LemmaSteps(lem, derivation, lem.substitution, eqn(fprime, lem.compact, label=lemma_label(lem.name)),
                      steps)


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
    n = steps.whole.layers[-1]
    r = d.layer_rule(L)
    j, q = sp.Symbol("j", integer=True, positive=True), sp.Symbol("q", integer=True, positive=True)
    yh = base("a", L, L)
    general = eqn(sp.Derivative(yh[q], base("h", L, L)[j], evaluate=False), sp.factor(r.local["dyhat/dh"]),
                  label=SOFTMAX_LABEL)
    general_delta = eqn(r.delta.lhs, r.delta.rhs)
    output = softmax_error(n, L, True)
    if output is None:
        output = steps.output(m.h[L][0]).equation
    output = dataclasses.replace(output, label=SOFTMAX_ERROR_LABEL, cite=CHAIN_SUM_LABEL)
    return SoftmaxLemma(softmax_steps(n, L), general, output, general_delta, r.assumption)


def _delta_layer(d: Derivation, k: int) -> DeltaLayer:
    r = d.layer_rule(k)
    j = r.delta.lhs.indices[0]
    h_j = base("h", k, d.net.depth)[j]
    dE_dh = sp.Derivative(E, h_j, evaluate=False)
    show_terms = not (r.is_output and d.net.output == SOFTMAX)
    general = eqn(r.delta.lhs, dE_dh, *( [r.delta_terms] if show_terms else []), r.delta.rhs)
    neurons = []
    n, up = d.net.layers[k], d.net.layers[min(k + 1, d.net.depth)]
    if n * up <= DELTA_TERMS_UP_TO and not (r.is_output and d.net.output == SOFTMAX):  # (its lemma has them)
        for hk in d.model.h[k]:
            dl: Delta = d.delta(hk)
            neurons.append(eqn(dl.symbol, dl.terms, dl.expr))
    general = dataclasses.replace(general, label=f"eq:delta-{k}", cite=None if r.is_output else CHAIN_SUM_LABEL)
    return DeltaLayer(k, r, general, eqn(r.dW.lhs, r.dW.rhs + r.decay, label=f"eq:grad-W{k}"),
                      eqn(r.db.lhs, r.db.rhs, label=f"eq:grad-b{k}"), neurons)


def _update(d: Derivation, optimizing: tuple[update.Optimizer, dict[str, float]]) -> UpdateSection:
    rule, hyper = optimizing
    i, j = sp.symbols("i j", integer=True, positive=True)
    W, b = sp.IndexedBase("Wk")[i, j], sp.IndexedBase("bk")[j]
    rules = [eqn(p, update.rules(p, sp.Derivative(C, p, evaluate=False))["sgd"], rel=r"\leftarrow") for p in (W, b)]
    rules[-1] = dataclasses.replace(rules[-1], label=UPDATE_LABEL)
    theta = update.theta
    m_, s = sp.Symbol("m", integer=True, positive=True), sp.Symbol("s", integer=True, positive=True)
    Es = sp.IndexedBase("E")[s]
    batch = eqn(sp.Derivative(C, theta, evaluate=False),
                sp.Mul(sp.UnevaluatedExpr(1 / m_), sp.Sum(sp.Derivative(Es, theta, evaluate=False), (s, 1, m_)),
                       evaluate=False))
    def numbered(eqns: list[Eqn]) -> list[Eqn]:
        return eqns[:-1] + [dataclasses.replace(eqns[-1], label=OPTIMIZER_LABEL)] if eqns else eqns

    momentum_rule = [eqn(target, rhs, rel=r"\leftarrow")
                     for target, rhs in update.MOMENTUM_SGD.rules(theta, sp.Derivative(C, theta, evaluate=False))]
    steps = []
    if rule is update.MOMENTUM_SGD:  # its rule is the one the words on momentum show: numbered there
        momentum_rule = numbered(momentum_rule)
    elif rule is not update.SGD:
        steps = numbered([eqn(target, rhs, rel=r"\leftarrow")
                          for target, rhs in rule.rules(theta, sp.Derivative(C, theta, evaluate=False))])
    values = [(h.symbol, hyper[h.option]) for h in rule.hyperparameters]
    decay = None
    if d.net.l2:
        Wd = sp.IndexedBase("W")[i, j]
        decay = eqn(sp.Derivative(l2_penalty([Wd]), Wd, evaluate=False), regularisers.decay(Wd))
    return UpdateSection(rules, batch, rule, steps, values, decay, momentum_rule)


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
        paths = [[(s, ex.num(s.value)) for s in p if s.value != 1] for p in c.shown_paths]
        more = c.n_paths - len(paths) if paths else 0
        decay = (float(net.l2), ex.num(c.param)) if c.decay != 0 else None
        numbers.append(WorkedChain(c.param, paths, more, decay, ex.gradient(c.param)))
    deltas = [(dl.symbol, v) for dl, v in ex.deltas if len(ex.deltas) <= 3 * PER_NEURON_UP_TO or dl.symbol in
              {c.delta for c in chains}]
    shown = set(m.params) if net.n_params <= ALL_PARAMS_UP_TO else set(chosen)
    worked_steps = _training_steps(d, values, rule, hyper, shown, ex)
    mu = hyper.get("momentum") if rule.name == "momentum" else None
    L, j = net.depth, sp.Symbol("j", integer=True, positive=True)
    sample = Grid(j, [(base("a", 0, L)[j], [ex.num(s) for s in few(m.x)]),
                      (base("y", None, L)[j], [ex.num(s) for s in few(m.y)])], truncated)
    columns = []
    for k in range(1, L + 1):
        columns.append((base("h", k, L)[j], [ex.num(s) for s in few(m.h[k])]))
        if m.a[k] != m.h[k]:  # an identity layer's a is its h
            columns.append((base("a", k, L)[j], [ex.num(s) for s in few(m.a[k])]))
    by_delta = {dl.symbol: v for dl, v in ex.deltas}
    delta_columns = [(base("delta", k, L)[j], [by_delta[dl] for dl in few([d.delta(h).symbol for h in m.h[k]])])
                     for k in range(L, 0, -1)]
    return WorkedSection(ex, given, forward, ex.error, numbers, deltas, worked_steps[0].rows, values.learning_rate,
                         mu, truncated, worked_steps, rule, [(h.symbol, hyper[h.option]) for h in rule.hyperparameters],
                         sample, Grid(j, columns, truncated), Grid(j, delta_columns, truncated),
                         UPDATE_LABEL if rule is update.SGD else OPTIMIZER_LABEL)


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
