"""The matrix (batch) form: every layer's forward and backward pass over a batch of m samples, with shapes.

Samples are rows (symnet's convention): X is m×n₀, W⁽ᵏ⁾ is n_{k−1}×n_k and b⁽ᵏ⁾ a column n_k×1 that every
sample adds as the row bᵀ.  E is the mean over the m samples of the per-sample loss (plus (λ/2)ΣW² with
L2 decay), so Δ⁽ᴸ⁾ carries the 1/m and every quantity below it inherits it::

    H⁽ᵏ⁾ = A⁽ᵏ⁻¹⁾W⁽ᵏ⁾ + 1bᵀ                 m×n_k          (A⁽⁰⁾ = X)
    A⁽ᵏ⁾ = f(H⁽ᵏ⁾)                           m×n_k          (element-wise; A⁽ᴸ⁾ = Ŷ, a softmax row by row)
    Δ⁽ᴸ⁾ = (1/m)·δ⁽ᴸ⁾(Ŷ, Y)                  m×n_L          (the output rule of every sample, one per row)
    Δ⁽ᵏ⁾ = (Δ⁽ᵏ⁺¹⁾W⁽ᵏ⁺¹⁾ᵀ) ⊙ f′(H⁽ᵏ⁾)        m×n_k
    ∂E/∂W⁽ᵏ⁾ = A⁽ᵏ⁻¹⁾ᵀΔ⁽ᵏ⁾ (+ λW⁽ᵏ⁾)          n_{k−1}×n_k
    ∂E/∂b⁽ᵏ⁾ = 1ᵀΔ⁽ᵏ⁾                         1×n_k          (the gradient of the row bᵀ: Δ summed over the batch)
    ∂E/∂A⁽ᵏ⁻¹⁾ = Δ⁽ᵏ⁾W⁽ᵏ⁾ᵀ,  ∂E/∂Ŷ = (1/m)·∂ℓ/∂Ŷ

Nothing here is typed in by hand: each matrix expression is *translated* from the layer (index) form of
:mod:`symnet.derivation.layer_form` — a sample's vector entry aⱼ becomes the column j of A (one row per
sample), Σᵢ aᵢWᵢⱼ a matrix product, a product of entries with the same index a Hadamard product ⊙, f(hⱼ)
the element-wise f(H) (SymPy's ``ElementwiseApplyFunction``), a row sum Σ_q g(ŷ_q) the product with a
ones matrix, and a parameter's per-sample gradient aᵢδⱼ the sum over the batch AᵀΔ.  Since every
per-sample rule is linear in δ, writing Δ = δ/m for the batch makes the mean's 1/m flow through them.

The form depends on the activations, the loss and whether there is L2 decay, never on the widths:
:func:`matrix_form` derives it once per such signature, with symbolic widths n₀ … n_L and m, so
784-256-10 costs what 2-2-1 does.  :meth:`MatrixForm.evaluate` computes every quantity for a batch of
NumPy arrays (or of SymPy expressions, in object arrays, for proofs at a small concrete size).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Callable

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symnet.derivation.layer_form import LayerRule, base, collapse, layer_rule, width
from symnet.derivation.names import E
from symnet.functions.activations import inline, numpy_functions
from symnet.functions.regularisers import lam
from symnet.spec import Network

__all__ = ["M", "Env", "MatrixForm", "MatrixLayer", "Translator", "evaluate", "matrix_form", "scaled"]

#: the number of samples in the batch (the same symbol as a claim's ``m``)
M = sp.Symbol("m", integer=True, positive=True)
_P = sp.Symbol("p", integer=True, positive=True)  # a free index for ∂E/∂A⁽ᵏ⁻¹⁾ₚ
_X = sp.Symbol("x", real=True)  # the argument of an element-wise function, when it is evaluated

Array = np.ndarray
MatrixExpr = sp.MatrixExpr


@dataclass(frozen=True)
class MatrixLayer:
    """One layer k over the batch: its forward and backward pass as SymPy matrix expressions.

    ``H``, ``A`` and ``D`` are the layer's quantities as ``MatrixSymbol`` s (m×n_k; ``A`` is ``Yhat`` in
    the output layer); ``forward_H`` and ``forward_A`` define H and A, ``delta`` defines D = Δ⁽ᵏ⁾ = ∂E/∂H⁽ᵏ⁾
    (in terms of the layer above's D, or of Ŷ and Y in the output layer), ``dW`` and ``db`` are ∂E/∂W⁽ᵏ⁾
    and ∂E/∂b⁽ᵏ⁾ (the row 1ᵀΔ), ``dA_below`` is ∂E/∂A⁽ᵏ⁻¹⁾ = ΔW⁽ᵏ⁾ᵀ (∂E/∂X for k = 1) and ``dA`` is
    ∂E/∂Ŷ in the output layer (None elsewhere: there ∂E/∂A⁽ᵏ⁾ is the next layer's ``dA_below``).
    ``rule`` is the layer (index) form each was translated from."""

    k: int
    is_output: bool
    W: sp.MatrixSymbol
    b: sp.MatrixSymbol
    H: sp.MatrixSymbol
    A: sp.MatrixSymbol
    D: sp.MatrixSymbol
    forward_H: MatrixExpr
    forward_A: MatrixExpr
    delta: MatrixExpr
    dW: MatrixExpr
    db: MatrixExpr
    dA_below: MatrixExpr
    dA: MatrixExpr | None
    rule: LayerRule

    def equations(self) -> list[tuple[sp.Basic, MatrixExpr]]:
        """(left side, right side) in reading order: H, A, Δ, ∂E/∂W, ∂E/∂b, for printing."""
        return [(self.H, self.forward_H), (self.A, self.forward_A), (self.D, self.delta),
                (sp.Derivative(E, self.W, evaluate=False), self.dW),
                (sp.Derivative(E, self.b, evaluate=False), self.db)]


@dataclass(frozen=True)
class MatrixForm:
    """The batch form of a network's derivation, for any widths: ``layers[k - 1]`` is layer k."""

    activations: tuple[str, ...]
    loss: str
    decay: bool
    X: sp.MatrixSymbol
    Y: sp.MatrixSymbol
    layers: tuple[MatrixLayer, ...]
    #: Σⱼ yⱼ = 1 when the output rule used one-hot targets (softmax + cross-entropy), else None
    assumption: sp.Eq | None

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def Yhat(self) -> sp.MatrixSymbol:
        return self.layers[-1].A

    def layer(self, k: int) -> MatrixLayer:
        if not 1 <= k <= self.depth:
            raise ValueError(f"layer {k} does not exist; layers with weights are 1..{self.depth}")
        return self.layers[k - 1]

    def shapes(self) -> dict[str, tuple[sp.Expr, sp.Expr]]:
        """Every quantity's shape in symbols (m, n0, n1, …): X, Y, Yhat, Hk, Ak, Dk, Wk, bk, dWk, dbk, dAk."""
        out = {"X": self.X.shape, "Y": self.Y.shape}
        for lay in self.layers:
            for sym in (lay.W, lay.b, lay.H, lay.A, lay.D):
                out[str(sym.name)] = sym.shape
            out[f"dW{lay.k}"], out[f"db{lay.k}"] = lay.dW.shape, lay.db.shape
            out[f"dA{lay.k - 1}"] = lay.dA_below.shape
        out[f"dA{self.depth}"] = self.Yhat.shape
        return out

    def equations(self) -> list[tuple[sp.Basic, MatrixExpr]]:
        """The forward pass layer by layer, then the backward pass from the output down."""
        forward = [eq for lay in self.layers for eq in lay.equations()[:2]]
        backward = [eq for lay in reversed(self.layers) for eq in lay.equations()[2:]]
        return forward + backward

    def evaluate(self, params: list[Array], X: Array, Y: Array, *, l2: float = 0.0,
                 symbolic: bool = False, m: object = None, forward: dict[str, Array] | None = None
                 ) -> dict[str, Array]:
        """Every quantity of one batch, in the rows layout: ``params`` = [W1, b1, W2, b2, …] (Wk (n_{k−1}, n_k),
        bk (n_k,)), X (m, n0), Y (m, nL).  Returns "X", "Y", "Hk", "Ak" (k = 1..L; "Yhat" too), "Dk", "dWk",
        "dbk" (a (1, n_k) row) and "dAk" (k = 0..L: ∂E/∂X … ∂E/∂Ŷ).

        With ``symbolic`` the arrays hold SymPy expressions (object arrays) and functions apply as SymPy
        functions; ``m`` then stands for the batch size in the 1/m (the symbol m, say), ``l2`` may be a
        symbol, and ``forward`` may give H and A arrays (symbols with definitions) instead of computing them.
        """
        sizes: dict[sp.Symbol, int] = {M: int(np.shape(X)[0]), width(0): int(np.shape(X)[1])}
        for k in range(1, self.depth + 1):
            sizes[width(k)] = int(np.shape(params[2 * k - 2])[1])
        batch = (M if m is None else m) if symbolic else sizes[M]
        env = Env(sizes, {lam: l2, M: batch}, symbolic)
        values: dict[str, Array] = {"X": X, "Y": Y}
        env.values = values
        for lay, (Wk, bk) in zip(self.layers, zip(params[0::2], params[1::2])):
            values[str(lay.W.name)] = Wk
            values[str(lay.b.name)] = np.reshape(bk, (-1, 1))
        for lay in self.layers:
            for sym, expr in ((lay.H, lay.forward_H), (lay.A, lay.forward_A)):
                name = str(sym.name)
                values[name] = forward[name] if forward and name in forward else env.eval(expr)
        for lay in reversed(self.layers):
            values[str(lay.D.name)] = env.eval(lay.delta)
        out = dict(values)
        for lay in self.layers:
            out[f"b{lay.k}"] = np.reshape(params[2 * lay.k - 1], -1)
            out[f"H{lay.k}"], out[f"A{lay.k}"] = values[str(lay.H.name)], values[str(lay.A.name)]
            out[f"D{lay.k}"] = values[str(lay.D.name)]
            out[f"dW{lay.k}"], out[f"db{lay.k}"] = env.eval(lay.dW), env.eval(lay.db)
            out[f"dA{lay.k - 1}"] = env.eval(lay.dA_below)
        out["Yhat"] = out[f"A{self.depth}"]
        out[f"dA{self.depth}"] = env.eval(self.layers[-1].dA)
        return out

    def activate(self, k: int, H: Array, *, symbolic: bool = False) -> Array:
        """A⁽ᵏ⁾ = f(H⁽ᵏ⁾) of one layer for an (m, n_k) array H, from the form's definition."""
        lay = self.layer(k)
        env = Env({M: int(np.shape(H)[0]), width(k): int(np.shape(H)[1])}, {}, symbolic)
        env.values = {str(lay.H.name): H}
        return env.eval(lay.forward_A)


def matrix_form(net: Network) -> MatrixForm:
    """The batch form of ``net``'s derivation (derived once per activations, loss and decay: widths do
    not matter)."""
    return _derive(net.activations, net.loss, bool(net.l2))


def evaluate(net: Network, params: list[Array], X: Array, Y: Array) -> dict[str, Array]:
    """:meth:`MatrixForm.evaluate` for ``net`` (its λ) on NumPy arrays in the rows layout."""
    return matrix_form(net).evaluate(params, X, Y, l2=net.l2)


# -- derivation: the layer form translated ----------------------------------------------------------------
@cache
def _derive(activations: tuple[str, ...], loss: str, decay: bool) -> MatrixForm:
    L = len(activations)
    # the layer form is the same for every width: derive it on a network of width 2 throughout
    net = Network.build([2] * (L + 1), hidden=list(activations[:-1]), output=activations[-1], loss=loss,
                        l2=1.0 if decay else 0.0)
    t = Translator(L)
    layers = []
    for k in range(1, L + 1):
        r = layer_rule(net, k)
        j, i = sp.Symbol("j", integer=True, positive=True), sp.Symbol("i", integer=True, positive=True)
        n_k, n_below = width(k), width(k - 1)
        delta = t.rows(r.delta.rhs, j, n_k)
        if r.is_output:
            delta = scaled(1 / M, delta)  # E is the mean over the batch
        dW = t.batch_sum(r.dW.rhs, (i, n_below), (j, n_k))
        if r.decay != 0:
            dW = sp.MatAdd(dW, t.parameter(r.decay, i, j))
        db = t.batch_sum(r.db.rhs, None, (j, n_k))
        a_below = base("a", k - 1, L)
        # ∂E/∂a_p of the layer below: Σⱼ ∂hⱼ/∂a_p · δⱼ, with ∂hⱼ/∂a_p differentiated from hⱼ's definition
        dh_da = collapse(sp.diff(r.h.rhs, a_below[_P]))
        dA_below = t.rows(sp.Sum(dh_da * base("delta", k, L)[j], (j, 1, n_k)), _P, n_below)
        dA = scaled(1 / M, t.rows(r.local["dE/dyhat"], j, n_k)) if r.is_output else None
        layers.append(MatrixLayer(
            k, r.is_output, t.symbol(f"W{k}"), t.symbol(f"b{k}"), t.symbol(f"h{k}"), t.symbol(base("a", k, L).name),
            t.symbol(f"delta{k}"), t.rows(r.h.rhs, j, n_k), t.rows(r.a.rhs, j, n_k),
            delta, dW, db, dA_below, dA, r))
    return MatrixForm(tuple(activations), loss, decay, t.symbol("x"), t.symbol("y"), tuple(layers),
                      layer_rule(net, L).assumption)


def scaled(c: sp.Expr, mat: MatrixExpr) -> MatrixExpr:
    return mat if c == 1 else sp.MatMul(c, mat)


def _offset(indices: tuple, var: sp.Symbol) -> sp.Expr | None:
    """o when the one index is var + o (o free of var), else None."""
    if len(indices) != 1:
        return None
    o = indices[0] - var
    return None if o.has(var) else o


def _block(W: sp.MatrixSymbol, row0: sp.Expr, rows: sp.Expr, col0: sp.Expr, cols: sp.Expr) -> MatrixExpr:
    """The rows row0 … row0 + rows and columns col0 … col0 + cols of W (W itself when that is all of it)."""
    if row0 == 0 and col0 == 0 and W.shape == (rows, cols):
        return W
    return W[row0:row0 + rows, col0:col0 + cols]


class Translator:
    """Index expressions of one sample → matrix expressions over the batch (one row per sample)."""

    def __init__(self, L: int | None = None, *, symbols: dict[str, sp.MatrixSymbol] | None = None,
                 params: set[str] | None = None):
        """The layer list's matrices for L layers; or ``symbols`` (an array's label → its matrix) of which
        ``params`` are parameters (the others hold one row per sample)."""
        self.L = L
        if symbols is not None:
            self.symbols, self.params = dict(symbols), set(params or ())
            return
        self.params = {f"{kind}{k}" for k in range(1, L + 1) for kind in ("W", "b")}
        self.symbols: dict[str, sp.MatrixSymbol] = {
            "x": sp.MatrixSymbol("X", M, width(0)), "y": sp.MatrixSymbol("Y", M, width(L)),
            "yhat": sp.MatrixSymbol("Yhat", M, width(L)),
        }
        for k in range(1, L + 1):
            self.symbols[f"W{k}"] = sp.MatrixSymbol(f"W{k}", width(k - 1), width(k))
            self.symbols[f"b{k}"] = sp.MatrixSymbol(f"b{k}", width(k), 1)
            self.symbols[f"h{k}"] = sp.MatrixSymbol(f"H{k}", M, width(k))
            self.symbols[f"delta{k}"] = sp.MatrixSymbol(f"D{k}", M, width(k))
            if k < L:
                self.symbols[f"a{k}"] = sp.MatrixSymbol(f"A{k}", M, width(k))

    def symbol(self, label: str) -> sp.MatrixSymbol:
        return self.symbols[label]

    @staticmethod
    def _label(e: sp.Indexed) -> str:
        return str(e.base.label)

    def _per_sample(self, label: str) -> bool:
        return label not in self.params

    def rows(self, e: sp.Expr, j: sp.Symbol, n: sp.Expr) -> MatrixExpr:
        """The m×n matrix whose row s, column j is ``e`` for sample s (``e`` has the one free index j)."""
        if not e.has(sp.Indexed):
            # a scalar: the same number in every entry
            return scaled(e, sp.OneMatrix(M, n))
        if isinstance(e, sp.Indexed):
            label = self._label(e)
            offset = _offset(e.indices, j)
            if offset is None:
                raise NotImplementedError(f"{e}: expected an entry indexed by {j}")
            if self._per_sample(label):
                whole = self.symbols[label]
                # offset + j, j = 1 … n: the columns offset … offset + n of a wider matrix (a concatenation's)
                return whole if offset == 0 and whole.shape[1] == n else whole[:, offset:offset + n]
            if self.symbols[label].shape[1] == 1:
                return sp.MatMul(sp.OneMatrix(M, 1), sp.Transpose(self.symbols[label]))
        if isinstance(e, sp.Add):
            return sp.MatAdd(*(self.rows(a, j, n) for a in e.args))
        if isinstance(e, sp.Mul):
            scalar = sp.Mul(*(f for f in e.args if not f.has(sp.Indexed)))
            mats = [self.rows(f, j, n) for f in e.args if f.has(sp.Indexed)]
            body = mats[0] if len(mats) == 1 else sp.HadamardProduct(*mats)
            return scaled(scalar, body)
        if isinstance(e, sp.Pow) and not e.exp.has(sp.Indexed):
            return sp.HadamardPower(self.rows(e.base, j, n), e.exp)
        if isinstance(e, sp.Sum):
            return self._sum(e, j, n)
        atoms = e.atoms(sp.Indexed)
        if len(atoms) == 1 and not e.has(sp.Sum):
            (atom,) = atoms
            if len(e.args) == 1 and e.args[0] == atom and isinstance(e, sp.Function):
                fn = e.func
            else:
                fn = sp.Lambda(_X, e.xreplace({atom: _X}))
            return ElementwiseApplyFunction(fn, self.rows(atom, j, n))
        if isinstance(e, sp.Function) and sum(a.has(sp.Indexed) for a in e.args) == 1:
            # f(u) of one entry-wise argument that itself sums (a hinge's step at sⱼ − Σₗ yₗsₗ + Δ): f over u's matrix
            (u,) = (a for a in e.args if a.has(sp.Indexed))
            fn = sp.Lambda(_X, e.func(*(_X if a is u else a for a in e.args)))
            return ElementwiseApplyFunction(fn, self.rows(u, j, n))
        raise NotImplementedError(f"no matrix form for {e}")

    def _sum(self, e: sp.Sum, j: sp.Symbol, n: sp.Expr) -> MatrixExpr:
        (c, lo, hi), = e.limits
        if lo != 1:
            raise NotImplementedError(f"{e}: a sum from {lo}")
        factors = sp.Mul.make_args(e.function)
        weights = [f for f in factors if isinstance(f, sp.Indexed) and not self._per_sample(self._label(f))]
        if weights:
            # Σ_c (entry in c) · W[c, j] (or W[j, c]): a matrix product with W (or Wᵀ)
            (w,) = weights
            rest = sp.Mul(*(f for f in factors if f is not w))
            left = self.rows(rest, c, hi)
            W = self.symbols[self._label(w)]
            (a, b) = w.indices
            if _offset((a,), c) is not None and _offset((b,), j) is not None:
                # Σ_c v_c W[c, j]: V·W (rows offset … of W where the sum covers part of them, columns likewise)
                return sp.MatMul(left, _block(W, _offset((a,), c), hi, _offset((b,), j), n))
            if _offset((a,), j) is not None and _offset((b,), c) is not None:
                return sp.MatMul(left, sp.Transpose(_block(W, _offset((a,), j), n, _offset((b,), c), hi)))
            raise NotImplementedError(f"{e}: weights indexed {w.indices}")
        # a row sum Σ_c g(c)·k(j): the part in c summed over its row (a product with a ones matrix), times
        # the part in j
        summand = e.function
        parts = sp.Mul.make_args(summand)
        if any(p.has(c) and p.has(j) for p in parts):
            parts = sp.Mul.make_args(sp.factor(summand))
            if any(p.has(c) and p.has(j) for p in parts):
                raise NotImplementedError(f"{e}: the summand does not separate into factors in {c} and in {j}")
        inner = self.rows(sp.Mul(*(p for p in parts if p.has(c))), c, hi)
        total = sp.MatMul(inner, sp.OneMatrix(hi, n))
        outer = sp.Mul(*(p for p in parts if not p.has(c)))
        if not outer.has(sp.Indexed):
            return scaled(outer, total)
        return sp.HadamardProduct(self.rows(outer, j, n), total)

    def batch_sum(self, e: sp.Expr, left: tuple[sp.Symbol, sp.Expr] | None, right: tuple[sp.Symbol, sp.Expr]
                  ) -> MatrixExpr:
        """Σ over the samples of a per-sample gradient with entries (i, j) (``left`` = (i, nᵢ)) or j alone:
        (the i-part)ᵀ(the j-part), or 1ᵀ(the j-part)."""
        j, n_j = right
        parts = sp.Mul.make_args(e)
        scalar = sp.Mul(*(p for p in parts if not p.has(sp.Indexed)))
        in_j = sp.Mul(*(p for p in parts if p.has(sp.Indexed) and p.has(j)))
        rest = [p for p in parts if p.has(sp.Indexed) and not p.has(j)]
        if left is None:
            if rest:
                raise NotImplementedError(f"{e}: factors without {j}")
            return scaled(scalar, sp.MatMul(sp.OneMatrix(1, M), self.rows(in_j, j, n_j)))
        i, n_i = left
        if any(p.has(j) for p in rest) or any(not p.has(i) for p in rest):
            raise NotImplementedError(f"{e}: does not separate into factors in {i} and in {j}")
        below = self.rows(sp.Mul(*rest), i, n_i)
        return scaled(scalar, sp.MatMul(sp.Transpose(below), self.rows(in_j, j, n_j)))

    def parameter(self, e: sp.Expr, i: sp.Symbol, j: sp.Symbol) -> MatrixExpr:
        """A parameter-shaped term such as the decay λ·W[i, j] → λW."""
        parts = sp.Mul.make_args(e)
        weights = [p for p in parts if isinstance(p, sp.Indexed)]
        if len(weights) != 1 or weights[0].indices != (i, j):
            raise NotImplementedError(f"{e}: expected a multiple of one weight W[i, j]")
        return scaled(sp.Mul(*(p for p in parts if p is not weights[0])), self.symbols[self._label(weights[0])])


# -- evaluation --------------------------------------------------------------------------------------------
class Env:
    """Evaluates matrix expressions on arrays: the quantities computed so far, and the sizes."""

    def __init__(self, sizes: dict[sp.Symbol, int], scalars: dict[sp.Symbol, object], symbolic: bool):
        self.symbolic, self.sizes, self.scalars = symbolic, sizes, scalars
        self.values: dict[str, Array] = {}
        self.memo: dict[sp.Basic, Array] = {}

    def size(self, dim: sp.Expr) -> int:
        return int(dim.xreplace(self.sizes))

    def scalar(self, e: sp.Expr) -> object:
        v = e.xreplace({**self.sizes, **self.scalars})  # a width may be a number too (smoothing's ε/n)
        if self.symbolic:
            return v
        return float(v)

    def eval(self, e: MatrixExpr) -> Array:
        if e in self.memo:
            return self.memo[e]
        out = self._eval(e)
        self.memo[e] = out
        return out

    def _eval(self, e: sp.Basic) -> Array:
        if isinstance(e, sp.MatrixSymbol):
            return self.values[str(e.name)]
        if isinstance(e, sp.OneMatrix):
            return self._ones((self.size(e.shape[0]), self.size(e.shape[1])))
        if isinstance(e, sp.Transpose):
            return self.eval(e.arg).T
        if isinstance(e, sp.MatAdd):
            out = self.eval(e.args[0])
            for a in e.args[1:]:
                out = out + self.eval(a)
            return out
        if isinstance(e, sp.HadamardProduct):
            out = self.eval(e.args[0])
            for a in e.args[1:]:
                out = out * self.eval(a)
            return out
        if isinstance(e, sp.HadamardPower):
            return _power(self.eval(e.base), self.scalar(e.exp), self.symbolic)
        if isinstance(e, sp.MatMul):
            return self._matmul(e)
        if isinstance(e, ElementwiseApplyFunction):
            return _function(e.function, self.symbolic)(self.eval(e.expr))
        if isinstance(e, sp.MatrixSlice):
            (r0, r1, _), (c0, c1, _) = e.rowslice, e.colslice
            return self.eval(e.parent)[self.size(r0):self.size(r1), self.size(c0):self.size(c1)]
        if isinstance(e, sp.BlockMatrix):
            return np.hstack([self.eval(b) for b in e.blocks[0, :]])
        raise NotImplementedError(f"cannot evaluate {type(e).__name__}: {e}")

    def _matmul(self, e: sp.MatMul) -> Array:
        scalar = sp.Mul(*(a for a in e.args if not a.is_Matrix))
        out: Array | tuple[int, int] | None = None  # a (rows, cols) tuple stands for a leading ones matrix
        for a in (a for a in e.args if a.is_Matrix):
            if isinstance(a, sp.OneMatrix):
                shape = (self.size(a.shape[0]), self.size(a.shape[1]))
                if out is None:
                    out = shape
                    continue
                if isinstance(out, tuple):
                    out = self._ones(out)
                # X·1: every column holds the row sums of X (the ones are never built)
                out = np.broadcast_to(out.sum(axis=1, keepdims=True), (out.shape[0], shape[1])).copy()
                continue
            value = self.eval(a)
            if out is None:
                out = value
            elif isinstance(out, tuple):
                # 1·X: every row holds the column sums of X
                out = np.broadcast_to(value.sum(axis=0, keepdims=True), (out[0], value.shape[1])).copy()
            else:
                out = out @ value
        if isinstance(out, tuple):
            out = self._ones(out)
        return out if scalar == 1 else out * self.scalar(scalar)

    def _ones(self, shape: tuple[int, int]) -> Array:
        return np.ones(shape, dtype=object if self.symbolic else float)


def _power(base: Array, exponent: object, symbolic: bool) -> Array:
    if symbolic:
        return np.vectorize(lambda v: v ** exponent, otypes=[object])(base)
    with np.errstate(all="ignore"):
        return np.power(base, exponent)


def _function(fn: sp.Basic, symbolic: bool) -> Callable[[Array], Array]:
    """An element-wise function (a SymPy function class or Lambda) on arrays."""
    expr = fn(_X)
    if symbolic:
        return np.vectorize(lambda v: expr.xreplace({_X: v}), otypes=[object])
    return _numpy(expr)


@cache
def _numpy(expr: sp.Expr) -> Callable[[Array], Array]:
    f = sp.lambdify(_X, inline(expr, kernel=True), modules=[numpy_functions(), "numpy"])

    def apply(v: Array) -> Array:
        with np.errstate(all="ignore"):
            return np.broadcast_to(np.asarray(f(np.asarray(v, dtype=float)), dtype=float), np.shape(v)).copy()

    return apply
