"""The update rules of symnet.derivation.update in a kernel: printed for every parameter, as blocks, fused
into the backward pass of a batch of one, or written by BLAS straight into W for a batch's ∂C/∂W."""
from __future__ import annotations

import re

import sympy as sp

from symnet.derivation import update
from symnet.derivation.layer_form import i, j
from symnet.emit.numba.parts import Block, Kernel
from symnet.emit.numba.printer import KernelPrinter


#: a gradient's share from one sample as the kernels print it: ``gW1[i, j] += …`` or ``gb2[0] += …``
_SHARE = re.compile(r"^g(?P<param>[Wb]\d+)\[(?P<index>[^\]]+)\] \+= (?P<value>.+)$")


def velocity_or_sgd(p: KernelPrinter, theta: sp.Expr, g: sp.Expr, v: sp.Expr) -> list[str]:
    """θ moved by g with momentum (velocity v) or plain sgd, as ``use_velocity`` says at run time: the rules
    of symnet.derivation.update as lines of code."""
    rules = update.rules(theta, g, v)
    return ["if use_velocity:",
            f"    {p.doprint(v)} = {p.doprint(rules['velocity'])}",
            f"    {p.doprint(theta)} = {p.doprint(rules['with_velocity'])}",
            "else:",
            f"    {p.doprint(theta)} = {p.doprint(rules['sgd'])}"]


def fused_updates(kernel: Kernel) -> list[Block] | None:
    """For batches of one sample: the backward blocks with each gradient statement replaced by the update
    it feeds (symnet.derivation.update's rules, the share in place of g), so that θ moves straight from the
    chain, with no gradient array to zero, fill and read again.  Safe because every ∂E/∂θ statement reads
    deltas and activations only, all computed before the first of them; None where it does not apply
    (whole-batch layouts, and L2 decay, whose term is added once per batch)."""
    if not kernel.per_sample or kernel.net.l2:
        return None
    share = sp.Symbol("share", real=True)
    fused = []
    for block in kernel.backward:
        body = []
        for line in block.body:
            m = _SHARE.match(line)
            if not m:
                body.append(line)
                continue
            index = tuple(sp.Symbol(ix.strip()) for ix in m["index"].split(","))
            labels = {pre: f"{pre}{m['param']}" for pre in ("", "v")}
            arrays = {label: (lambda label: lambda ix: f"{label}[{', '.join(ix)}]")(label) for label in labels.values()}
            p = KernelPrinter(names={update.alpha: "lr", update.mu: "momentum", share: f"({m['value']})"},
                              arrays=arrays, index_names=set(index) | {i, j}, dtype=kernel.dtype)
            theta, v = (sp.IndexedBase(labels[pre], real=True)[index] for pre in ("", "v"))
            body += velocity_or_sgd(p, theta, share, v)
        fused.append(Block(block.comment, body, block.loops, block.pre))
    return fused


def into_update(kernel: Kernel, optimizer: update.Optimizer) -> dict | None:
    """For the epoch of the gemm layout with sgd or momentum and no L2: the backward blocks with each
    ∂C/∂W = UᵀV product written straight into its update by one BLAS call, C ← α·UᵀV + β·C (α and β
    read off the update rule, which is linear in g), so the gradient array is never written nor read
    again; and the layers it did that for, whose weight loops the update then leaves out (sgd) or keeps
    for θ ← θ + v only (momentum).  Safe because every δ was computed before the first product."""
    if kernel.layout != "gemm" or kernel.net.l2 or optimizer.name not in update.CLASSIC:
        return None
    backward, layers = [], set()
    for block in kernel.backward:
        if block.product is None:
            backward.append(block)
            continue
        k, U, V = block.product
        arrays = {label: (lambda label: lambda ix: f"{label}[{', '.join(ix)}]")(label) for label in (f"W{k}", f"vW{k}")}
        p = KernelPrinter(names={update.alpha: "lr", update.mu: "momentum"}, arrays=arrays, index_names={i, j},
                          dtype=kernel.dtype)
        theta, g, v = (sp.IndexedBase(f"{pre}W{k}", real=True)[i, j] for pre in ("", "g", "v"))
        rules = update.rules(theta, g, v)
        calls = {}
        for name, target in (("sgd", theta), ("velocity", v)):
            alpha_, beta_ = rules[name].diff(g), rules[name].diff(target)
            if sp.expand(alpha_ * g + beta_ * target - rules[name]) != 0 or (alpha_ * beta_).has(theta, g, v):
                raise ValueError(f"the {name} rule {rules[name]} is not α·g + β·{target}: BLAS cannot apply it")
            # a number as a float: an int would be a literal type to Numba, compiling _gemm_tn once more
            alpha_text, beta_text = (p.number(repr(float(c))) if c.is_Number else p.doprint(c) for c in (alpha_, beta_))
            calls[name] = f"_gemm_tn({U}, {V}, {target.base}, {alpha_text}, {beta_text})"
        body = ["if use_velocity:", f"    {calls['velocity']}", "else:", f"    {calls['sgd']}"]
        backward.append(Block(block.comment[:1] + [
            "  summed over the batch by one product, written by BLAS straight into the update:",
            f"  {sp.sstr(v)} = {sp.sstr(rules['velocity'])} with momentum, else {sp.sstr(theta)} = {sp.sstr(rules['sgd'])}"],
            [], [], body, name=f"_update_W{k}"))
        layers.add(k)
    return {"backward": backward, "layers": layers} if layers else None


