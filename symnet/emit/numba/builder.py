"""Numba training kernels from the derivation: ``symnet.generate(net)`` → the source of a module.

Three layouts of the same back-propagation, chosen by ``mode``:

* ``unrolled`` — the scalar form: one straight-line statement per neuron, delta and weight for each
  sample, common subexpressions eliminated by ``sympy.cse``.  Fastest for tiny nets, but Numba's
  compile time grows with the number of statements, so only for small ones.
* ``indexed`` — the layer form (:mod:`symnet.derivation.layer_form`), width-independent:
  ``loops`` per sample over i, j for narrow layers, or ``gemm``: the whole mini-batch at once, every
  Σ over a layer a BLAS matrix product (SciPy's ``dgemm``/``sgemm`` from ``@njit`` code) for wide ones.
* ``auto`` — unrolled where it compiles in about two seconds and runs faster, else indexed.

Every formula printed into the module comes from the derivation through :mod:`symnet.emit.numba.printer`;
the Jinja2 template ``templates/kernel.py.j2`` holds the layout: functions, loops, comments.
"""
from __future__ import annotations

import ast

import sympy as sp

from symnet.derivation import update
from symnet.files import shell_word
from symnet.emit.numba import steps
from symnet.emit.numba.graph import checked_graph, generate_graph
from symnet.emit.numba.threads import thread_phases
from symnet.emit.numba.parts import Block, Kernel, array_names
from symnet.emit.numba.updates import fused_updates, into_update, update_blocks, update_statements
from symnet.emit.numba.printer import Emitter, KernelPrinter, helpers, vector_math_pieces
from symnet.derivation.chains import Derivation, derive
from symnet.errors import InputError
from symnet.derivation.layer_form import base, i, j, l, q, width
from symnet.functions.activations import ACTIVATION_CLASSES, SOFTMAX, init_scheme
from symnet.functions.initialisation import FAN_IN, FAN_OUT, SCHEMES
from symnet.functions.losses import LOSSES
from symnet.functions.regularisers import l2_penalty, lam
from symnet.derivation.names import parse_name
from symnet.spec import Graph, Network, SpecError
from symnet.emit.numba.stable import (complement_log, in_complements, loss_from_logits, loss_in_complements,
                                      shifted_log_sum_exp, shifted_softmax, softmax_from_lse, softmax_rule_in_complements,
                                      softmax_total)
from symnet.emit.templates import python_environment, tidy_python

MODES = ("auto", "unrolled", "indexed")
#: what ``mode`` resolves to; ``loops`` and ``gemm`` may also be asked for by name
LAYOUTS = ("unrolled", "loops", "gemm")
DTYPES = ("float64", "float32")

#: auto: unrolled up to this many parameters (its compile time grows with them; see ``choose_layout``)
UNROLLED_MAX_PARAMS = 60
#: layers with weights a kernel may have: its code grows with every layer and Numba's compile time
#: faster than that (8 hidden layers of 8: 22 s, 16: 72 s on 2 shared cores; 50 layers hit Numba's
#: recursion limit), so deeper nets are refused rather than left compiling for many minutes
MAX_KERNEL_LAYERS = 32
#: unrolled on request: above this many parameters its statements take Numba minutes to compile (16-16-4,
#: 340 parameters, takes 19 s) and SymPy's cse gigabytes, so it is refused
UNROLLED_LIMIT = 1_000
#: indexed: per-sample loops while every layer is at most this wide and the net this small, then gemm
LOOPS_MAX_WIDTH = 16
LOOPS_MAX_PARAMS = 300

LAYOUT_NOTES = {
    "unrolled": "unrolled: straight-line code per sample from the scalar form, after sympy.cse",
    "loops": "indexed: the layer form, loops over i, j per sample",
    "gemm": "indexed: the layer form, whole mini-batches, every layer sum a BLAS matrix product (gemm)",
}


def choose_layout(net: Network, mode: str = "auto") -> str:
    """The layout ``mode`` stands for on this network.

    Measured with ``benchmarks/kernels.py --crossover`` (2 shared cores; compile = the first
    ``train_epoch`` in a fresh process; ns per sample at batch 1 / 32):

    ======== ====== ===================== ===================== =====================
    net      params unrolled              loops                 gemm
    ======== ====== ===================== ===================== =====================
    2-8-3        51 2.1 s,  86 / 70       1.2 s,  98 / 84       1.7 s, 551 / 92
    4-8-3        67 2.6 s,  94 / 76       1.4 s, 114 / 95       3.1 s, 556 / 91
    2-16-3       99 3.7 s, 134 / 101      1.3 s, 155 / 122      1.7 s, 569 / 109
    8-16-4      212 8.7 s, 384 / 312      1.4 s, 431 / 363      2.0 s, 821 / 289
    16-16-4     340 19 s,  500 / 370      1.5 s, 561 / 439      2.1 s, 902 / 279
    ======== ====== ===================== ===================== =====================

    Unrolled code runs 10–25 % faster than loops but its compile time grows with the parameter
    count (about n^1.3 here; 64-32-10 would take minutes), so auto takes it up to 60 parameters,
    where it compiles in about 2 s.  Indexed code compiles in 1–2 s at any width; per-sample loops
    win at small batches and narrow layers, batch matrix products (gemm) from 16-wide layers at
    batch 32 and everywhere wider.
    """
    if mode not in MODES + LAYOUTS[1:]:
        raise InputError(f"unknown mode {mode!r}; allowed: {', '.join(MODES)}")
    if mode == "unrolled" and net.n_params > UNROLLED_LIMIT:
        raise InputError(f"--mode unrolled writes straight-line code per parameter; {net.compact} has "
                         f"{net.n_params:,} parameters, over the {UNROLLED_LIMIT:,} it handles: use --mode indexed")
    if mode in LAYOUTS:
        return mode
    if mode == "auto" and net.n_params <= UNROLLED_MAX_PARAMS:
        return "unrolled"
    narrow = max(net.layers) <= LOOPS_MAX_WIDTH and net.n_params <= LOOPS_MAX_PARAMS
    return "loops" if narrow else "gemm"


