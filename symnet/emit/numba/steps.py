"""The gemm layout's blocks as functions, one per kind of step, shared by the layers whose step is the
same code: ``_train_epoch``, ``_batch``, ``_loss`` and ``_forward`` are then short lists of calls.

Why: Numba's and LLVM's compile time grow with the code a module holds, about half a second per
block per function that runs it; written out inline, 16 hidden layers took 101 s to compile.  A hidden
layer's forward step, its δ and its ∂E/∂W are the same code in every layer once the layer's arrays
are its arguments, so a deep net compiles each kind of step once.

A step's code is the block's, with its names written relative to its layer k: ``h3``, ``a2``, ``delta4``
and ``N3`` in layer 3's step become ``h``, ``a_prev``, ``delta_next`` and ``n``.  The widths become
arguments too (a shared step serves layers of different widths).
"""
from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

from symnet.emit.numba.parts import Block

#: the generated module's own names a step reads as globals (its ``_``-prefixed functions too)
MODULE_NAMES = {"np", "F", "DTYPE", "L2"}
_NUMBERED = re.compile(r"(?P<stem>[A-Za-z_]*[A-Za-z_])(?P<n>\d+)")
_RELATIVE = {-1: "_prev", 0: "", 1: "_next"}


@dataclass
class Step:
    """One function of the module: its name, parameters, code (indented lines, without the def) and the
    scalar it adds to and returns (E, penalty), if any."""

    name: str
    params: list[str]
    lines: list[str]
    result: str | None
    layers: list[int]


def gemm_steps(blocks: list[Block], depth: int, keep: set[str] = frozenset()) -> list[Step]:
    """The steps of the gemm layout's ``blocks`` (in the order a batch runs them: forward, loss, backward,
    L2, updates) of a net of ``depth`` layers; each block is given the ``call`` of its step, which the
    template prints where the block runs.  ``keep``: scalar names whose digits do not count a layer."""
    blocks = list({id(b): b for b in blocks if b.name}.values())
    variants: dict[tuple[str, str], Step] = {}
    calls = []
    for block in blocks:
        stem, layer = _role(block.name, depth)
        params, args, lines, (result, renamed) = _relative(block, layer, keep)
        step = variants.setdefault((stem, "\n".join(params + lines)), Step(stem, params, lines, renamed, []))
        step.layers.append(layer)
        calls.append((block, step, [_width(a, layer) for a in args], result))
    by_stem: dict[str, list[Step]] = {}
    for step in variants.values():
        by_stem.setdefault(step.name, []).append(step)
    for stem, group in by_stem.items():
        for step in group:
            # a step of one layer is named for it (_layer1); one several layers share, for all of them
            step.name = stem + _ranges(step.layers) if stem != "_sample_losses" else stem
    for block, step, args, result in calls:
        block.call = f"{(result + ' += ') if result else ''}{step.name}({', '.join(args)})"
    return list(variants.values())


def _width(arg: str, k: int) -> str:
    """A width passed as the shape of a W, not as the module's constant: Numba would type N3 as the literal
    32 and compile a step shared by layers of different widths once per width.  Layer k's own W where it
    has that width (its rows are N{k-1}, its columns N{k})."""
    m = re.fullmatch(r"N(\d+)", arg)
    if not m:
        return arg
    n = int(m[1])
    return f"W{n + 1}.shape[0]" if n == k - 1 or n == 0 else f"W{n}.shape[1]"


def _ranges(layers: list[int]) -> str:
    """``2to5_7`` for layers 2, 3, 4, 5 and 7."""
    runs: list[list[int]] = []
    for k in sorted(layers):
        if runs and k == runs[-1][-1] + 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    return "_".join(f"{r[0]}to{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _role(name: str, depth: int) -> tuple[str, int]:
    """(``_layer``, 3) for ``_layer3``; a step of no layer (the loss) belongs to the output layer."""
    m = re.fullmatch(r"(?P<stem>.*?)(?P<k>\d+)", name)
    return (m["stem"], int(m["k"])) if m else (name, depth)


def _relative(block: Block, k: int, keep: set[str]) -> tuple[list[str], list[str], list[str], tuple]:
    """The step's parameters, the arguments a call passes for them, its code, and the scalar it adds to
    (E, penalty) as the caller names it and as the step does.  Names in ``keep`` (hyperparameters such as
    beta1, whose digits are not a layer's) are not renamed."""
    code = block.lines()
    tree = ast.parse("\n".join(code))
    names = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Name)), key=lambda n: (n.lineno, n.col_offset))
    stored = {n.id for n in names if isinstance(n.ctx, ast.Store)}
    added = {node.target.id for node in ast.walk(tree)
             if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name)}
    set_first = {t.id for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.For))
                 for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}
    result = added - set_first
    if len(result) > 1:
        raise ValueError(f"the block {block.name} adds to {sorted(result)}: a step returns one scalar")
    args = list(dict.fromkeys(n.id for n in names if n.id not in stored and n.id not in MODULE_NAMES
                              and not n.id.startswith("_") and not hasattr(builtins, n.id)))
    # the arrays and widths a step is passed, relative to its layer; its own locals only when numbered for
    # the layer itself (hmax3 in layer 3), not a printer's temporaries (acc0)
    rename = {name: _relative_name(name, k, local=name in stored) for name in (set(args) | stored) - keep}
    if len(set(rename.values())) != len(rename):
        rename = {name: name for name in rename}  # two names would meet: keep the layer's own
    word = re.compile(r"(?<![.\w])(" + "|".join(sorted(map(re.escape, rename), key=len, reverse=True)) + r")(?!\w)")
    lines = [word.sub(lambda m: rename[m[1]], line) for line in code] if rename else code
    result = next(iter(result), None)
    return [rename.get(a, a) for a in args], args, lines, (result, rename.get(result, result))


def _relative_name(name: str, k: int, local: bool = False) -> str:
    """``h3`` in layer 3's step is ``h``, ``a2`` is ``a_prev``, ``N4`` is ``n_next``; a local is renamed only
    when numbered for layer k itself; other names stay."""
    m = _NUMBERED.fullmatch(name)
    if not m or int(m["n"]) - k not in ((0,) if local else _RELATIVE):
        return name
    stem = m["stem"].lower() if m["stem"] == "N" else m["stem"]
    return stem + _RELATIVE[int(m["n"]) - k]