def update_statements(L: int, optimizer: update.Optimizer, dtype: str = "float64") -> list[dict]:
    """The update rules of symnet.derivation.update printed for every layer's W[i, j] and b[j]: ``sgd``
    θ ← θ − α g; ``velocity`` v ← μ v − α g and ``with_velocity`` θ ← θ + v (the sgd/momentum kernel);
    ``steps`` the optimiser's assignments in order (the others)."""
    return [dict(k=k, kind=kind, **u) for k in range(1, L + 1) for kind, u in (
        ("W", _printed(f"W{k}", (i, j), optimizer, dtype)), ("b", _printed(f"b{k}", (j,), optimizer, dtype)))]


def param_updates(params: list[tuple[str, int, list[tuple[str, str]]]], optimizer: update.Optimizer,
                  dtype: str = "float64", into_update: set[str] = frozenset()) -> list[dict]:
    """Each parameter array's update as blocks over its entries (a graph's kernels): ``params`` holds
    (name, number of indices, the loops over its entries); sgd and momentum as ``velocity`` (v, then θ; only
    θ ← θ + v for an array whose velocity BLAS wrote, ``into_update``) and ``sgd`` (none for such an array), or
    the optimiser's ``steps``."""
    blocks = []
    for name, ndim, loops in params:
        u = _printed(name, (i, j) if ndim == 2 else (j,), optimizer, dtype)
        if optimizer.name in update.CLASSIC:
            into = name in into_update
            blocks.append(dict(
                velocity=Block([], [u["with_velocity"]] if into else [u["velocity"], u["with_velocity"]], loops,
                               name=f"_momentum_{name}"),
                sgd=None if into else Block([], [u["sgd"]], loops, name=f"_sgd_{name}")))
        else:
            blocks.append(dict(steps=Block([], u["steps"], loops, name=f"_{optimizer.name}_{name}")))
    return blocks


def _printed(name: str, idx: tuple[sp.Symbol, ...], optimizer: update.Optimizer, dtype: str) -> dict:
    """One parameter array's update statements, printed (see update_statements)."""
    names = {update.alpha: "lr", update.t: "step", **{h.symbol: h.option for h in optimizer.hyperparameters},
             **{s: s.name for s in optimizer.temporaries}}
    labels = {pre: f"{pre}{name}" for pre in ("", "g", "v", "m", "s")}
    arrays = {label: (lambda label: lambda ix: f"{label}[{', '.join(ix)}]")(label) for label in labels.values()}
    p = KernelPrinter(names={update.alpha: "lr", update.mu: "momentum", **names}, arrays=arrays,
                      index_names={i, j}, dtype=dtype)
    theta, g, v = (sp.IndexedBase(labels[pre], real=True)[idx] for pre in ("", "g", "v"))
    rules = update.rules(theta, g, v)
    state = {s: sp.IndexedBase(labels[s.name], real=True)[idx] for s in optimizer.state}
    steps = [f"{p.doprint(target)} = {p.doprint(rhs)}" for target, rhs in optimizer.rules(theta, g, state)]
    return dict(sgd=f"{p.doprint(theta)} = {p.doprint(rules['sgd'])}",
                velocity=f"{p.doprint(v)} = {p.doprint(rules['velocity'])}",
                with_velocity=f"{p.doprint(theta)} = {p.doprint(rules['with_velocity'])}", steps=steps)


def update_blocks(updates: list[dict], optimizer: update.Optimizer, into_update: set[int]) -> list[dict]:
    """Each parameter's update as blocks over its entries: sgd and momentum (``velocity``: v, then θ;
    only θ ← θ + v for a W whose velocity BLAS wrote, and no ``sgd`` then), or the optimiser's ``steps``."""
    blocks = []
    for u in updates:
        k, kind = u["k"], u["kind"]
        loops = [("i", f"N{k - 1}"), ("j", f"N{k}")] if kind == "W" else [("j", f"N{k}")]
        into = kind == "W" and k in into_update
        if optimizer.name in update.CLASSIC:
            blocks.append(dict(
                velocity=Block([], [u["with_velocity"]] if into else [u["velocity"], u["with_velocity"]], loops,
                               name=f"_momentum_{kind}{k}"),
                sgd=None if into else Block([], [u["sgd"]], loops, name=f"_sgd_{kind}{k}")))
        else:
            blocks.append(dict(steps=Block([], u["steps"], loops, name=f"_{optimizer.name}_{kind}{k}")))
    return blocks