def generate(net: Network | Graph | Derivation | str, mode: str = "auto", dtype: str = "float64", *,
             output: str = "OUT.py", optimizer: str = "sgd") -> str:
    """The source of a kernel module for ``net`` (module contract: README.md, "Architecture"), printed
    from its derivation (the one given, or a new one).  ``optimizer``: the rule ``train_epoch`` applies
    (symnet.derivation.update); sgd and momentum share one kernel, μ chosen per call.

    ``output`` only names the file in the header's regeneration command.  Same arguments, same bytes.
    """
    if isinstance(net, str):
        from symnet.spec import load

        net = load(net)
    if isinstance(net, Graph) or isinstance(net, Derivation) and isinstance(net.net, Graph):
        graph = net if isinstance(net, Graph) else net.net
        if mode not in ("auto", "indexed"):
            raise InputError(f"--mode {mode} is a layer list's; a graph's kernel has one layout, the batch's "
                             f"(--mode auto or indexed)")
        return generate_graph(graph, dtype, output=output, optimizer=optimizer)
    rule = update.optimizer(optimizer)
    rule = update.SGD if rule.name in update.CLASSIC else rule  # one kernel for both, μ given per call
    d = net if isinstance(net, Derivation) else derive(checked_network(net))
    net = checked_network(d.net)
    if net.depth > MAX_KERNEL_LAYERS:
        raise InputError(f"{net.compact} has {net.depth} layers with weights; kernels are generated for at most "
                         f"{MAX_KERNEL_LAYERS} (compile time grows faster than the depth)")
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    layout = choose_layout(net, mode)
    kernel = _build(d, layout, dtype)
    return render(kernel, mode=mode, output=output, optimizer=rule)


def render(kernel: Kernel, *, mode: str, output: str, optimizer: update.Optimizer = update.SGD) -> str:
    from symnet.version import __version__

    net = kernel.net
    template = python_environment().get_template("kernel.py.j2")
    L = net.depth
    init = init_layers(net)
    command = " ".join([f"symnet codegen {net.arguments()} -o {shell_word(output)} --mode {mode}",
                        f"--dtype {kernel.dtype}"] + ([f"--optimizer {optimizer.name}"] if optimizer != update.SGD else []))
    state = [f"{s.name}{p}" for s in optimizer.state for p in array_names("", L)]
    fused_into = into_update(kernel, optimizer)
    updates = update_blocks(update_statements(L, optimizer, kernel.dtype), optimizer,
                            fused_into["layers"] if fused_into else set())
    more = (fused_into["backward"] if fused_into else []) + [b for u in updates for b in u.values() if b]
    scalars = (["lr", "momentum", "use_velocity"] if optimizer.name in update.CLASSIC
               else ["lr", *(h.option for h in optimizer.hyperparameters), "step"])
    threaded = thread_phases(kernel, fused_into["backward"] if fused_into else kernel.backward, scalars,
                             state) if kernel.layout == "gemm" else None
    return unique_functions(tidy_python(template.render(
        k=kernel, net=net, version=__version__, command=command, note=LAYOUT_NOTES[kernel.layout],
        L=L, init=init, widths=[(f"N{n}", size) for n, size in enumerate(net.layers)],
        params=array_names("", L), grads=array_names("g", L), velocity=array_names("v", L), updates=updates,
        optimizer=optimizer, classic=update.CLASSIC, state_arrays=state, fused=fused_updates(kernel),
        into_update=fused_into,
        threaded=threaded,
        steps=steps.gemm_steps(kernel.forward + kernel.loss + kernel.backward + kernel.penalty + kernel.decay + more,
                               net.depth, {h.option for h in optimizer.hyperparameters}) if kernel.layout == "gemm" else [],
        hyper_defaults={h.option: h.default for h in optimizer.hyperparameters},
    )))


def unique_functions(source: str) -> str:
    """``source`` (a generated module), once no two of its functions share a name: a defined activation's
    helper is ``_`` and its name, which could be one of the module's own (``_forward``, a step such as
    ``_layer1``, the GPU module's ``_step``); the later one would replace the other."""
    names = [node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)]
    clash = sorted({name for name in names if names.count(name) > 1})
    if clash:
        raise InputError(f"the defined function {clash[0][1:]!r} would be the kernel's own function {clash[0]}: "
                         f"define it under another name")
    return source


