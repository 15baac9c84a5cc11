"""GPU training kernels (``symnet codegen SPEC --target cuda``): ``numba.cuda`` kernels printed from the
derivation, as the CPU kernels are.

Training: a whole epoch is one launch of ``_epoch``, a cooperative grid whose threads share each step of a
batch and meet at a grid-wide barrier between steps: the forward pass layer by layer (a thread per (r, j):
row r of the batch, unit j), the output layer's softmax, loss and δ (a thread per row), the δ of each hidden
layer (per (r, j)), and the update of every weight (a thread per (i, j) — a group of them for a large batch,
meeting in shared memory — summing its ∂E/∂W over the batch's rows and moving it by
symnet.derivation.update's rule at once: no gradient array, no atomics, no launch per batch).  The per-sample quantities live in arrays of the batch's rows on the device (the layer form with a row
index, :func:`symnet.emit.numba.builder.batch_form`).

``forward``, ``loss`` and ``gradients`` run the per-sample layer form of :mod:`symnet.emit.numba.builder`,
one thread per sample, each adding its share of ∂E/∂θ atomically.

Correctness is tested with Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, which runs the kernels in
Python on the CPU, a cooperative grid as one block) and by compiling every kernel to PTX for a real GPU;
speed needs a GPU (``benchmarks/gpu.py``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from symnet.derivation import update
from symnet.derivation.chains import Derivation, derive
from symnet.derivation.layer_form import base, i, j
from symnet.emit.numba.builder import (LAYOUT_NOTES, MAX_KERNEL_LAYERS, batch_form, checked_network, init_layers,
                                       per_sample_kernel, superscript, unique_functions)
from symnet.emit.numba.parts import Block, Kernel, array_names
from symnet.emit.numba.printer import KernelPrinter, helpers
from symnet.emit.numba.updates import velocity_or_sgd
from symnet.functions.activations import SOFTMAX
from symnet.emit.templates import python_environment, tidy_python
from symnet.errors import InputError
from symnet.files import shell_word
from symnet.spec import Network

TARGETS = ("cpu", "cuda")
#: threads per block: a multiple of the warp size that every CUDA GPU runs
THREADS = 256
#: widest layer (after the input) whose quantities one thread of forward, loss and gradients keeps in local memory
MAX_WIDTH = 1024
#: a gradient's share from one sample, ``gW1[i, j] += …``: becomes an atomic add (threads share gW1)
_SHARE = re.compile(r"^(?P<array>g[Wb]\d+)\[(?P<index>[^\]]+)\] \+= (?P<value>.+)$")


@dataclass
class Part:
    """One step of a batch in the epoch kernel: the work items the grid's threads share (``items`` of them,
    item n's indices set by ``index``) and the statements of one item.  An update also has ``term``: its
    parameter's ∂E/∂θ for row r, which a group of threads sums over the batch's rows before ``body`` (the
    update rule, with the sum in g) runs once."""

    comment: list[str]
    items: str
    index: list[str]
    body: list[str]
    term: str | None = None


def generate_cuda(net: Network | Derivation | str, dtype: str = "float64", *, output: str = "OUT.py",
                  optimizer: str = "sgd") -> str:
    """The source of a ``numba.cuda`` kernel module for ``net`` with the module contract of the CPU
    kernels (README.md, "Architecture")."""
    d = net if isinstance(net, Derivation) else derive(checked_network(net))
    net = checked_network(d.net)
    if not isinstance(net, Network):
        raise InputError("--target cuda takes a layer list (N0-N1-...-NL) so far; a graph's kernels run on the CPU "
                         "(--target cpu)")
    if net.depth > MAX_KERNEL_LAYERS:
        raise InputError(f"{net.compact} has {net.depth} layers with weights; kernels are generated for at most "
                         f"{MAX_KERNEL_LAYERS}")
    if max(net.layers[1:]) > MAX_WIDTH:
        raise InputError(f"--target cuda keeps each layer of a sample in one thread: layers after the input up to "
                         f"{MAX_WIDTH} units ({net.compact} has {max(net.layers[1:])}); use the CPU kernel for wider nets")
    if update.optimizer(optimizer).name not in update.CLASSIC:
        raise InputError(f"--target cuda trains with sgd or momentum so far, not --optimizer {optimizer}")
    if net.l2:
        raise InputError("--target cuda does not carry --l2 yet; use the CPU kernel for weight decay")
    kernel = per_sample_kernel(d, dtype)
    form = batch_form(d, dtype)
    phases = epoch_phases(form)
    # the activations' helpers both kernels call (the per-sample kernel's are printed already)
    used = {h.name: h for h in kernel.helpers}
    for h in helpers(form.printer.helpers, False, dtype, gpu=True)[0]:
        used.setdefault(h.name, h)
    return _render(kernel, list(used.values()), form.workspace(), phases, output)


def _render(kernel: Kernel, used: list, workspace: list[tuple[str, str]], phases: list[list[Part]],
            output: str) -> str:
    from symnet.version import __version__

    net, L = kernel.net, kernel.net.depth
    command = (f"symnet codegen {net.arguments()} -o {shell_word(output)} --dtype {kernel.dtype} "
               f"--target cuda")
    backward = [_shared(b) for b in kernel.backward]
    pairs = list(zip(net.layers, net.layers[1:]))
    return unique_functions(tidy_python(python_environment().get_template("cuda.py.j2").render(
        k=kernel, net=net, L=L, version=__version__, command=command, note=LAYOUT_NOTES["loops"],
        backward=backward, widths=[(f"N{n}", size) for n, size in enumerate(net.layers)], helpers=used,
        params=array_names("", L), grads=array_names("g", L), velocity=array_names("v", L), threads=THREADS,
        init=init_layers(net), phases=phases, workspace=workspace,
        # the most work items of a step: (r, j) of the widest layer's rows, or (i, j) of the largest W
        widest=max(net.layers[1:]), weights=max(a * b for a, b in pairs),
    )))


def epoch_phases(form) -> list[list[Part]]:
    """The steps of a batch in the order the epoch kernel runs them, grouped into phases: the parts of a
    phase are independent, and a grid-wide barrier follows each phase.

    ``δ⁽ᵏ⁾`` reads W⁽ᵏ⁺¹⁾, so W⁽ᵏ⁺¹⁾ moves in the phase after it, beside the next δ; the last phase moves
    W⁽²⁾ and W⁽¹⁾.  With L layers that is 2L + 1 barriers a batch."""
    net, L, p, emit = form.net, form.L, form.printer, form.emit
    softmax = net.output == SOFTMAX
    phases = [[_forward(form, k, softmax and k == L)] for k in range(1, L + 1)]
    phases.append([_rows(form, softmax)])
    for k in range(L - 1, 0, -1):
        rule = form.rules[k - 1]
        delta = Part([f"δ{superscript(k)}ⱼ = ∂E/∂h{superscript(k)}ⱼ, back through W{superscript(k + 1)}: "
                      f"{sp.sstr(rule.delta.lhs)} = {sp.sstr(rule.delta.rhs)}"],
                     f"B * N{k}", _pair("r", "j", f"N{k}"), emit.assign(p.doprint(rule.delta.lhs), rule.delta.rhs))
        phases.append([delta] + (_update(form, k + 2) if k + 2 <= L else []))
    phases.append([part for k in range(min(L, 2), 0, -1) for part in _update(form, k)])
    return phases


def _pair(outer: str, inner: str, extent: str) -> list[str]:
    return [f"{outer} = n // {extent}", f"{inner} = n % {extent}"]


def _forward(form, k: int, logits_only: bool) -> Part:
    rule, p = form.rules[k - 1], form.printer
    comment = [f"layer {k}, forward: {sp.sstr(rule.h.lhs)} = {sp.sstr(rule.h.rhs)}"]
    body = form.emit.assign(p.doprint(rule.h.lhs), rule.h.rhs)
    if not logits_only:
        a = base("a", k, form.L)[j]
        comment.append(f"{' ' * len(f'layer {k}, forward: ')}{sp.sstr(a)} = {sp.sstr(rule.a.rhs)}")
        body += form.emit.assign(p.doprint(a), rule.a.rhs)
    return Part(comment, f"B * N{k}", _pair("r", "j", f"N{k}"), body)


def _rows(form, softmax: bool) -> Part:
    """Row r's output layer: softmax (whose sum runs over the row), its loss into E_sums[slot] and δᴸ."""
    blocks = ([form.softmax(form.L)] if softmax else []) + [form.loss()]
    comment = [c for b in blocks for c in b.comment]
    body = [f"E = {form.printer.number('0.0')}"] + [line for b in blocks for line in _row_lines(b)]
    body.append("cuda.atomic.add(E_sums, slot, E)")
    delta = form.output_delta()
    return Part(comment + delta.comment, "B", ["r = n"], body + _row_lines(delta))


