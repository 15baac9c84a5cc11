"""GPU training kernels (``symnet codegen SPEC --target cuda``): the per-sample layer form of
:mod:`symnet.emit.numba.builder` run as ``numba.cuda`` kernels, one thread per sample of a mini-batch.

Each thread keeps its layer's quantities (h, a, δ) in registers/local memory and adds its share of every
∂E/∂θ into the batch's gradient arrays with atomic adds; a second kernel, one thread per parameter,
applies the update rule of :mod:`symnet.derivation.update`.  When θ and a batch's gradients fit in one
block's shared memory (narrow nets), the module also has ``_epoch``: the whole epoch in one launch of one
block, θ and ∂E/∂θ in shared memory, so that small batches cost no launch each.  The statements are the
ones the CPU kernel prints (every formula still comes from the derivation); only where a sum over the batch
happens changes.
The parameters stay on the device for a whole epoch.

Correctness is tested with Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, which runs the kernels in
Python on the CPU); speed needs a GPU (``benchmarks/gpu.py``).
"""
from __future__ import annotations

import re

import numpy as np
import sympy as sp

from symnet.derivation import update
from symnet.derivation.chains import Derivation, derive
from symnet.emit.numba.builder import (LAYOUT_NOTES, MAX_KERNEL_LAYERS, checked_network, init_layers, per_sample_kernel,
                                       unique_functions)
from symnet.emit.numba.parts import Kernel, array_names
from symnet.emit.numba.updates import update_statements
from symnet.emit.numba.printer import KernelPrinter
from symnet.emit.templates import python_environment, tidy_python
from symnet.errors import InputError
from symnet.files import shell_word
from symnet.spec import Network

TARGETS = ("cpu", "cuda")
#: threads per block: a multiple of the warp size that every CUDA GPU runs
THREADS = 128
#: widest layer whose quantities one thread keeps in local memory
MAX_WIDTH = 256
#: shared memory a block may hold without asking for more (every CUDA GPU since compute capability 2.0)
SHARED_BYTES = 48 * 1024
#: a gradient's share from one sample, ``gW1[i, j] += …``: becomes an atomic add (threads share gW1)
_SHARE = re.compile(r"^(?P<array>g[Wb]\d+)\[(?P<index>[^\]]+)\] \+= (?P<value>.+)$")


def generate_cuda(net: Network | Derivation | str, dtype: str = "float64", *, output: str = "OUT.py",
                  optimizer: str = "sgd") -> str:
    """The source of a ``numba.cuda`` kernel module for ``net`` with the module contract of the CPU
    kernels (README.md, "Architecture")."""
    d = net if isinstance(net, Derivation) else derive(checked_network(net))
    net = checked_network(d.net)
    if net.depth > MAX_KERNEL_LAYERS:
        raise InputError(f"{net.compact} has {net.depth} layers with weights; kernels are generated for at most "
                         f"{MAX_KERNEL_LAYERS}")
    if max(net.layers) > MAX_WIDTH:
        raise InputError(f"--target cuda keeps each layer of a sample in one thread: layers up to {MAX_WIDTH} "
                         f"units ({net.compact} has {max(net.layers)}); use the CPU kernel for wider nets")
    if update.optimizer(optimizer).name not in update.CLASSIC:
        raise InputError(f"--target cuda trains with sgd or momentum so far, not --optimizer {optimizer}")
    if net.l2:
        raise InputError("--target cuda does not carry --l2 yet; use the CPU kernel for weight decay")
    kernel = per_sample_kernel(d, dtype)
    return _render(kernel, output)


def _render(kernel: Kernel, output: str) -> str:
    from symnet.version import __version__

    net, L = kernel.net, kernel.net.depth
    command = (f"symnet codegen {net.arguments()} -o {shell_word(output)} --dtype {kernel.dtype} "
               f"--target cuda")
    backward = [_shared(b) for b in kernel.backward]
    itemsize = np.dtype(kernel.dtype).itemsize
    return unique_functions(tidy_python(python_environment().get_template("cuda.py.j2").render(
        k=kernel, net=net, L=L, version=__version__, command=command, note=LAYOUT_NOTES["loops"],
        backward=backward, widths=[(f"N{n}", size) for n, size in enumerate(net.layers)],
        params=array_names("", L), grads=array_names("g", L), velocity=array_names("v", L), threads=THREADS,
        update=_elementwise_rules(kernel.dtype), init=init_layers(net),
        # θ and the batch's ∂E/∂θ both in one block's shared memory: the whole epoch is one launch
        one_launch=2 * net.n_params * itemsize <= SHARED_BYTES,
        updates=update_statements(L, update.SGD, kernel.dtype),
    )))


def _shared(block):
    """The block with each ``g[…] += share`` as an atomic add: the threads of a batch share the arrays."""
    body = []
    for line in block.body:
        m = _SHARE.match(line)
        body.append(f"cuda.atomic.add({m['array']}, ({m['index']},), {m['value']})" if m else line)
    return type(block)(block.comment, body, block.loops, block.pre)


def _elementwise_rules(dtype: str) -> dict[str, str]:
    """The update rules printed for one entry k of a flattened parameter, its gradient and velocity."""
    k = sp.Symbol("k", integer=True)
    arrays = {label: (lambda label: lambda ix: f"{label}[{ix[0]}]")(label) for label in ("theta", "g", "v")}
    p = KernelPrinter(names={update.alpha: "lr", update.mu: "momentum"}, arrays=arrays, index_names={k}, dtype=dtype)
    theta, g, v = (sp.IndexedBase(label, real=True)[k] for label in ("theta", "g", "v"))
    rules = update.rules(theta, g, v)
    return {"sgd": f"{p.doprint(theta)} = {p.doprint(rules['sgd'])}",
            "velocity": f"{p.doprint(v)} = {p.doprint(rules['velocity'])}",
            "with_velocity": f"{p.doprint(theta)} = {p.doprint(rules['with_velocity'])}"}
