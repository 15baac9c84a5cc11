"""What the kernel template lays out: the blocks of a kernel (each one step of the layer form: its comment,
loops and printed statements) and the kernel they make up."""
from __future__ import annotations

from dataclasses import dataclass, field

from symnet.emit.numba.printer import Helper, KernelPrinter
from symnet.spec import Network


@dataclass
class Block:
    """One step of the kernel: a comment saying which ∂ it computes, the loops it runs in (index,
    extent), and its statements (printed from SymPy expressions)."""

    comment: list[str]
    body: list[str]
    loops: list[tuple[str, str]] = field(default_factory=list)
    pre: list[str] = field(default_factory=list)  # statements before the loops (batch products)
    #: ∂C/∂W⁽ᵏ⁾ of the batch as one product UᵀV: (k, U, V) — the epoch can write it straight into the update
    product: tuple[int, str, str] | None = None
    #: what the block computes, for its layer (``_layer3``, ``_delta2``, ``_grad_W1``, ...): the gemm layout
    #: compiles it as a function (symnet.emit.numba.steps), called as ``call``
    name: str | None = None
    call: str | None = None

    def lines(self) -> list[str]:
        """The block's code, as the template lays it out inline."""
        loops = [f"{'    ' * n}for {var} in range({extent}):" for n, (var, extent) in enumerate(self.loops)]
        return self.pre + loops + ["    " * len(self.loops) + line for line in self.body if line]


@dataclass
class Kernel:
    """Everything the template lays out, for one network, layout and dtype."""

    net: Network
    layout: str
    dtype: str
    per_sample: bool
    workspace: list[tuple[str, str]]  # (name, shape in terms of `rows`)
    forward: list[Block]
    loss: list[Block]
    backward: list[Block]
    store: list[Block]  # yhat of sample r (or of the batch) into `out`
    zero_each_batch: list[str]  # gradient arrays accumulated over the batch (the others are overwritten)
    helpers: list[Helper]
    #: gemm: the branch-free e^x (and e^x − 1) that let the loops over a batch vectorise
    vector: dict | None = None
    #: which of the branch-free functions the helpers and blocks call (_exp, _expm1)
    vector_math: set[str] = field(default_factory=set)
    #: L2 decay: the cost's term into ``penalty``, and λW added to each batch's mean gradient
    penalty: list[Block] = field(default_factory=list)
    decay: list[Block] = field(default_factory=list)

    def number(self, text: str) -> str:
        """A number of the kernel's dtype, as the printer writes one (see KernelPrinter)."""
        return KernelPrinter(dtype=self.dtype).number(text)

    @property
    def blas(self) -> str:
        """BLAS's name of the kernel's dtype (dgemm, sgemm)."""
        return "s" if self.dtype == "float32" else "d"

    @property
    def jit_options(self) -> str:
        """Numba options of the kernels.  NumPy's error model: a division by zero gives inf or nan,
        as in NumPy, which the caller sees (training stops on a non-finite loss), instead of a
        ZeroDivisionError from inside compiled code — and vectorised loops need no branch in every
        division.  ``contract`` (gemm) lets LLVM fuse a·b + c into one fused multiply-add, which
        rounds once instead of twice and changes nothing else."""
        return ', error_model="numpy"' + (', fastmath={"contract"}' if self.vector else "")

    @property
    def inline_options(self) -> str:
        """Numba options of the activations' helpers: in the gemm layout Numba inlines them into the loops
        over a batch.  Left to LLVM, whose inliner weighs a callee's size, _tanh with Estrin's e^x stayed a
        call and its loop ran 3–4× slower for not being vectorised.  (e^x itself is left to LLVM: inlined
        by Numba as well, it added ~1.5 s to a cold compile and nothing to the epoch.)"""
        return self.jit_options + (', inline="always"' if self.vector else "")


def array_names(prefix: str, L: int) -> list[str]:
    return [f"{prefix}{kind}{k}" for k in range(1, L + 1) for kind in ("W", "b")]
