"""The matrix (batch) form the write-up prints: every displayed equation — each of its forms, the layer rule's
(Δ⁽ᵏ⁺¹⁾W⁽ᵏ⁺¹⁾ᵀ) ⊙ f′(H⁽ᵏ⁾) and the augmented notation's X̃W⁽ᵏ⁾ included — evaluated on random numbers equals
what symnet.derivation.matrix_form computes for the batch, and the printers write its pieces in the document's
notation (capitals for the batch's matrices, ⊙, 𝟏, the shapes at the right)."""
import numpy as np
import pytest
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

import symnet
from symnet.derivation.layer_form import width
from symnet.derivation.matrix_form import M, _function, matrix_form
from symnet.emit.html.mathml import mathml
from symnet.emit.latex.document import C, build, matrix_section
from symnet.emit.latex.layout import LINE_EM, Row, align_rows, expr_tokens, tex_width
from symnet.emit.latex.printer import AUGMENTED_MARK, NO_BIAS_MARK, LatexPrinter, latex
from symnet.emit.latex.render import Renderer
from symnet.functions.regularisers import lam
from symnet.spec import Network

SPECS = [
    ("2-3-1", dict()),
    ("4-5-3", dict(hidden="relu", output="softmax", loss="cce")),
    ("3-4-2", dict(hidden="tanh", output="sigmoid", loss="bce", l2=0.05)),
    ("2-3-3-2", dict(hidden="silu,leaky_relu", output="softmax", loss="mse")),
    ("2-2-1", dict(bias="augmented", l2=0.1)),
    ("3-2", dict(output="softmax", loss="cce")),
]


def evaluate(e: sp.Basic, values: dict[str, np.ndarray], sizes: dict[sp.Symbol, int], l2: float) -> np.ndarray:
    """A matrix expression of the document on arrays (the test's own evaluator: it knows the block matrices
    and the derivatives inside element-wise functions that the document adds)."""
    def size(d):
        return int(sp.sympify(d).xreplace(sizes))

    if isinstance(e, sp.MatrixSymbol):
        return values[str(e.name)]
    if isinstance(e, sp.OneMatrix):
        return np.ones((size(e.shape[0]), size(e.shape[1])))
    if isinstance(e, sp.ZeroMatrix):
        return np.zeros((size(e.shape[0]), size(e.shape[1])))
    if isinstance(e, sp.Transpose):
        return evaluate(e.arg, values, sizes, l2).T
    if isinstance(e, sp.BlockMatrix):
        return np.block([[evaluate(b, values, sizes, l2) for b in row] for row in e.blocks.tolist()])
    if isinstance(e, sp.MatAdd):
        return sum(evaluate(a, values, sizes, l2) for a in e.args)
    if isinstance(e, sp.HadamardProduct):
        return np.prod([evaluate(a, values, sizes, l2) for a in e.args], axis=0)
    if isinstance(e, sp.HadamardPower):
        return evaluate(e.base, values, sizes, l2) ** float(e.exp)
    if isinstance(e, sp.MatMul):
        out = None
        scalar = 1.0
        for a in e.args:
            if not a.is_Matrix:
                scalar *= float(a.xreplace({M: sizes[M], lam: l2}))
                continue
            v = evaluate(a, values, sizes, l2)
            out = v if out is None else out @ v
        return scalar * out
    if isinstance(e, ElementwiseApplyFunction):
        fn = e.function
        fn = sp.Lambda(fn.variables, fn.expr.doit()) if isinstance(fn, sp.Lambda) else fn
        return _function(fn, False)(evaluate(e.expr, values, sizes, l2))
    raise NotImplementedError(type(e).__name__)


@pytest.mark.parametrize("spec, options", SPECS, ids=[s for s, _ in SPECS])
def test_every_printed_matrix_equation_holds_on_random_numbers(spec, options):
    net = Network.parse(spec, **{k: v for k, v in options.items() if k != "bias"})
    section = matrix_section(net, augmented=options.get("bias") == "augmented")
    assert section is not None
    rng = np.random.default_rng(3)
    m = 5
    params = []
    for a, b in zip(net.layers, net.layers[1:]):
        params += [rng.normal(size=(a, b)), rng.normal(size=b)]
    X = rng.normal(size=(m, net.layers[0]))
    Y = rng.uniform(0.1, 0.9, size=(m, net.layers[-1]))
    if net.output == "softmax":
        Y = np.eye(net.layers[-1])[rng.integers(0, net.layers[-1], size=m)]
    ref = section.form.evaluate(params, X, Y, l2=net.l2)
    values = dict(ref)
    sizes = {M: m, **{width(k): n for k, n in enumerate(net.layers)}}
    for k in range(1, net.depth + 1):
        W, b = params[2 * k - 2], params[2 * k - 1]
        values[f"W{k}"] = np.vstack([W, b]) if section.augmented else W
        values[f"W{k}{NO_BIAS_MARK}"] = W
        values[f"b{k}"] = b.reshape(-1, 1)
        below = "X" if k == 1 else f"A{k - 1}"
        values[below + AUGMENTED_MARK] = np.hstack([ref[below], np.ones((m, 1))])
    values["Yhat"] = ref["Yhat"]
    checked = 0
    for e in section.extended + section.forward + section.backward:
        if isinstance(e.lhs, sp.Derivative):
            (var, _), = e.lhs.variable_count
            k = str(var.name)[1:]
            want = ref[f"dW{k}"] if str(var.name).startswith("W") else ref[f"db{k}"]
            if section.augmented:  # ∂C/∂W⁽ᵏ⁾ holds the bias row: 1ᵀΔ
                want = np.vstack([want, ref[f"db{k}"]])
            assert e.lhs.expr == C
        else:
            want = evaluate(e.lhs, values, sizes, net.l2)
        for _, form in e.forms:
            got = evaluate(form, values, sizes, net.l2)
            assert got.shape == want.shape and np.allclose(got, want, rtol=1e-10, atol=1e-12), (latex(e.lhs), latex(form))
            checked += 1
        # the shape printed at its right is the shape of what it defines
        assert (e.shape.rows.xreplace(sizes), e.shape.cols.xreplace(sizes)) == want.shape
    assert checked >= 4 * net.depth


