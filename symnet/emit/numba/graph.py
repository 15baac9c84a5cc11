"""Numba training kernels for a graph of nodes: ``symnet codegen net.toml`` of a residual, tied, concatenated
or softmax-inside network.

One layout, the batch's: every node's step over the batch's rows, printed from the graph's index form
(:mod:`symnet.derivation.rules`) as structured statements (:mod:`symnet.emit.numba.statements`) —

* forward, node by node: a sum Σᵢ W[i, j]·a[i] over a layer is one BLAS product of the batch (``_dot``, or
  ``_dot_t`` for a tied decoder's Wᵀ; a block of W's rows or columns where the sum covers a block), what is
  left of the node's definition a loop over (r, j); a normalised exponential (a softmax) shifted by its row's
  largest exponent, so that nothing overflows;
* the loss of each row, its logarithms taken of the logits (``log ŷ = h − lse``);
* every delta, from the output down, its sums over a layer again products (Δ·Wᵀ), and every parameter's
  gradient summed over the batch (one product AᵀΔ for each node that reads the weight, so a tied weight's
  two uses are two products into one array);
* the update rule of :mod:`symnet.derivation.update`, printed for every parameter array.

The module contract is the layer list's (README.md, "Architecture"), with ``PARAMS`` (the parameters' names
in ``init_params``' order) and ``SHAPES``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

import sympy as sp

from symnet.derivation import update
from symnet.derivation.rules import GE, GraphRules, rules
from symnet.emit.numba.parts import Block, Kernel
from symnet.emit.numba.printer import KernelPrinter, helpers, vector_math_pieces
from symnet.emit.numba.stable import loss_from_logits, shifted_log_sum_exp, shifted_softmax, softmax_total
from symnet.emit.numba.statements import AddAssign, Assign, Branch, Call, StatementPrinter, hoisted, loop
from symnet.emit.numba.updates import param_updates
from symnet.emit.templates import python_environment, tidy_python
from symnet.errors import InputError
from symnet.files import shell_word
from symnet.functions.activations import init_scheme
from symnet.functions.initialisation import FAN_IN, FAN_OUT, SCHEMES
from symnet.functions.layers import DENSE, WEIGHT, kind
from symnet.functions.layers.indices import i, j, l, q
from symnet.functions.regularisers import l2_penalty, lam
from symnet.spec import Graph, GraphError
from symnet.spec.graph import INPUT, TARGET

DTYPES = ("float64", "float32")
#: the row of the batch every per-sample array is indexed by first
ROW = sp.Symbol("r", integer=True, nonnegative=True)
INV_M = sp.Symbol("inv_m", positive=True)
#: the batch's number of rows
B = sp.Symbol("B", integer=True, positive=True)
#: the sums the steps add to: the batch's loss, the L2 term
TOTAL, PENALTY = sp.Symbol("E"), sp.Symbol("penalty")
#: the indices the index form's rules use, each a loop variable of the kernel
INDICES = (i, j, l, q, *sp.symbols("s t u v w", integer=True, positive=True))


def checked_graph(graph: Graph) -> Graph:
    """A graph rebuilt from its own spec text: one that was tampered with after construction cannot put text of
    its own into the module."""
    if not isinstance(graph, Graph):
        raise InputError(f"expected a Graph, got {type(graph).__name__}")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(graph.to_toml())
        fresh = Graph.build(data["inputs"], data["nodes"], data.get("penalty", {}).get("l2", 0.0), title=graph.title)
    except (GraphError, KeyError, TypeError, ValueError) as e:
        raise InputError(f"invalid graph: {e}") from None
    if fresh.nodes != graph.nodes or fresh.l2 != graph.l2 or fresh.inputs != graph.inputs:
        raise InputError(f"invalid graph: {graph!r}")
    return graph


def generate_graph(graph: Graph, dtype: str = "float64", *, output: str = "OUT.py", optimizer: str = "sgd",
                   command: str | None = None) -> str:
    """The source of a kernel module for a graph spec (module contract: README.md, "Architecture")."""
    from symnet.version import __version__

    graph = checked_graph(graph)
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    rule = update.optimizer(optimizer)
    rule = update.SGD if rule.name in update.CLASSIC else rule  # one kernel for both, μ given per call
    kernel = GraphBatch(graph, dtype).kernel(rule)
    names = tuple(p.name for p in graph.params)
    state = [f"{s.name}{n}" for s in rule.state for n in names]
    updates = param_updates([(p.name, len(p.shape), kernel.extents(p.shape)) for p in graph.params], rule, dtype,
                            kernel.updated)
    command = command or (f"symnet codegen {graph.arguments()} -o {shell_word(output)} --dtype {dtype}"
                          + (f" --optimizer {rule.name}" if rule != update.SGD else ""))
    template = python_environment().get_template("graph.py.j2")
    return tidy_python(template.render(
        k=kernel, graph=graph, version=__version__, command=command, params=names, grads=[f"g{n}" for n in names],
        velocity=[f"v{n}" for n in names], state_arrays=state, updates=updates, optimizer=rule, classic=update.CLASSIC,
        hyper_defaults={h.option: h.default for h in rule.hyperparameters}, spec=graph.to_toml(),
    ))


@dataclass
class GraphKernel(Kernel):
    """A graph's kernel: the layer list's blocks, and what a graph adds (its parameters' shapes and schemes,
    its widths as the module's constants)."""

    shapes: list[str] = field(default_factory=list)
    init: list[dict] = field(default_factory=list)
    widths: list[tuple[str, int]] = field(default_factory=list)
    inputs: str = "N0"
    outputs: str = "N0"
    printer: KernelPrinter | None = None
    #: the epoch's backward pass with each weight's products written into its update (sgd, momentum; no L2)
    into_update: list[Block] | None = None
    #: the weights whose update BLAS writes (their update loops then only add the velocity, or nothing)
    updated: set[str] = field(default_factory=set)
    #: the gradient arrays that loops sum into, set to 0 at each batch's start
    zero: list[Block] = field(default_factory=list)
    #: each width's name and the array dimension that holds it, which the compiled functions loop to
    read_widths: list[tuple[str, str]] = field(default_factory=list)
    #: the cost is the batch's sum of the samples' errors (``reduction='sum'``), not their mean; L2 once
    summed: bool = False

    def extents(self, shape: tuple[int, ...]) -> list[tuple[str, str]]:
        """The loops over a parameter array's entries: (i, rows), (j, columns), or (j, entries)."""
        codes = [c.strip() for c in _shape_codes(shape, self.widths)]
        return [("i", codes[0]), ("j", codes[1])] if len(shape) == 2 else [("j", codes[0])]


def _shape_codes(shape: tuple[int, ...], widths: list[tuple[str, int]]) -> list[str]:
    by_value: dict[int, str] = {}
    for name, value in widths:
        by_value.setdefault(value, name)
    return [by_value.get(d, str(d)) for d in shape]


class GraphBatch:
    """The graph's steps over a batch, as blocks of printed statements."""

    def __init__(self, graph: Graph, dtype: str):
        self.g, self.dtype = graph, dtype
        self.r: GraphRules = rules(graph)
        r = self.r
        # every width symbol of the index form is a constant of the module: n2 → N2
        self.sizes: dict[sp.Symbol, int] = {}
        for name, w in r.widths.items():
            if isinstance(w, sp.Symbol) and name in graph.widths:
                self.sizes[w] = graph.widths[name]
        names: dict[sp.Symbol, str] = {INV_M: "inv_m", lam: "L2", B: "B", TOTAL: "E", PENALTY: "penalty"}
        names.update({w: f"N{w.name[1:]}" for w in self.sizes})
        self.per_sample: set[str] = set()
        arrays = {}
        for name, array in r.arrays.items():
            label = str(array.label)
            if name in graph.by_name and kind(graph.by_name[name].kind).is_loss:
                continue
            if name == INPUT:
                arrays[label] = lambda idx: f"X[start + r, {idx[0]}]"
            elif name == TARGET:
                arrays[label] = lambda idx: f"Y[start + r, {idx[0]}]"
            else:
                self.per_sample.add(label)
        for node in graph.nodes:
            if node.kind == DENSE.name:
                self.per_sample.add(str(r.delta_array(node.name).label))
        for label in self.per_sample:
            arrays[label] = (lambda label: lambda idx: f"{label}[r, {idx[0]}]")(label)
        for p in graph.params:
            arrays[p.name] = (lambda n: lambda idx: f"{n}[{', '.join(idx)}]")(p.name)
            arrays[f"g{p.name}"] = (lambda n: lambda idx: f"g{n}[{', '.join(idx)}]")(p.name)
        self.printer = StatementPrinter(names=names, arrays=arrays, index_names={ROW, *INDICES}, vector=True,
                                        dtype=dtype)
        self.acc = count()
        #: each softmax node's log-sum-exp, per row (the loss's logarithms read it)
        self.lse: dict[str, sp.Expr] = {}
        self.workspace: list[tuple[str, str]] = []
        #: a width's name → the first workspace array that many columns wide
        self.width_arrays: dict[str, str] = {}
        self.extra: set[str] = set()
        self.products = 0

    # -- names and views -----------------------------------------------------------------------------------
    def code(self, e: sp.Expr) -> str:
        return self.printer.doprint(e)

    def width_of(self, name: str) -> sp.Expr:
        return self.r.widths[name]

    def view(self, label: str, offset: sp.Expr = sp.S.Zero, extent: sp.Expr | None = None) -> str:
        """The batch's rows of a per-sample array (X's rows start..stop-1), or a block of their columns."""
        rows = "X[start:stop" if label == "x" else f"{label}[:B"
        if offset == 0 and extent is None:
            return rows + "]"
        return f"{rows}, {self.code(offset)}:{self.code(offset + extent)}]"

    def weight(self, label: str, rows: tuple[sp.Expr, sp.Expr] | None, cols: tuple[sp.Expr, sp.Expr] | None) -> str:
        """A weight, or a block of it: rows (offset, extent) and columns likewise, None for all."""
        shape = self.g.param[label].shape
        n_rows, n_cols = shape
        parts = []
        for span, whole in ((rows, n_rows), (cols, n_cols)):
            if span is None or span[0] == 0 and self._value(span[1]) == whole:
                parts.append(":")
            else:
                start = "" if span[0] == 0 else self.code(span[0])
                parts.append(f"{start}:{self.code(span[0] + span[1])}")
        return label if parts == [":", ":"] else f"{label}[{', '.join(parts)}]"

    def _value(self, e: sp.Expr) -> int | None:
        v = sp.sympify(sp.sympify(e).xreplace(self.sizes))
        return int(v) if v.is_Integer else None

    def array(self, label: str, width: sp.Expr) -> None:
        """A per-sample array of the workspace: one row per sample of the batch."""
        if label not in self.extra:
            self.extra.add(label)
            self.workspace.append((label, f"(rows, {self.code(width)})"))
            self.width_arrays.setdefault(self.code(width), label)

    # -- the steps -----------------------------------------------------------------------------------------
    def kernel(self, optimizer: update.Optimizer = update.SGD) -> GraphKernel:
        g, r = self.g, self.r
        for node in g.nodes[:-1]:
            self.array(str(r.nodes[node.name].out.label), self.width_of(node.name))
        for node in g.nodes:
            if node.kind == DENSE.name:
                self.array(str(r.delta_array(node.name).label), self.width_of(node.name))
        forward = fused([self.forward(node) for node in g.nodes[:-1]], self.printer)
        loss = fused([self.loss()], self.printer)
        accumulated: list[str] = []
        backward = fused(self.backward(lambda name: self.gradient(name, accumulated)), self.printer)
        zero = fused([_Step([f"the batch's sums start at 0: {', '.join(accumulated)}"], other=[
            self._zero(name[1:]) for name in accumulated])], self.printer) if accumulated else []
        into = None
        if optimizer.name in update.CLASSIC and not g.l2:
            # the epoch writes each weight's products straight into its update (no gradient array in between)
            into = fused(self.backward(lambda name: self.gradient(name, [], into_update=True)), self.printer)
        pred = r.nodes[g.prediction].out
        self.printer.arrays["Yhat"] = lambda idx: f"Yhat[start + r, {idx[0]}]"
        store = fused([_Step(["ŷ of the batch into Yhat"], rows=(self.width_of(g.prediction), [
            Assign(sp.IndexedBase("Yhat", real=True)[j], pred[j])]))], self.printer)
        used, math = helpers(self.printer.helpers, True, self.dtype)
        widths = sorted({(f"N{w.name[1:]}", v) for w, v in self.sizes.items()}, key=lambda t: int(t[0][1:]))
        return GraphKernel(
            g, "graph", self.dtype, False, self.workspace, forward, loss, backward, store, accumulated, used,
            vector=vector_math_pieces(self.dtype), vector_math=math | self.printer.vector_math,
            penalty=self.penalty(), decay=self.decay(), summed=g.reduction == "sum",
            shapes=[f"({', '.join(_shape_codes(p.shape, widths))}{',' if len(p.shape) == 1 else ''})" for p in g.params],
            init=self.init(widths), widths=widths, inputs=self.code(self.width_of(INPUT)),
            outputs=self.code(self.width_of(g.prediction)), printer=self.printer, into_update=into, zero=zero,
            updated={name for name, pr in r.params.items() if len(pr.index) == 2 and into is not None
                     and self._products_of_uses(name) is not None},
            read_widths=[(name, "X.shape[1]" if name == self.code(self.width_of(INPUT)) else
                          f"{self.width_arrays[name]}.shape[1]") for name, _ in widths
                         if name == self.code(self.width_of(INPUT)) or name in self.width_arrays])

    def backward(self, gradient) -> list["_Step"]:
        """The deltas from the output down, each followed by the gradients summed from it alone in a loop over its
        entries (a bias: its loop then joins the delta's), then the weights' (whose products must wait for every
        delta that reads the weight)."""
        out, later = [], []
        reads_one = {name: {str(d.base.label) for _, u in pr.uses for d in u.atoms(sp.Indexed)}
                     for name, pr in self.r.params.items()}
        for delta in self.r.deltas:
            out.append(self.delta(delta))
            label = str(self.r.delta_array(delta).label)
            for name, pr in self.r.params.items():
                if len(pr.index) == 1 and reads_one[name] == {label}:
                    out.append(gradient(name))
        done = {n for n, pr in self.r.params.items() if len(pr.index) == 1 and len(reads_one[n]) == 1
                and reads_one[n] <= {str(self.r.delta_array(d).label) for d in self.r.deltas}}
        later = [gradient(name) for name in self.r.params if name not in done]
        return out + later

    def forward(self, node) -> "_Step":
        rule = self.r.nodes[node.name]
        layer = kind(node.kind)
        out = rule.out
        comment = [f"{node.name} = {layer.describe(node)}: " + "; ".join(
            f"{sp.sstr(out[seg.offset + seg.index])} = {sp.sstr(seg.value)}" for seg in rule.forward)]
        if len(rule.forward) == 1 and _normalised_exponential(rule.forward[0].value):
            return self.softmax(node, comment)
        pre, rows, other = [], None, []
        for seg in rule.forward:
            value = seg.value.xreplace({seg.index: j})
            target = out[seg.offset + j] if seg.offset != 0 else out[j]
            calls, value = self.products_of(value, str(out.label), seg.extent, seg.offset, first=not pre)
            pre += calls
            if value == target:
                continue  # the product itself
            sums, value = hoisted(value, self.acc)
            if rows is None and len(rule.forward) == 1:
                rows = (seg.extent, [*sums, Assign(target, value)])
            else:
                other.append(loop(ROW, B, loop(j, seg.extent, *sums, Assign(target, value))))
        return _Step(comment, pre, rows, other)

    def softmax(self, node, comment: list[str]) -> "_Step":
        """A normalised exponential e^{u(j)}/Σₗ e^{u(l)}, shifted by its row's largest exponent: its terms into
        the output's row, their sum S, lse = M + log S (kept per row for the loss), then each term over S."""
        rule = self.r.nodes[node.name]
        out, n = rule.out, self.width_of(node.name)
        definition = rule.definition(j)
        total = softmax_total(definition)
        (var, _, _), = total.limits
        exponent = total.function.args[0]
        hmax, S = sp.Symbol(f"hmax_{out.label}", real=True), sp.Symbol(f"S_{out.label}", positive=True)
        lse = sp.IndexedBase(f"lse_{out.label}", real=True)
        for s in (hmax, S):
            self.printer.names[s] = s.name
        # one per row: the loss takes log ŷ as its exponent minus lse
        self.printer.arrays[str(lse.label)] = (lambda label: lambda idx: f"{label}[{idx[0]}]")(str(lse.label))
        self.workspace.append((str(lse.label), "(rows,)"))
        log_total = shifted_log_sum_exp(total, hmax)
        shifted_total = next(e for e in sp.preorder_traversal(log_total) if isinstance(e, sp.Sum))
        shifted = shifted_softmax(definition, hmax)
        term = next(e for e in sp.preorder_traversal(sp.fraction(shifted)[0]) if isinstance(e, sp.exp))
        body = [Assign(hmax, exponent.xreplace({var: 0})),
                loop(var, n, Assign(hmax, sp.Max(hmax, exponent)), start=1),
                loop(var, n, Assign(out[var], term.xreplace({j: var}))),
                # their sum in a loop of its own: a sum's loop cannot be vectorised without reordering its additions
                Assign(S, sp.Float(0.0)), loop(var, n, AddAssign(S, out[var])),
                Assign(lse[ROW], log_total.xreplace({shifted_total: S})),
                loop(j, n, Assign(out[j], shifted.xreplace({softmax_total(shifted): S, term: out[j]})))]
        comment.append("  as exp(u - hmax)/S, S = Σ exp(u - hmax), lse = hmax + log S: u the exponent, hmax its row's "
                       "largest (no overflow)")
        self.lse[node.name] = lse[ROW]
        return _Step(comment, other=[loop(ROW, B, *body)])

    def loss(self) -> "_Step":
        g, r = self.g, self.r
        rule = r.nodes[g.loss_node.name]
        total = rule.forward[0].value
        pred = r.nodes[g.prediction]
        stable = total
        if total.has(sp.log):
            outputs = {}
            definition = pred.definition(q) if len(pred.forward) == 1 else None
            if g.prediction in self.lse:
                lse = self.lse[g.prediction]
                outputs = {pred.out[q]: sp.powsimp(definition.xreplace({softmax_total(definition): sp.exp(lse)}))}
            elif definition is not None and kind(g.by_name[g.prediction].kind).elementwise:
                outputs = {pred.out[q]: definition}
            stable = loss_from_logits(total, outputs)
        comment = [f"loss of each row: {sp.sstr(total)}"] + ([f"  from the logits: {sp.sstr(stable)}"]
                                                              if stable != total else [])
        sums, value = hoisted(stable, self.acc)
        return _Step(comment, other=[loop(ROW, B, *sums, AddAssign(TOTAL, value))])

    def delta(self, name: str) -> "_Step":
        d = self.r.deltas[name]
        expr = d.scaled.subs(GE, INV_M)
        target = d.delta
        comment = [f"δ of {name} = ∂E/∂{name}: {sp.sstr(d.rule.lhs)} = {sp.sstr(d.rule.rhs)}"]
        if d.reaches_loss and self.g.reduction == "mean":
            comment.append("  times 1/m: E is the mean over the m samples of the batch, so every ∂E/∂θ below is too")
        elif d.reaches_loss:
            comment.append("  times inv_m = 1: E is the sum over the m samples of the batch (reduction='sum')")
        calls, expr = self.products_of(expr, str(target.label), self.width_of(name), sp.S.Zero, first=True)
        rows = None
        if expr != target[j]:
            sums, value = hoisted(expr, self.acc)
            rows = (self.width_of(name), [*sums, Assign(target[j], value)])
        return _Step(comment, calls, rows)

    def _products_of_uses(self, name: str) -> list | None:
        """(scalar, U, V) for each use of a weight when every one is an outer product of two rows, else None."""
        pr = self.r.params[name]
        if len(pr.index) != 2:
            return None
        products = [self._outer(u.subs(GE, INV_M)) for _, u in pr.uses]
        return products if all(p is not None for p in products) else None

    def gradient(self, name: str, accumulated: list[str], into_update: bool = False) -> "_Step":
        """∂E/∂P over the batch into gP: one product UᵀV per use that is an outer product of two rows, else loops
        (a bias: its delta summed over the rows).  ``into_update``: a weight's products written straight into its
        update by BLAS, C ← α·UᵀV + β·C with α and β read off the update rule (sgd or momentum)."""
        pr = self.r.params[name]
        G = sp.IndexedBase(f"g{name}", real=True)
        comment = [f"∂E/∂{name}[{', '.join(map(str, pr.index))}] = {sp.sstr(pr.gradient)}"]
        uses = [u.subs(GE, INV_M) for _, u in pr.uses]
        products = self._products_of_uses(name)
        if products is not None:
            calls = []
            if into_update:
                (sgd_a, sgd_b), (vel_a, vel_b) = self._linear(name)
                sgd = [Call("_gemm_tn", U, V, name, self._scaled(sgd_a, c), sgd_b if n == 0 else self.printer.number("1.0"))
                       for n, (c, U, V) in enumerate(products)]
                vel = [Call("_gemm_tn", U, V, f"v{name}", self._scaled(vel_a, c), vel_b if n == 0 else
                            self.printer.number("1.0")) for n, (c, U, V) in enumerate(products)]
                comment.append("  summed over the batch by one product per use, written by BLAS straight into the "
                               "update (velocity with momentum, else the weight)")
                return _Step(comment, [Branch("use_velocity", vel, sgd)])
            for n, (scalar, U, V) in enumerate(products):
                beta = self.printer.number("0.0" if n == 0 else "1.0")
                calls.append(Call("_gemm_tn", U, V, f"g{name}", self._scaled(self.printer.number("1.0"), scalar), beta))
            comment.append("  summed over the batch: one matrix product per node that reads it")
            return _Step(comment, calls)
        accumulated.append(f"g{name}")
        body = []
        for u in uses:
            sums, value = hoisted(u, self.acc)
            body += [*sums, AddAssign(G[pr.index], value)]
        if len(pr.index) == 1:
            return _Step(comment, rows=(self._param_extents(name)[0], body))
        extents = self._param_extents(name)
        return _Step(comment, other=[loop(ROW, B, loop(i, extents[0], loop(j, extents[1], *body)))])

    def _zero(self, name: str) -> sp.Basic:
        """gP ← 0, entry by entry."""
        G, index, extents = sp.IndexedBase(f"g{name}", real=True), self.r.params[name].index, self._param_extents(name)
        statement = Assign(G[index], sp.Float(0.0))
        return loop(j, extents[-1], statement) if len(index) == 1 else loop(i, extents[0], loop(j, extents[1], statement))

    def _scaled(self, alpha: str, scalar: sp.Expr) -> str:
        return alpha if scalar == 1 else f"{alpha}*{self.code(scalar)}"

    def _linear(self, name: str) -> tuple[tuple[str, str], tuple[str, str]]:
        """(α, β) of sgd's θ ← α·g + β·θ and of momentum's v ← α·g + β·v, read off symnet.derivation.update's
        rules (linear in g), printed."""
        p = KernelPrinter(names={update.alpha: "lr", update.mu: "momentum"}, dtype=self.dtype)
        theta, g, v = (sp.Symbol(f"{pre}{name}", real=True) for pre in ("", "g", "v"))
        rules = update.rules(theta, g, v)
        out = []
        for key, target in (("sgd", theta), ("velocity", v)):
            alpha_, beta_ = rules[key].diff(g), rules[key].diff(target)
            if sp.expand(alpha_ * g + beta_ * target - rules[key]) != 0 or (alpha_ * beta_).has(theta, g, v):
                raise ValueError(f"the {key} rule {rules[key]} is not α·g + β·{target}: BLAS cannot apply it")
            out.append(tuple(p.number(repr(float(c))) if c.is_Number else p.doprint(c) for c in (alpha_, beta_)))
        return out[0], out[1]

    def _param_extents(self, name: str) -> list[sp.Expr]:
        """A parameter array's loops' extents: a dense layer's in its widths' symbols, another kind's by size."""
        node = self.g.owner(name)
        if node.kind == DENSE.name:
            n_in, n_out = self.width_of(node.inputs[0]), self.width_of(node.name)
            return [n_in, n_out] if self.g.param[name].role == WEIGHT else [n_out]
        by_size = {}
        for w, v in sorted(self.sizes.items(), key=lambda item: item[0].name):
            by_size.setdefault(v, w)
        return [by_size[d] for d in self.g.param[name].shape]

    def _outer(self, e: sp.Expr) -> tuple[sp.Expr, str, str] | None:
        """(scalar, U, V): the batch's views whose product UᵀV sums e = scalar·u[i]·v[j] over the rows."""
        factors = sp.Mul.make_args(e)
        scalar = sp.Mul(*(f for f in factors if not f.has(sp.Indexed)))
        arrays = [f for f in factors if f.has(sp.Indexed)]
        if len(arrays) != 2 or not all(isinstance(f, sp.Indexed) and str(f.base.label) in self.per_sample | {"x"}
                                       for f in arrays):
            return None
        by = {}
        for f in arrays:
            for index in (i, j):
                off = f.indices[0] - index
                if not off.has(index) and not off.free_symbols & {i, j}:
                    by[index] = (f, off)
        if set(by) != {i, j}:
            return None
        if any(off != 0 for _, off in by.values()):
            return None  # a block of an array's columns: summed by loops
        return scalar, self.view(str(by[i][0].base.label)), self.view(str(by[j][0].base.label))

    # -- BLAS products -------------------------------------------------------------------------------------
    def products_of(self, expr: sp.Expr, target: str, width: sp.Expr, offset: sp.Expr, first: bool
                    ) -> tuple[list, sp.Expr]:
        """Each Σ_c W[c, f]·v[c] (or W[f, c]·v[c]) in expr as one product of the batch into an array (the target
        itself for the first one over the target's own index, else an array of its own), replaced by that
        array's entry f."""
        calls: list = []
        replaced = {}
        extents = {j: width}

        def visit(e: sp.Expr) -> None:
            nonlocal first
            for s in [a for a in sp.preorder_traversal(e) if isinstance(a, sp.Sum)]:
                if s in replaced:
                    continue
                (c, lo, hi), = s.limits
                found = self._product(s)
                if found is None:
                    extents[c] = hi
                    continue
                dot, V, W, free = found
                free_var = next(iter(free.free_symbols & set(INDICES)), None)
                n = extents.get(free_var)
                if n is None:
                    continue
                if first and free_var == j and target and offset == 0:
                    out, entry = f"{target}[:B]", sp.IndexedBase(target, real=True)[free_var]
                    first = False
                else:
                    self.products += 1
                    label = f"prod{self.products}"
                    self.array(label, n)
                    self.per_sample.add(label)
                    self.printer.arrays[label] = (lambda lb: lambda idx: f"{lb}[r, {idx[0]}]")(label)
                    out, entry = f"{label}[:B]", sp.IndexedBase(label, real=True)[free_var]
                calls.append(Call(dot, V, self._weight_view(W, c, hi, free, n), out))
                replaced[s] = entry

        visit(expr)
        return calls, expr.xreplace(replaced)

    def _product(self, s: sp.Sum):
        """(dot, V view, W entry, free index) when s is Σ_c W[...]·v[c] over one weight and one per-sample entry."""
        (c, lo, hi), = s.limits
        factors = sp.Mul.make_args(s.function)
        if len(factors) != 2 or not all(isinstance(f, sp.Indexed) for f in factors):
            return None
        params = [f for f in factors if str(f.base.label) in self.g.param]
        data = [f for f in factors if str(f.base.label) in self.per_sample | {"x"}]
        if len(params) != 1 or len(data) != 1:
            return None
        (w,), (v,) = params, data
        v_off = v.indices[0] - c
        if v_off.has(c):
            return None
        a, b = w.indices
        V = self.view(str(v.base.label)) if v_off == 0 and self._covers(str(v.base.label), hi) else self.view(
            str(v.base.label), v_off, hi)
        if not (a - c).has(c):
            return "_dot", V, w, b
        if not (b - c).has(c):
            return "_dot_t", V, w, a
        return None

    def _covers(self, label: str, extent: sp.Expr) -> bool:
        name = next((n for n, arr in self.r.arrays.items() if str(arr.label) == label), None)
        return name is None or sp.simplify(self.r.widths[name] - extent) == 0

    def _weight_view(self, w: sp.Indexed, c: sp.Symbol, hi: sp.Expr, free: sp.Expr, n: sp.Expr) -> str:
        a, b = w.indices
        free_var = next(iter(free.free_symbols & set(INDICES)))
        span_c = ((a - c) if not (a - c).has(c) else (b - c), hi)
        span_f = (free - free_var, n)
        rows, cols = (span_c, span_f) if not (a - c).has(c) else (span_f, span_c)
        return self.weight(str(w.base.label), rows, cols)

    # -- L2 decay and initialisation -----------------------------------------------------------------------
    def _decayed(self) -> list[tuple[str, sp.Expr, sp.Expr, list[sp.Expr]]]:
        """Each decayed weight's name, its entry, its gradient's decay term and its loops' extents (none
        without L2)."""
        return [(name, sp.IndexedBase(name, real=True)[pr.index], pr.decay, self._param_extents(name))
                for name, pr in self.r.params.items() if self.g.l2 and pr.decay != 0]

    def _over(self, extents: list[sp.Expr], statement, comment: str, name: str) -> Block:
        """A block that applies ``statement`` to every entry of a weight."""
        return Block([comment], self.printer.lines(loop(i, extents[0], loop(j, extents[1], statement))), [], name=name)

    def penalty(self) -> list[Block]:
        return [self._over(ext, AddAssign(PENALTY, l2_penalty([W])), f"(λ/2)·Σ {name}²: {sp.sstr(l2_penalty([W]))}",
                           f"_penalty_{name}") for name, W, _, ext in self._decayed()]

    def decay(self) -> list[Block]:
        return [self._over(ext, AddAssign(sp.IndexedBase(f"g{name}", real=True)[W.indices], decay),
                           f"∂E/∂{name} gains the decay {sp.sstr(decay)}", f"_decay_{name}")
                for name, W, decay, ext in self._decayed()]

    def init(self, widths: list[tuple[str, int]]) -> list[dict]:
        """Each parameter's initial values: a weight by the scheme of the activation its layer feeds (He for
        ReLU-like ones, Glorot else), a bias zero."""
        out = []
        for p in self.g.params:
            codes = _shape_codes(p.shape, widths)
            if p.fan is None:
                out.append(dict(name=p.name, shape=f"({', '.join(codes)},)" if len(codes) == 1 else f"({', '.join(codes)})",
                                zeros=True, fill=repr(float(p.fill))))
                continue
            owner = self.g.owner(p.name)
            after = self.g.consumers(owner.name)
            act = after[0].kind if len(after) == 1 and kind(after[0].kind).elementwise else None
            scheme = SCHEMES[init_scheme(act) if act else "glorot"]
            printer = KernelPrinter(names={FAN_IN: codes[0], FAN_OUT: codes[1]})
            out.append(dict(name=p.name, shape=f"({', '.join(codes)})", zeros=False, scheme=scheme,
                            act=act or "its layer", scale=printer.doprint(scheme.scale)))
        return out


@dataclass
class _Step:
    """One step of a batch as statements: BLAS products first (``pre``), then the statements of one loop over the
    batch's rows and the units j < extent (``rows``), then statements of their own (``other``)."""

    comment: list[str]
    pre: list = field(default_factory=list)
    rows: tuple[sp.Expr, list] | None = None
    other: list = field(default_factory=list)


def fused(steps: list[_Step], printer: StatementPrinter) -> list[Block]:
    """The steps as blocks, a step's loop over (r, j) merged into the one before it where nothing comes between
    them (no product, no loop of its own), the widths agree and it reads what that loop writes only at its own
    (r, j): a dense layer's bias, its activation and a skip's sum in one pass over the batch, a bias's gradient
    summed in its delta's loop."""
    groups: list[_Step] = []
    for step in steps:
        last = groups[-1] if groups else None
        if (last is not None and not step.pre and not step.other and step.rows is not None and last.rows is not None
                and not last.other and sp.simplify(last.rows[0] - step.rows[0]) == 0
                and _independent(last.rows[1], step.rows[1])):
            last.rows = (last.rows[0], last.rows[1] + step.rows[1])
            last.comment = last.comment + step.comment
            continue
        groups.append(_Step(list(step.comment), list(step.pre), step.rows and (step.rows[0], list(step.rows[1])),
                            list(step.other)))
    blocks = []
    for step in groups:
        body = ([loop(ROW, B, loop(j, step.rows[0], *step.rows[1]))] if step.rows else []) + step.other
        blocks.append(Block(step.comment, printer.lines(*body), [], pre=printer.lines(*step.pre)))
    return blocks


def _independent(before: list, after: list) -> bool:
    """Whether ``after`` reads what ``before`` writes only at entry j (its own row's), and writes nothing it reads."""
    def targets(statements: list) -> set[str]:
        return {str(s.lhs.base.label) for s in _flat(statements) if isinstance(s, (Assign, AddAssign))
                and isinstance(s.lhs, sp.Indexed)}

    def reads(statements: list) -> list[sp.Indexed]:
        out = []
        for s in _flat(statements):
            if isinstance(s, (Assign, AddAssign)):
                out += list(s.rhs.atoms(sp.Indexed))
                if isinstance(s, AddAssign) and isinstance(s.lhs, sp.Indexed):
                    out.append(s.lhs)
        return out

    written, rewritten = targets(before), targets(after)
    if any(str(e.base.label) in written and e.indices != (j,) for e in reads(after)):
        return False
    return not any(str(e.base.label) in rewritten for e in reads(before))


def _flat(statements: list) -> list:
    """The assignments of a list of statements, those inside loops too."""
    out = []
    for s in statements:
        if isinstance(s, (Assign, AddAssign)):
            out.append(s)
        elif hasattr(s, "body"):
            out += _flat(list(s.body.args))
    return out


def _normalised_exponential(value: sp.Expr) -> bool:
    """Whether a definition is e^{u(j)} / Σₗ e^{u(l)} (a softmax, by its form)."""
    num, den = sp.fraction(value)
    return isinstance(num, sp.exp) and isinstance(den, sp.Sum) and isinstance(den.function, sp.exp)


__all__ = ["GraphBatch", "GraphKernel", "checked_graph", "generate_graph"]