def _row_lines(block: Block) -> list[str]:
    """A batch-form block's statements for one row r: its loops other than the one over the rows."""
    loops = [(var, extent) for var, extent in block.loops if var != "r"]
    heads = [f"{'    ' * n}for {var} in range({extent}):" for n, (var, extent) in enumerate(loops)]
    return block.pre + heads + ["    " * len(loops) + line for line in block.body if line]


def _update(form, k: int) -> list[Part]:
    """W⁽ᵏ⁾ and b⁽ᵏ⁾ moved by the update rule, each entry by one thread from its ∂E/∂θ summed over the rows."""
    rule, p = form.rules[k - 1], form.printer
    parts = []
    for kind, derivative, items, index, at in (
            ("W", rule.dW.rhs, f"N{k - 1} * N{k}", [f"i = w // N{k}", f"j = w % N{k}"], (i, j)),
            ("b", rule.db.rhs, f"N{k}", ["j = w"], (j,))):
        g = sp.Symbol("g", real=True)
        names = {update.alpha: "lr", update.mu: "momentum", g: "g"}
        arrays = {label: (lambda label: lambda ix: f"{label}[{', '.join(ix)}]")(label)
                  for label in (f"{kind}{k}", f"v{kind}{k}")}
        printer = KernelPrinter(names=names, arrays=arrays, index_names={i, j}, dtype=form.dtype, gpu=True)
        theta, v = (sp.IndexedBase(f"{pre}{kind}{k}", real=True)[at] for pre in ("", "v"))
        body = velocity_or_sgd(printer, theta, g, v)
        label = f"W{superscript(k)}ᵢⱼ" if kind == "W" else f"b{superscript(k)}ⱼ"
        parts.append(Part([f"∂E/∂{label} = Σ over the batch's rows of {sp.sstr(derivative)}, "
                           f"and the update (symnet.derivation.update): {sp.sstr(theta)} = {sp.sstr(update.rules(theta, g, v)['sgd'])}"],
                          items, index, body, term=p.doprint(derivative)))
    return parts


def _shared(block):
    """The block with each ``g[…] += share`` as an atomic add: the threads of a batch share the arrays."""
    return type(block)(block.comment, [_atomic(line) for line in block.body], block.loops, block.pre)


def _atomic(line: str) -> str:
    """``gW1[i, j] += share`` as ``cuda.atomic.add``, any other line as it is.  A 1-D array takes its index
    bare: numba.cuda lowers no 1-tuple index into one (its simulator does)."""
    m = _SHARE.match(line)
    if not m:
        return line
    index = m["index"] if "," not in m["index"] else f"({m['index']})"
    return f"cuda.atomic.add({m['array']}, {index}, {m['value']})"