def test_the_printers_write_the_batch_in_the_documents_notation():
    w = build(symnet.derive("2-3-1", hidden="tanh", l2=0.1))
    r = Renderer(w)
    tex = r.display(w.matrix_form.forward + w.matrix_form.backward)
    assert r"H^{(1)} &= X W^{(1)} + \mathbf{1} \mathbf{b}^{(1)\top} \tag*{$m \times n_{1}$}" in tex
    assert r"A^{(1)} &= \tanh(H^{(1)})" in tex and r"\hat{Y} &= \sigma(H^{(2)})" in tex
    assert r"\Delta^{(2)} &= \frac{1}{m}(\hat{Y} - Y) \odot \hat{Y} \odot (\mathbf{1} - \hat{Y})" in tex
    assert r"\Delta^{(1)} &= (\Delta^{(2)} W^{(2)\top}) \odot \tanh'(H^{(1)})" in tex
    assert r"&= (\Delta^{(2)} W^{(2)\top}) \odot (\mathbf{1} - A^{(1)} \odot A^{(1)}) \tag*{$m \times n_{1}$}" in tex
    assert r"\frac{\partial C}{\partial W^{(1)}} &= X^{\top} \Delta^{(1)} + \lambda W^{(1)} \tag*{$n_{0} \times n_{1}$}" in tex
    assert r"\frac{\partial C}{\partial \mathbf{b}^{(1)}} &= \mathbf{1}^{\top} \Delta^{(1)} \tag*{$1 \times n_{1}$}" in tex
    # the same pieces in MathML: capitals, an upright Δ, ⊙, a bold 1
    page = "".join(mathml(f) for e in w.matrix_form.backward for _, f in e.forms)
    assert '<mi mathvariant="normal">Δ</mi>' in page and "<mo>\u2299</mo>" in page
    assert '<mn mathvariant="bold">1</mn>' in page and "<mi>λ</mi>" in page


def test_softmax_and_relu_print_as_the_articles_write_them():
    w = build(symnet.derive("4-5-3", hidden="relu", output="softmax", loss="cce"))
    tex = Renderer(w).display(w.matrix_form.forward + w.matrix_form.backward)
    assert r"\hat{Y} &= \frac{\exp(H^{(2)})}{\exp(H^{(2)}) \mathbf{1}}" in tex
    assert r"\Delta^{(2)} &= \frac{1}{m}(\hat{Y} - Y)" in tex
    assert r"\odot \mathbf{1}[H^{(1)} > 0]" in tex


def long_sum() -> tuple[sp.MatrixSymbol, sp.MatrixExpr]:
    """Δ = (1/m)(Ŷ ⊙ Y ⊙ … + …): a matrix sum too long for a line."""
    Y, Yhat = sp.MatrixSymbol("Y", M, width(2)), sp.MatrixSymbol("Yhat", M, width(2))
    terms = [sp.HadamardProduct(Yhat, *([Y] * k)) for k in range(1, 9)]
    return sp.MatrixSymbol("D2", M, width(2)), sp.MatMul(1 / M, sp.MatAdd(*terms))


@pytest.mark.parametrize("case", ["synthetic", pytest.param("softmax-bce", marks=pytest.mark.slow)])
def test_a_long_delta_is_broken_across_lines_that_fit(case):
    if case == "synthetic":
        lhs, delta = long_sum()
    else:  # softmax with binary cross-entropy: the output layer's Δ is a sum of many terms (slow to derive)
        lay = matrix_form(Network.parse("2-2-2", output="softmax", loss="bce")).layer(2)
        lhs, delta = lay.D, lay.delta
    p = LatexPrinter()
    assert tex_width(p.doprint(delta)) > LINE_EM
    tex = align_rows([Row(p.doprint(lhs), "=", expr_tokens(delta, p), tag=r"m \times n_{2}")])
    lines = tex.split(" \\\\\n")
    assert len(lines) >= 2 and lines[-1].endswith(r"\tag*{$m \times n_{2}$}")
    assert all(tex_width(line.split("&", 1)[-1].split(r"\tag*")[0]) <= LINE_EM for line in lines)
    assert tex.count(r"\bigl(") == tex.count(r"\bigr)") or tex.count(r"\Bigl(") == tex.count(r"\Bigr)")


def test_the_augmented_notation_keeps_the_bias_in_w():
    w = build(symnet.derive("2-2-1", bias="augmented"))
    tex = Renderer(w).display(w.matrix_form.extended + w.matrix_form.forward + w.matrix_form.backward)
    assert r"\tilde{X} &= \begin{pmatrix}X & \mathbf{1}\end{pmatrix} \tag*{$m \times (n_{0} + 1)$}" in tex
    assert r"H^{(1)} &= \tilde{X} W^{(1)}" in tex and r"\bar{W}^{(2)\top}" in tex
    assert r"\mathbf{b}" not in tex and "b^{(" not in tex