def init_layers(net: Network) -> list[dict]:
    """Each layer's initial-weight scheme (symnet.functions.initialisation) with its scale printed."""
    init = []
    for k in range(1, net.depth + 1):
        act = net.activations[k - 1]
        scheme = SCHEMES[init_scheme(act)]
        printer = KernelPrinter(names={FAN_IN: f"N{k - 1}", FAN_OUT: f"N{k}"})
        init.append(dict(k=k, act=act, scheme=scheme, scale=printer.doprint(scheme.scale)))
    return init


def checked_network(net: Network | Graph | str) -> Network | Graph:
    """A network whose every field was validated: a spec that was tampered with after construction
    (or built around the validator) cannot put text of its own into the module."""
    if isinstance(net, str):
        from symnet.spec import load

        net = load(net)
    if isinstance(net, Graph):
        return checked_graph(net)
    if not isinstance(net, Network):
        raise InputError(f"expected a Network or a spec string, got {type(net).__name__}")
    try:
        fresh = Network.build(list(net.layers), list(net.hidden), net.output, net.loss, net.bias, net.l2)
    except (SpecError, TypeError, AttributeError) as e:
        raise InputError(f"invalid network: {e}") from None
    if fresh != net:
        raise InputError(f"invalid network: {net!r}")
    return fresh


# -- the layouts ------------------------------------------------------------------------
def per_sample_kernel(d: Derivation, dtype: str) -> Kernel:
    """The per-sample layer form (the ``loops`` layout's blocks), which the GPU kernels run one thread each,
    its math printed for numba.cuda (:class:`KernelPrinter`'s ``gpu``)."""
    return _Indexed(d, dtype, batch=False, gpu=True).kernel()


def batch_form(d: Derivation, dtype: str) -> _Indexed:
    """The layer form with a row of the batch on every per-sample quantity (``h1[r, j]``, ``X[start + r, i]``)
    and its math printed for numba.cuda: the GPU's epoch kernel prints its steps with it, its threads sharing
    the (r, j) of a batch."""
    return _Indexed(d, dtype, batch=True, gpu=True)


def _build(d: Derivation, layout: str, dtype: str) -> Kernel:
    if layout == "unrolled":
        return _Unrolled(d, dtype).kernel()
    return _Indexed(d, dtype, batch=layout == "gemm").kernel()


def needs_complements(net: Network) -> bool:
    """Whether the loss takes log(1 − ŷ) of a softmax output (bce), which rounding to ŷ = 1 would make −∞."""
    return net.output == SOFTMAX and LOSSES[net.loss].unit_interval


def superscript(k: int) -> str:
    """k as a layer's superscript: ⁽¹²⁾."""
    return "⁽" + str(k).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")) + "⁾"


def _kernel(d: Derivation, layout: str, dtype: str, printer: KernelPrinter, **blocks) -> Kernel:
    """The kernel of the printed blocks, with the helper functions their code calls."""
    vector = layout == "gemm"
    used, math = helpers(printer.helpers, vector, dtype, printer.gpu)
    return Kernel(d.net, layout, dtype, layout != "gemm", helpers=used, vector=vector_math_pieces(dtype) if vector else None,
                  vector_math=math | printer.vector_math, **_decay_blocks(d, dtype), **blocks)


def _decay_blocks(d: Derivation, dtype: str) -> dict[str, list[Block]]:
    """With L2 decay: (λ/2)·Σ W² into ``penalty`` and ∂/∂W of it added to gW, per layer, once per batch
    (after the mean over its samples: the term belongs to every sample's E, so to their mean once)."""
    if not d.net.l2:
        return {}
    penalty, decayed = [], []
    for k in range(1, d.net.depth + 1):
        rule = d.layer_rule(k)
        W = base("W", k, d.net.depth)[i, j]
        arrays = {label: (lambda label: lambda ix: f"{label}[{', '.join(ix)}]")(label) for label in (f"W{k}", f"gW{k}")}
        p = KernelPrinter(names={lam: "L2"}, arrays=arrays, index_names={i, j}, dtype=dtype)
        loops = [("i", f"N{k - 1}"), ("j", f"N{k}")]
        term = l2_penalty([W])
        penalty.append(Block([f"(λ/2)·Σ W{superscript(k)}ᵢⱼ²: {sp.sstr(term)}"], [f"penalty += {p.doprint(term)}"], loops,
                             name=f"_penalty{k}"))
        g = sp.IndexedBase(f"gW{k}", real=True)[i, j]
        decayed.append(Block([f"∂E/∂W{superscript(k)}ᵢⱼ gains the decay {sp.sstr(rule.decay)}"],
                             [f"{p.doprint(g)} += {p.doprint(rule.decay)}"], loops, name=f"_decay{k}"))
    return {"penalty": penalty, "decay": decayed}


