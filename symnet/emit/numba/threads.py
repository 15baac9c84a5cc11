"""The gemm layout's epoch on T threads (``train_epoch(..., threads=T)``): what each thread runs and which
part of every array it is handed.

Each batch runs in two phases, the T threads (the caller's and a pool's) meeting at a barrier after each,
every one calling BLAS on one thread:

1. **rows**: thread t takes the rows r0..r1-1 of the batch through the forward pass, the loss and every δ.
   A sample's forward pass and δs read only its own row and the weights, which nothing writes in this
   phase, so the threads share nothing but the weights.
2. **neurons**: thread t takes the neurons lo..hi-1 of every layer (the columns lo..hi-1 of W⁽ᵏ⁾, the
   entries lo..hi-1 of b⁽ᵏ⁾, their gradients, velocities and optimiser state, and the same columns of
   δ⁽ᵏ⁾): their ∂E/∂θ over all the batch's rows (one product Uᵀ·δ[:, lo:hi]) and their update.  A neuron's
   parameters depend on its own column of δ only, so the threads again write disjoint entries.

The blocks are the sequential epoch's own steps, called on views: a step reads its widths off the
shapes of the arrays it is given (``symnet.emit.numba.steps``), so on a view it runs on that part only.
Each product split once, by rows or neurons, instead of by BLAS: on two cores deep's epoch (batches of
64 rows) ran 1.49–1.55× faster than on one thread where BLAS's own split gave 1.15–1.35×
(``benchmarks/NOTES.md``): BLAS gains little from splitting a 64-row product.
"""
from __future__ import annotations

from symnet.emit.numba.parts import Block, Kernel, array_names


def thread_phases(kernel: Kernel, backward: list[Block], scalars: list[str], state: list[str]) -> dict:
    """The two phases of the threaded epoch for ``kernel`` (gemm layout): the blocks each runs
    (``backward``: the epoch's backward blocks, the δs first, then the layers' gradients), and each
    phase's parameters and the arguments thread t passes for them (its rows r0:r1 of the workspace; its
    neurons lo<k>:hi<k> of layer k's arrays).  ``scalars``: the update's scalars (lr, momentum, ...) and
    ``state`` the optimiser's arrays (``<name>W<k>`` / ``<name>b<k>``), both in the neurons' parameters."""
    L = kernel.net.depth
    workspace = [name for name, _ in kernel.workspace]
    deltas = backward[:L]
    if any(not (b.name or "").startswith("_delta") for b in deltas):
        raise ValueError("the backward blocks do not begin with the L deltas; the threaded epoch needs them first")
    params, grads = array_names("", L), array_names("g", L)
    arrays = params + ([] if state else array_names("v", L)) + state + grads
    per_layer = {name: _layer(name) for name in arrays} | {f"delta{k}": k for k in range(1, L + 1)}

    def neurons(name: str) -> str:
        k = per_layer.get(name)
        if k is None:
            return name
        return f"{name}[lo{k}:hi{k}]" if name.rstrip("0123456789").endswith("b") else f"{name}[:, lo{k}:hi{k}]"

    rows = params + ["X", "Y", "start", "stop", "inv_m"] + workspace
    neuron_params = params + ["X", "start", "stop", "B", *scalars] + arrays[len(params):] + workspace
    return dict(
        rows=kernel.forward + kernel.loss + deltas, neurons=backward[L:],
        rows_params=", ".join(rows),
        rows_args=", ".join(params + ["X", "Y", "start + r0", "start + r1", "inv_m"] + [f"{w}[r0:r1]" for w in workspace]),
        neurons_params=", ".join(neuron_params),
        neurons_args=", ".join(neurons(name) for name in neuron_params))


def _layer(name: str) -> int:
    """k of an array named ...W<k> or ...b<k>."""
    return int(name[len(name.rstrip("0123456789")):])
