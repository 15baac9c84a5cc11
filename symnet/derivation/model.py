"""The symbolic model: one symbol per quantity of the network, its forward definitions and its loss.

Intermediate quantities (h⁽ᵏ⁾ⱼ, a⁽ᵏ⁾ⱼ, ŷⱼ) are symbols of their own, each defined by a short expression
in the quantities of the layer below, exactly as the articles name them.  The derivation then takes
local derivatives of these short definitions and never differentiates a fully substituted loss.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from symnet.functions.activations import SOFTMAX, apply
from symnet.errors import InputError
from symnet.functions.losses import LOSSES
from symnet.derivation.names import Name, symbol
from symnet.spec import Network


#: parameters above which the symbolic model (a SymPy symbol per parameter, ~1.5 kB each) is refused
MAX_SCALAR_PARAMS = 300_000


@dataclass
class Model:
    net: Network
    x: list[sp.Symbol] = field(init=False)
    y: list[sp.Symbol] = field(init=False)
    W: dict[int, list[list[sp.Symbol]]] = field(init=False)  # W[k][i-1][j-1] = W⁽ᵏ⁾ᵢⱼ, (n_{k-1}, n_k)
    b: dict[int, list[sp.Symbol]] = field(init=False)
    h: dict[int, list[sp.Symbol]] = field(init=False)
    a: dict[int, list[sp.Symbol]] = field(init=False)  # a[0] = x, a[L] = ŷ
    definitions: dict[sp.Symbol, sp.Expr] = field(init=False)  # h and a symbols, in forward order
    # what each definition reads: inputs[q][src] is the term of q's definition that src appears in
    inputs: dict[sp.Symbol, dict[sp.Symbol, sp.Expr]] = field(init=False)
    loss: sp.Expr = field(init=False)  # the per-sample loss in ŷ and y

    def __post_init__(self) -> None:
        net, L = self.net, self.net.depth
        n = net.layers
        if net.n_params > MAX_SCALAR_PARAMS:
            raise InputError(f"{net.compact} has {net.n_params:,} parameters; the scalar form (one symbol each) is "
                             f"built for at most {MAX_SCALAR_PARAMS:,}: use a narrower network (784-256-10 has 203,530)")

        def io(kind: str, count: int) -> list[sp.Symbol]:
            return [symbol(Name(kind, None, (i,) if count > 1 else ())) for i in range(1, count + 1)]

        self.x, self.y = io("x", n[0]), io("y", n[L])
        yhat = io("yhat", n[L]) if n[L] == 1 else [symbol(Name("yhat", None, (j,))) for j in range(1, n[L] + 1)]
        self.W, self.b, self.h, self.a = {}, {}, {}, {0: self.x}
        self.definitions, self.inputs = {}, {}
        for k in range(1, L + 1):
            self.W[k] = [[symbol(Name("W", k, (i, j))) for j in range(1, n[k] + 1)] for i in range(1, n[k - 1] + 1)]
            self.b[k] = [symbol(Name("b", k, (j,))) for j in range(1, n[k] + 1)]
            self.h[k] = [symbol(Name("h", k, (j,))) for j in range(1, n[k] + 1)]
            self.a[k] = yhat if k == L else [symbol(Name("a", k, (j,))) for j in range(1, n[k] + 1)]
            for j, hj in enumerate(self.h[k]):
                # unevaluated: SymPy's canonical sorting of a 784-term sum costs seconds per layer and
                # would print h = x₁W₁₁ + … instead of the articles' W₁₁x₁ + W₂₁x₂ + b
                terms = [(self.a[k - 1][i], self.W[k][i][j], sp.Mul(self.W[k][i][j], self.a[k - 1][i], evaluate=False))
                         for i in range(n[k - 1])]
                self.definitions[hj] = sp.Add(*(t for _, _, t in terms), self.b[k][j], evaluate=False)
                reads = {src: t for src, _, t in terms}
                reads.update({w: t for _, w, t in terms})
                reads[self.b[k][j]] = self.b[k][j]
                self.inputs[hj] = reads
            act = net.activations[k - 1]
            if act == SOFTMAX:
                total = sp.Add(*(sp.exp(hk) for hk in self.h[k]))
                for j, aj in enumerate(self.a[k]):
                    self.definitions[aj] = sp.exp(self.h[k][j]) / total
                    self.inputs[aj] = {hk: self.definitions[aj] for hk in self.h[k]}
            else:
                for j, aj in enumerate(self.a[k]):
                    self.definitions[aj] = apply(act, self.h[k][j])
                    self.inputs[aj] = {self.h[k][j]: self.definitions[aj]}
        self.loss = LOSSES[net.loss].per_sample(self.yhat, self.y)

    @property
    def yhat(self) -> list[sp.Symbol]:
        return self.a[self.net.depth]

    @cached_property
    def params(self) -> list[sp.Symbol]:
        """Every parameter, in the kernel's order: W1 row by row, b1, W2, b2, … (built once: 784-256-10
        has 203,530 of them)"""
        return [s for arr in self.param_arrays() for s in flat(arr)]

    def param_arrays(self) -> list[list]:
        """The parameters grouped as the kernel's arrays: [W1 (rows of symbols), b1, W2, b2, …]."""
        out: list = []
        for k in range(1, self.net.depth + 1):
            out += [self.W[k], self.b[k]]
        return out

    def forward_expression(self, sym: sp.Symbol) -> sp.Expr:
        """A quantity written out down to x and the parameters (for small nets and checks only)."""
        return sym.xreplace(self.definitions) if sym not in self.definitions else _substitute_all(
            self.definitions[sym], self.definitions
        )


def quantity(net: Network, kind: str, k: int | None, *index: int) -> sp.Symbol:
    """The symbol the model gives one quantity, without building the model: ``quantity(net, "W", 1, 1, 1)``
    is W1[1,1]; a[0] is x and a[L] is ŷ; x, y and ŷ of a single unit have no index (x, not x1)."""
    L = net.depth
    if kind == "a" and k == 0:
        kind, k = "x", None
    elif kind == "a" and k == L:
        kind, k = "yhat", None
    if kind in ("x", "y", "yhat"):
        count = net.layers[0] if kind == "x" else net.layers[L]
        return symbol(Name(kind, None, index if count > 1 else ()))
    return symbol(Name(kind, k, index))


def flat(arr: list) -> list[sp.Symbol]:
    return [s for row in arr for s in row] if arr and isinstance(arr[0], list) else list(arr)


def _substitute_all(expr: sp.Expr, definitions: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
    # definitions are in forward order; substitute from the top layer down so one pass suffices
    for sym in reversed(list(definitions)):
        if expr.has(sym):
            expr = expr.xreplace({sym: definitions[sym]})
    return expr