def _output_comment(net: Network, rule_delta: sp.Eq, assumption: sp.Eq | None) -> list[str]:
    L = net.depth
    lines = [f"δ{superscript(L)}ⱼ = ∂E/∂h{superscript(L)}ⱼ, the output layer ({net.output} + {net.loss}): "
             f"{sp.sstr(rule_delta.lhs)} = {sp.sstr(rule_delta.rhs)}"]
    if assumption is not None:
        lines.append(f"  (with {sp.sstr(assumption.lhs)} = {sp.sstr(assumption.rhs)}: one-hot targets)")
    lines.append("  times 1/m: E is the mean over the m samples of the batch, so every ∂E/∂θ below is too")
    return lines


class _Indexed:
    """The layer form, per sample (loops over i, j) or per batch (BLAS products)."""

    def __init__(self, d: Derivation, dtype: str, batch: bool, gpu: bool = False):
        self.d, self.net, self.dtype, self.batch = d, d.net, dtype, batch
        self.L = d.net.depth
        self.rules = [d.layer_rule(k) for k in range(1, self.L + 1)]
        arrays = {}
        row = "r, " if batch else ""
        for k in range(1, self.L + 1):
            arrays[f"W{k}"] = lambda idx, k=k: f"W{k}[{', '.join(idx)}]"
            arrays[f"b{k}"] = lambda idx, k=k: f"b{k}[{idx[0]}]"
            for kind in ("h", "a", "delta"):
                label = str(base(kind, k, self.L).label)
                arrays[label] = lambda idx, label=label: f"{label}[{row}{idx[0]}]"
        sample = "start + r" if batch else "r"
        arrays["x"] = lambda idx: f"X[{sample}, {idx[0]}]"
        arrays["y"] = lambda idx: f"Y[{sample}, {idx[0]}]"
        extents = {width(n): f"N{n}" for n in range(self.L + 1)}
        self.printer = KernelPrinter(
            names={sp.Symbol("inv_m"): "inv_m", **{w: c for w, c in extents.items()}},
            arrays=arrays, index_names={i, j, l, q, sp.Symbol("r")}, vector=batch and not gpu, dtype=dtype, gpu=gpu,
        )
        self.emit = Emitter(self.printer, extents)
        self.accumulated: list[str] = []  # batch layout: gradients summed by loops, not set by a product
        # bce over a softmax: 1 − ŷ and its logarithm from the logits (symnet.emit.numba.stable)
        self.complements = needs_complements(self.net)
        L = self.L
        for label in (f"c{L}", f"lsec{L}"):
            self.printer.arrays[label] = lambda idx, label=label: f"{label}[{row}{idx[0]}]"
        self.c, self.lsec = sp.IndexedBase(f"c{L}", positive=True), sp.IndexedBase(f"lsec{L}", real=True)

    def complement(self, e: sp.Expr) -> sp.Expr | None:
        yhat = base("a", self.L, self.L)
        return self.c[e.indices] if isinstance(e, sp.Indexed) and e.base == yhat else None

    def log_complement(self, e: sp.Expr) -> sp.Expr | None:
        return self.lsec[e.indices] if isinstance(e, sp.Indexed) and e.base == self.c else None

    def loops(self, *idx: tuple[str, str]) -> list[tuple[str, str]]:
        return ([("r", "B")] if self.batch else []) + list(idx)

    def workspace(self) -> list[tuple[str, str]]:
        """The arrays of the per-sample quantities (name, shape; a batch's have ``rows`` rows)."""
        L = self.L
        workspace = []
        rows = ("rows, " if self.batch else "")
        for k in range(1, L + 1):
            for kind in ("h", "a", "delta"):
                workspace.append((str(base(kind, k, L).label), f"({rows}N{k})"))
        if self.batch and self.net.output == SOFTMAX:
            workspace.append((f"lse{L}", "(rows,)"))
        if self.complements:
            workspace += [(f"c{L}", f"({rows}N{L})"), (f"lsec{L}", f"({rows}N{L})")]
        return workspace

    def kernel(self) -> Kernel:
        L = self.L
        workspace = self.workspace()
        forward = [b for k in range(1, L + 1) for b in self.forward(k)]
        loss = self.loss()
        backward = [self.output_delta()] + [self.hidden_delta(k) for k in range(L - 1, 0, -1)]
        backward += [b for k in range(L, 0, -1) for b in self.gradients(k)]
        yhat = str(base("a", L, L).label)
        store = Block([f"ŷ of the {'batch' if self.batch else 'sample'} into out"],
                      [f"out[{'start + r' if self.batch else 'r'}, j] = {yhat}[{'r, ' if self.batch else ''}j]"],
                      self.loops(("j", f"N{L}")))
        zero = [g for g in array_names("g", L) if g.startswith("gb") or g in self.accumulated] if self.batch else array_names("g", L)
        return _kernel(self.d, "gemm" if self.batch else "loops", self.dtype, self.printer, workspace=workspace,
                       forward=forward, loss=[loss], backward=backward, store=[store], zero_each_batch=zero)

    # -- forward ------------------------------------------------------------------------
    def forward(self, k: int) -> list[Block]:
        rule, act = self.rules[k - 1], self.net.activations[k - 1]
        h, a = rule.h.lhs, base("a", k, self.L)[j]
        comment = [f"layer {k}, forward: {sp.sstr(h)} = {sp.sstr(rule.h.rhs)}"]
        if self.batch:
            products, h_rhs = self._products(rule.h.rhs, str(h.base.label))
        else:
            products, h_rhs = self._axpy(rule.h.rhs, str(h.base.label), f"N{k}")
        body = self.emit.assign(self.printer.doprint(h), h_rhs)
        if act == SOFTMAX:
            return [Block(comment, body, self.loops(("j", f"N{k}")), products, name=f"_layer{k}"), self.softmax(k)]
        comment.append(f"{' ' * len(f'layer {k}, forward: ')}{sp.sstr(a)} = {sp.sstr(rule.a.rhs)}")
        body += self.emit.assign(self.printer.doprint(a), rule.a.rhs)
        return [Block(comment, body, self.loops(("j", f"N{k}")), products, name=f"_layer{k}")]

    def softmax(self, k: int) -> Block:
        """ŷⱼ = e^{hⱼ}/Σₗ e^{hₗ}, evaluated as e^{hⱼ − lse} with lse = M + log Σₗ e^{hₗ − M}, M = maxₗ hₗ."""
        rule = self.rules[k - 1]
        h = base("h", k, self.L)
        hmax, lse = sp.Symbol(f"hmax{k}", real=True), sp.Symbol(f"lse{k}", real=True)
        # lse is the loss's too: one per row of the batch
        self.printer.names.update({hmax: hmax.name, lse: f"{lse}[r]" if self.batch else lse.name})
        body = [f"{hmax} = {self.printer.doprint(h[0])}", f"for l in range(1, N{k}):",
                f"    {hmax} = max({hmax}, {self.printer.doprint(h[l])})"]
        log_total = shifted_log_sum_exp(softmax_total(rule.a.rhs), hmax)
        a = base("a", k, self.L)
        if self.batch:
            # the sum's terms e^{hₗ − M} first, into ŷ's row (a loop LLVM vectorises: a sum's own loop cannot
            # be without reordering its additions), then their sum S; ŷⱼ = e^{hⱼ − M}/S, the definition with
            # both sides shifted by M, from the terms already there
            total = next(e for e in sp.preorder_traversal(log_total) if isinstance(e, sp.Sum))
            index, S = total.limits[0][0], sp.Symbol(f"S{k}", positive=True)
            self.printer.names[S] = S.name
            body += [f"for {self.printer.doprint(index)} in range(N{k}):"]
            body += ["    " + line for line in self.emit.assign(self.printer.doprint(a[index]), total.function)]
            body += self.emit.assign(S.name, sp.Sum(a[index], *total.limits))
            body += self.emit.assign(self.printer.doprint(lse), log_total.xreplace({total: S}))
            shifted = shifted_softmax(rule.a.rhs, hmax)
            term = next(e for e in sp.preorder_traversal(sp.fraction(shifted)[0]) if isinstance(e, sp.exp))
            body += [f"for j in range(N{k}):"]
            body += ["    " + s for s in self.emit.assign(self.printer.doprint(a[j]), shifted.xreplace(
                {softmax_total(shifted): S, term: a[j]}))]
        else:
            body += self.emit.assign(self.printer.doprint(lse), log_total)
            body += [f"for j in range(N{k}):"]
            body += ["    " + s for s in self.emit.assign(self.printer.doprint(a[j]), softmax_from_lse(rule.a.rhs, lse))]
        comment = [f"layer {k}, softmax: {sp.sstr(rule.a.rhs)}",
                   f"  as exp(h{k}[j] - hmax{k})/S{k}, S{k} = Σ exp(h{k}[l] - hmax{k}), lse{k} = hmax{k} + log S{k} "
                   "(shifted by their max: no overflow)" if self.batch else
                   f"  as exp(h{k}[j] - lse{k}), lse{k} = log Σ exp(h{k}[l]) shifted by their max (no overflow)"]
        if self.complements:
            # log(1 − ŷ_q) = log Σ_{l≠q} e^{h_l} − lse, shifted by the largest of those logits
            others = sp.Symbol(f"hmaxc{k}", real=True)
            self.printer.names[others] = others.name
            log_c = shifted_log_sum_exp(sp.Sum(sp.Piecewise((sp.exp(h[l]), sp.Ne(l, q)), (0, True)), (l, 1, width(k))),
                                        others) - lse
            body += [f"for q in range(N{k}):", f"    {others} = {self.printer.doprint(-sp.oo)}", f"    for l in range(N{k}):",
                     "        if l != q:", f"            {others} = max({others}, {self.printer.doprint(h[l])})"]
            body += ["    " + s for s in self.emit.assign(self.printer.doprint(self.lsec[q]), log_c)]
            body += ["    " + s for s in self.emit.assign(self.printer.doprint(self.c[q]), sp.exp(self.lsec[q]))]
            comment.append(f"  1 - yhat[q] as c{k}[q] = exp(lsec{k}[q]), lsec{k}[q] = log Σ_(l≠q) exp(h{k}[l]) - lse{k}")
        return Block(comment, body, self.loops(), name=f"_softmax{k}")

    def outputs(self) -> dict[sp.Expr, sp.Expr]:
        """ŷ_q in its logits, for a loss that takes its logarithm."""
        L, act = self.L, self.net.output
        if act == SOFTMAX:
            return {base("a", L, L)[q]: softmax_from_lse(self.rules[-1].a.rhs.xreplace({j: q}),
                                                         sp.Symbol(f"lse{L}", real=True))}
        if act in ACTIVATION_CLASSES:
            return {base("a", L, L)[q]: self.rules[-1].a.rhs.xreplace({j: q})}
        return {}

    def loss(self) -> Block:
        L = self.L
        yhat, y = base("a", L, L), base("y", None, L)
        total = LOSSES[self.net.loss].indexed(yhat, y, q, width(L))
        stable = total
        if self.complements:
            stable = loss_in_complements(stable, self.complement, self.log_complement)
        stable = loss_from_logits(stable, self.outputs())
        comment = [f"loss of the sample: {sp.sstr(total)}"]
        if stable != total:
            comment.append(f"  from the logits: {sp.sstr(stable)}")
        return Block(comment, self.emit.assign("E", stable, "+="), self.loops(), name="_sample_losses")

    # -- backward -----------------------------------------------------------------------
    def output_delta(self) -> Block:
        rule = self.rules[-1]
        inv_m = sp.Symbol("inv_m")
        rhs = rule.delta.rhs
        if self.complements:
            rhs = softmax_rule_in_complements(rhs, j, self.complement)
        body = self.emit.assign(self.printer.doprint(rule.delta.lhs), inv_m * rhs)
        return Block(_output_comment(self.net, rule.delta, rule.assumption), body,
                     self.loops(("j", f"N{self.L}")), name=f"_delta{self.L}")

    def hidden_delta(self, k: int) -> Block:
        rule = self.rules[k - 1]
        comment = [f"δ{superscript(k)}ⱼ = ∂E/∂h{superscript(k)}ⱼ, back through W{superscript(k + 1)}: "
                   f"{sp.sstr(rule.delta.lhs)} = {sp.sstr(rule.delta.rhs)}"]
        label = str(rule.delta.lhs.base.label)
        products, rhs = self._products(rule.delta.rhs, label) if self.batch else ([], rule.delta.rhs)
        return Block(comment, self.emit.assign(self.printer.doprint(rule.delta.lhs), rhs),
                     self.loops(("j", f"N{k}")), products, name=f"_delta{k}")

    def gradients(self, k: int) -> list[Block]:
        rule = self.rules[k - 1]
        dW = [f"∂E/∂W{superscript(k)}ᵢⱼ: dE/dW{k}[i, j] = {sp.sstr(rule.dW.rhs)}"]
        db = [f"∂E/∂b{superscript(k)}ⱼ: dE/db{k}[j] = {sp.sstr(rule.db.rhs)}"]
        if self.batch:
            product = self._outer(rule.dW.rhs)
            one, zero = self.printer.number("1.0"), self.printer.number("0.0")
            w_block = (Block(dW + ["  summed over the batch: one matrix product"], [], [],
                             [f"_gemm_tn({product[0]}, {product[1]}, gW{k}, {one}, {zero})"], product=(k, *product),
                             name=f"_grad_W{k}")
                       if product else Block(dW, self.emit.assign(f"gW{k}[i, j]", rule.dW.rhs, "+="),
                                             self.loops(("i", f"N{k - 1}"), ("j", f"N{k}")), name=f"_grad_W{k}"))
            if not product:
                self.accumulated.append(f"gW{k}")
        else:
            w_block = Block(dW, self.emit.assign(f"gW{k}[i, j]", rule.dW.rhs, "+="),
                            self.loops(("i", f"N{k - 1}"), ("j", f"N{k}")))
        b_block = Block(db, self.emit.assign(f"gb{k}[j]", rule.db.rhs, "+="), self.loops(("j", f"N{k}")),
                        name=f"_grad_b{k}")
        return [w_block, b_block]

    # -- batch products -----------------------------------------------------------------
    def _view(self, label: str) -> str:
        """The batch's rows of a per-sample quantity."""
        return "X[start:stop]" if label == "x" else f"{label}[:B]"

    def _products(self, expr: sp.Expr, out: str) -> tuple[list[str], sp.Expr]:
        """Each Σₛ W[s, j]·v[s] (or W[j, s]·v[s]) over a layer becomes one product of the batch,
        ``_dot(V, W, out)`` (or ``_dot_t(V, W, out)``: V·Wᵀ); the sum is then ``out[r, j]``."""
        sums = [s for s in sp.preorder_traversal(expr) if isinstance(s, sp.Sum)]
        lines, replace = [], {}
        for s in sums:
            var = s.limits[0][0]
            factors = sp.Mul.make_args(s.function)
            params = [f for f in factors if isinstance(f, sp.Indexed) and str(f.base.label).startswith("W")]
            data = [f for f in factors if isinstance(f, sp.Indexed) and f not in params]
            if len(factors) != 2 or len(params) != 1 or len(data) != 1 or data[0].indices != (var,):
                continue  # not a product of the batch: the loops print it as a sum
            (w,), (v,) = params, data
            dot, free = ("_dot", w.indices[1]) if w.indices[0] == var else ("_dot_t", w.indices[0])
            lines.append(f"{dot}({self._view(str(v.base.label))}, {w.base.label}, {out}[:B])")
            replace[s] = sp.IndexedBase(out, real=True)[free]
        return lines, expr.xreplace(replace)

    def _axpy(self, expr: sp.Expr, out: str, width: str) -> tuple[list[str], sp.Expr]:
        """Per sample, Σᵢ W[i, j]·v[i] for every j as rows of W added into out (i outer, j inner):
        the inner loop runs along W's rows, so it vectorises; the sum is then ``out[j]``."""
        lines, replace = [], {}
        for s in [s for s in sp.preorder_traversal(expr) if isinstance(s, sp.Sum)]:
            var, _, hi = s.limits[0]
            ws = [f for f in sp.Mul.make_args(s.function)
                  if isinstance(f, sp.Indexed) and str(f.base.label).startswith("W")]
            if len(ws) != 1 or ws[0].indices[0] != var:
                continue  # not a product with W's rows: the loops print it as a sum
            free = ws[0].indices[1]
            target = self.printer.doprint(sp.IndexedBase(out, real=True)[free])
            lines += [f"for {free} in range({width}):", f"    {target} = 0.0",
                      f"for {var} in range({self.emit.extents[hi]}):",
                      f"    for {free} in range({width}):",
                      f"        {target} += {self.printer.doprint(s.function)}"]
            replace[s] = sp.IndexedBase(out, real=True)[free]
        return lines, expr.xreplace(replace)

    def _outer(self, expr: sp.Expr) -> tuple[str, str] | None:
        """(U, V), the batch's rows of u and v, when expr is uᵢ·vⱼ: its sum over the batch is UᵀV."""
        factors = sp.Mul.make_args(expr)
        if len(factors) != 2 or not all(isinstance(f, sp.Indexed) for f in factors):
            return None
        by_index = {f.indices: f for f in factors}
        if set(by_index) != {(i,), (j,)}:
            return None
        u, v = by_index[(i,)], by_index[(j,)]
        return self._view(str(u.base.label)), self._view(str(v.base.label))


class _Unrolled:
    """The scalar form: straight-line statements per sample, one per quantity, after ``sympy.cse``."""

    def __init__(self, d: Derivation, dtype: str):
        self.d, self.net, self.dtype = d, d.net, dtype
        self.m = d.model
        self.L = d.net.depth
        names: dict[sp.Symbol, str] = {sp.Symbol("inv_m"): "inv_m"}
        for sym in self.m.params + self.m.x + self.m.y + list(self.m.definitions):
            names[sym] = self._name(parse_name(sym.name))
        for delta in self.d.all_deltas():
            names[delta.symbol] = self._name(parse_name(delta.symbol.name))
        self.printer = KernelPrinter(names=names, dtype=dtype)
        self.temps = sp.numbered_symbols("t", real=True)
        # bce over a softmax: 1 − ŷ and its logarithm from the logits (symnet.emit.numba.stable)
        self.complements = needs_complements(self.net)
        L = self.L
        self.c = {p: sp.Symbol(f"c{L}_{n}", positive=True) for n, p in enumerate(self.m.yhat, start=1)}
        self.lsec = {c: sp.Symbol(f"lsec{L}_{n}", real=True) for n, c in enumerate(self.c.values(), start=1)}
        for s in [*self.c.values(), *self.lsec.values()]:
            self.printer.names[s] = s.name

    @staticmethod
    def _name(n) -> str:
        zero = [str(v - 1) for v in n.index]
        if n.kind in ("W", "b"):
            return f"{n.kind}{n.layer}[{', '.join(zero)}]"
        if n.kind == "x":
            return f"X[r, {zero[0] if zero else 0}]"
        if n.kind == "y":
            return f"Y[r, {zero[0] if zero else 0}]"
        if n.kind == "yhat":
            return f"yhat_{n.index[0]}" if n.index else "yhat"
        return f"{n.kind}{n.layer}_{n.index[0]}"

    def statements(self, targets: list[tuple[str, sp.Expr]], op: str = "=", wrap=None) -> list[str]:
        """Assignments after common-subexpression elimination (temporaries t0, t1, … first)."""
        replacements, reduced = sp.cse([e for _, e in targets], symbols=self.temps, order="canonical")
        lines = []
        for t, e in replacements:
            self.printer.names[t] = t.name
            lines.append(f"{t.name} = {self.printer.doprint(e)}")
        for (target, _), e in zip(targets, reduced):
            code = self.printer.doprint(e)
            lines.append(f"{target} {op} {wrap(code) if wrap else code}")
        return lines

    def kernel(self) -> Kernel:
        L, m = self.L, self.m
        forward = [self.forward(k) for k in range(1, L + 1)]
        loss = self.loss()
        backward = [self.output_delta()] + [self.hidden_delta(k) for k in range(L - 1, 0, -1)]
        backward += [self.gradients(k) for k in range(L, 0, -1)]
        store = Block(["ŷ of the sample into out"],
                      [f"out[r, {n}] = {self.printer.doprint(p)}" for n, p in enumerate(m.yhat)])
        return _kernel(self.d, "unrolled", self.dtype, self.printer, workspace=[], forward=forward, loss=[loss],
                       backward=backward, store=[store], zero_each_batch=array_names("g", L))

    def forward(self, k: int) -> Block:
        m, p = self.m, self.printer
        act = self.net.activations[k - 1]
        body = [f"{p.doprint(h)} = {p.doprint(m.definitions[h])}" for h in m.h[k]]
        source = "x" if k == 1 else f"a{k - 1}"
        comment = [f"layer {k}, forward: h{k}[j] = Σᵢ W{k}[i,j] {source}[i] + b{k}[j], a{k}[j] = {act}(h{k}[j])"]
        if act == SOFTMAX:
            hmax, lse = sp.Symbol(f"hmax{k}", real=True), sp.Symbol(f"lse{k}", real=True)
            p.names.update({hmax: hmax.name, lse: lse.name})
            definition = m.definitions[m.a[k][0]]
            body.append(f"{hmax} = {p.doprint(sp.Max(*m.h[k]))}")
            body.append(f"{lse} = {p.doprint(shifted_log_sum_exp(softmax_total(definition), hmax))}")
            body += [f"{p.doprint(a)} = {p.doprint(softmax_from_lse(m.definitions[a], lse))}" for a in m.a[k]]
            comment.append(f"  softmax as exp(h{k}[j] - lse{k}), lse{k} = log Σ exp(h{k}[l]) shifted by their max")
            if self.complements:
                for n, a in enumerate(m.a[k]):
                    c = self.c[a]
                    body.append(f"{p.doprint(self.lsec[c])} = {p.doprint(complement_log(m.h[k], lse, n))}")
                    body.append(f"{p.doprint(c)} = {p.doprint(sp.exp(self.lsec[c]))}")
                comment.append(f"  1 - yhat[q] as c{k}_q = exp(lsec{k}_q), lsec{k}_q = log Σ_(l≠q) exp(h{k}[l]) - lse{k}")
        else:
            body += [f"{p.doprint(a)} = {p.doprint(m.definitions[a])}" for a in m.a[k]]
        return Block(comment, body)

    def outputs(self) -> dict[sp.Expr, sp.Expr]:
        m, L = self.m, self.L
        if self.net.output == SOFTMAX:
            lse = sp.Symbol(f"lse{L}", real=True)
            return {p: softmax_from_lse(m.definitions[p], lse) for p in m.yhat}
        if self.net.output in ACTIVATION_CLASSES:
            return {p: m.definitions[p] for p in m.yhat}
        return {}

    def loss(self) -> Block:
        stable = self.m.loss
        if self.complements:
            stable = loss_in_complements(stable, self.c.get, self.lsec.get)
        stable = loss_from_logits(stable, self.outputs())
        comment = [f"loss of the sample: {sp.sstr(self.m.loss)}"]
        if stable != self.m.loss:
            comment.append(f"  from the logits: {sp.sstr(stable)}")
        return Block(comment, self.statements([("E", stable)], "+="))

    def output_delta(self) -> Block:
        deltas = [self.d.delta(h) for h in self.m.h[self.L]]
        comment = [f"δ{superscript(self.L)} = ∂E/∂h{superscript(self.L)}, the output layer ({self.net.output} + {self.net.loss}):"]
        comment += [f"  {sp.sstr(dl.symbol)} = {sp.sstr(dl.expr)}" for dl in deltas]
        if deltas[0].assumption is not None:
            a = deltas[0].assumption
            comment.append(f"  (with {sp.sstr(a.lhs)} = {sp.sstr(a.rhs)}: one-hot targets)")
        comment.append("  times 1/m: E is the mean over the m samples of the batch, so every ∂E/∂θ below is too")
        targets = [(self.printer.names[dl.symbol], in_complements(dl.expr, self.c.get) if self.complements else dl.expr)
                   for dl in deltas]
        return Block(comment, self.statements(targets, wrap=lambda c: f"inv_m*({c})"))

    def hidden_delta(self, k: int) -> Block:
        deltas = [self.d.delta(h) for h in self.m.h[k]]
        comment = [f"δ{superscript(k)} = ∂E/∂h{superscript(k)}, back through W{superscript(k + 1)}:"]
        comment += [f"  {sp.sstr(dl.symbol)} = {sp.sstr(dl.expr)}" for dl in deltas]
        return Block(comment, self.statements([(self.printer.names[dl.symbol], dl.expr) for dl in deltas]))

    def gradients(self, k: int) -> Block:
        params = [w for row in self.m.W[k] for w in row] + list(self.m.b[k])
        chains = [self.d.chain(p) for p in params]
        comment = [f"∂E/∂W{superscript(k)} and ∂E/∂b{superscript(k)}: ∂E/∂θ = ∂h/∂θ · δ, e.g. "
                   f"dE/d{chains[0].param} = {sp.sstr(chains[0].backprop)}"]
        body = [f"g{self.printer.names[c.param]} += {self.printer.doprint(c.backprop)}" for c in chains]
        return Block(comment, body)
