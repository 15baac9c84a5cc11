"""Matrix claims (`check_matrix`): a whole ∂E/∂W1 (b1, H1, A1, Yhat, X) for a batch, written as NumPy, in
symnet's rows convention or the course's columns convention; the verdict, the diagnosis of each known
mistake, one-line shape errors, and a whitelist that refuses everything else."""
import time

import pytest

from symnet import Network
from symnet.errors import InputError
from symnet.verify.matrix import check_matrix, is_matrix_name, parse_matrix_claim

NET_231 = Network.parse("2-3-1")  # sigmoid, sigmoid, ½ squared error
NET_231_BCE = Network.parse("2-3-1", loss="bce")  # sigmoid output with cross-entropy: Δ = (Ŷ − Y)/m
NET_344 = Network.parse("3-4-4", hidden="tanh")  # sigmoid output, ½ squared error: W2 is square
NET_453 = Network.parse("4-5-3", hidden="tanh", output="softmax", loss="cce")
NET_L2 = Network.parse("2-3-1", l2=0.1)
NET_RELU = Network.parse("2-4-1", hidden="relu", loss="bce")

# -- correct claims ------------------------------------------------------------------------------------------
CORRECT = [
    # rows: samples are rows, X m×n0, W n(k-1)×nk, H = X @ W + b
    (NET_231, "rows", "W1", "X.T @ (((Yhat - Y) * Yhat*(1 - Yhat) / m @ W2.T) * A1*(1 - A1))"),
    (NET_231, "rows", "W1", "X.T @ ((((Yhat - Y) * sigmoid(H2)*(1 - sigmoid(H2))) @ W2.T) * A1*(1 - A1)) / m"),
    (NET_231, "rows", "W1", "X.T @ D1"),
    (NET_231, "rows", "dW1", "np.dot(X.T, D1)"),
    (NET_231, "rows", "W2", "A1.T @ D2"),
    (NET_231, "rows", "b1", "D1.sum(axis=0)"),
    (NET_231, "rows", "b1", "sum(D1, axis=0, keepdims=True)"),
    (NET_231, "rows", "b2", "np.mean((Yhat - Y) * Yhat * (1 - Yhat), axis=0)"),
    (NET_231, "rows", "H2", "(Yhat - Y) * Yhat * (1 - Yhat) / m"),
    (NET_231, "rows", "H1", "(D2 @ W2.T) * A1 * (1 - A1)"),
    (NET_231, "rows", "A1", "D2 @ W2.T"),
    (NET_231, "rows", "Yhat", "(Yhat - Y) / m"),
    (NET_231, "rows", "X", "D1 @ W1.T"),
    (NET_231_BCE, "rows", "W1", "X.T @ (((Yhat - Y) @ W2.T) * A1*(1 - A1)) / m"),  # the example, with bce
    (NET_344, "rows", "W1", "X.T @ ((D2 @ W2.T) * (1 - A1^2))"),
    (NET_344, "rows", "W1", "X.T @ ((D2 @ W2.T) * (1 - tanh(H1)**2))"),
    (NET_453, "rows", "W1", "X.T @ (((Yhat - Y) / m @ W2.T) * (1 - A1**2))"),
    (NET_453, "rows", "b2", "np.sum(Yhat - Y, axis=0) / m"),
    (NET_RELU, "rows", "W1", "X.T @ ((D2 @ W2.T) * (H1 > 0))"),
    (NET_RELU, "rows", "W1", "X.T @ (((Yhat - Y) @ W2.T) * step(H1)) / m"),
    (NET_L2, "rows", "W1", "X.T @ D1 + lam*W1"),
    (NET_L2, "rows", "W2", "A1.T @ D2 + reg * W2"),
    # columns: samples are columns, X n0×m, W nk×n(k-1), Z = W @ A + b; dZ is the course's m·Δ
    (NET_453, "columns", "W1", "1/m * ((W2.T @ (A2 - Y)) * (1 - np.power(A1, 2))) @ X.T"),
    (NET_453, "columns", "dW1", "1/m * dZ1 @ X.T"),
    (NET_453, "columns", "W1", "np.dot(np.multiply(np.dot(W2.T, A2 - Y), 1 - np.power(A1, 2)), X.T) / m"),
    (NET_453, "columns", "W2", "(A2 - Y) @ A1.T / m"),
    (NET_453, "columns", "b1", "np.sum(dZ1, axis=1, keepdims=True) / m"),
    (NET_453, "columns", "b2", "np.mean(A2 - Y, axis=1, keepdims=True)"),
    (NET_453, "columns", "Z2", "(A2 - Y) / m"),
    (NET_231, "columns", "W1", "(W2.T @ D2 * A1 * (1 - A1)) @ X.T"),
    (NET_231, "columns", "Z1", "(W2.T @ D2) * A1 * (1 - A1)"),
    (NET_231, "columns", "b1", "D1.sum(axis=1)"),
    (NET_RELU, "columns", "W1", "dZ1 @ X.T / m"),
    (NET_RELU, "columns", "dW1", "((W2.T @ (A2 - Y)) * (Z1 > 0)) @ X.T / m"),
    (NET_L2, "columns", "W1", "D1 @ X.T + lam * W1"),
]


@pytest.mark.parametrize("net, convention, wrt, claim", CORRECT)
def test_a_correct_claim_is_correct(net, convention, wrt, claim):
    verdict = check_matrix(net, wrt, claim, convention=convention)
    assert verdict.ok, verdict.report()
    assert bool(verdict) and verdict.diagnosis == ""
    assert verdict.max_rel_error < 1e-10
    assert verdict.lines()[0] == f"correct: ∂E/∂{wrt.removeprefix('d')} = {' '.join(claim.split())}"


def test_a_small_network_is_proved_symbolically():
    verdict = check_matrix(NET_231, "W1", "X.T @ (((Yhat - Y) * Yhat*(1 - Yhat) / m @ W2.T) * A1*(1 - A1))")
    assert verdict.proved and verdict.proof_size == 4  # the smallest batch that is no layer's width
    lines = verdict.lines()
    assert lines[1].startswith("  proved symbolically for a batch of m = 4 (every entry) and confirmed at 3 random "
                               "batches (m = ")
    assert lines[2] == "  shape 2×3 (rows convention: samples are rows)"


def test_a_column_claim_is_proved_too():
    verdict = check_matrix(NET_453, "W1", "1/m * ((W2.T @ (A2 - Y)) * (1 - np.power(A1, 2))) @ X.T",
                           convention="columns")
    assert verdict.proved and verdict.shape == "5×4"
    assert "note: targets are one-hot" in verdict.report()


def test_the_courses_dz_is_m_times_delta():
    verdict = check_matrix(NET_453, "W1", "1/m * dZ1 @ X.T", convention="columns")
    assert verdict.ok and any("dZk is the course's dZ = m·Δ⁽ᵏ⁾" in note for note in verdict.notes)
    # dZ1 without the course's 1/m is the sum over the batch, D1 with it divides twice
    assert "m times ∂E/∂W1" in check_matrix(NET_453, "W1", "dZ1 @ X.T", convention="columns").diagnosis
    assert "1/m times ∂E/∂W1: divided by m twice" in \
        check_matrix(NET_453, "W1", "1/m * D1 @ X.T", convention="columns").diagnosis


# -- wrong claims: the mistake named -------------------------------------------------------------------------
WRONG = [
    pytest.param(NET_231, "rows", "W1", "D1.T @ X", "transposed: (∂E/∂W1)ᵀ, shape 3×2 where 2×3 belongs",
                 id="transposed"),
    pytest.param(NET_344, "rows", "W2", "D2.T @ A1", "transposed: (∂E/∂W2)ᵀ", id="transposed, square"),
    pytest.param(NET_453, "columns", "W1", "X @ dZ1.T / m", "transposed: (∂E/∂W1)ᵀ, shape 4×5 where 5×4 belongs",
                 id="transposed, columns"),
    pytest.param(NET_231, "rows", "W1", "X.T @ ((((Yhat - Y) * Yhat*(1 - Yhat)) @ W2.T) * A1*(1 - A1))",
                 "m times ∂E/∂W1: summed over the batch where E averages (divide by m)", id="1/m missing"),
    pytest.param(NET_453, "columns", "W2", "(A2 - Y) @ A1.T", "m times ∂E/∂W2", id="1/m missing, columns"),
    pytest.param(NET_231, "rows", "W1", "X.T @ D1 / m", "1/m times ∂E/∂W1: divided by m twice", id="extra 1/m"),
    pytest.param(NET_344, "rows", "W1", "X.T @ (D2 * (1 - A1**2) @ W2.T)",
                 "in layer 1's delta the element-wise product with tanh′(H1) comes before the matrix product",
                 id="* before @"),
    pytest.param(NET_344, "rows", "W1", "X.T @ ((D2 @ W2) * (1 - A1**2))",
                 "carried back with W2 where W2.T belongs", id="W where W.T belongs"),
    pytest.param(NET_231, "rows", "W1", "X.T @ (((Yhat - Y) @ W2.T) * A1*(1 - A1)) / m",
                 "f′ of layer 2 missing: σ′(H2) = A2*(1 - A2) is not multiplied in", id="output f′ missing (mse)"),
    pytest.param(NET_344, "rows", "W1", "X.T @ (D2 @ W2.T)", "f′ of layer 1 missing: tanh′(H1) = 1 - A1**2",
                 id="hidden f′ missing"),
    pytest.param(NET_RELU, "columns", "W1", "(W2.T @ (A2 - Y)) @ X.T / m",
                 "f′ of layer 1 missing: ReLU′(Z1) = step(Z1)",
                 id="ReLU′ missing, columns"),
    pytest.param(NET_344, "rows", "W1", "X.T @ ((D2 @ W2.T) * A1 * (1 - A1))",
                 "σ′ used where tanh′ belongs in layer 1", id="σ′ for tanh′"),
    pytest.param(NET_453, "columns", "W1", "1/m * ((W2.T @ (A2 - Y)) * A1 * (1 - A1)) @ X.T",
                 "σ′ used where tanh′ belongs in layer 1", id="σ′ for tanh′, columns"),
    pytest.param(NET_231, "rows", "W2", "A1.T @ ((Y - Yhat) * Yhat * (1 - Yhat)) / m",
                 "the opposite sign: −∂E/∂W2", id="sign"),
    pytest.param(NET_453, "columns", "W2", "(Y - A2) @ A1.T / m", "the opposite sign", id="sign, columns"),
    pytest.param(NET_231, "rows", "b1", "D1", "not summed over the batch: one entry per sample, shape m×3 where (3,) "
                 "belongs; sum over the samples (sum(…, axis=0))", id="bias not summed"),
    pytest.param(NET_453, "columns", "b1", "dZ1 / m", "not summed over the batch: one entry per sample, shape 5×m "
                 "where 5×1 belongs", id="bias not summed, columns"),
    pytest.param(NET_L2, "rows", "W1", "X.T @ D1",
                 "the L2 term λ·W1 (λ = 0.1) is missing from dW1: the cost has (λ/2)·ΣW², so ∂E/∂W1 gains λ·W1",
                 id="L2 term missing"),
    pytest.param(NET_L2, "columns", "W1", "D1 @ X.T + 2 * lam * W1", "the L2 term λ·W1 (λ = 0.1) is counted twice",
                 id="L2 term doubled"),
    pytest.param(NET_231, "rows", "W1", "np.sum(D1, axis=0)", "the claim has shape (3,), but ∂E/∂W1 is 2×3 in the "
                 "rows convention", id="wrong shape"),
    pytest.param(NET_453, "rows", "W2", "A1.T @ (sigmoid(H2) - Y) / m", "does not match any known mistake",
                 id="unknown mistake"),
]


@pytest.mark.parametrize("net, convention, wrt, claim, words", WRONG)
def test_a_wrong_claim_is_incorrect_and_its_mistake_named(net, convention, wrt, claim, words):
    verdict = check_matrix(net, wrt, claim, convention=convention)
    assert not verdict.ok and not verdict
    assert words in verdict.diagnosis, verdict.report()
    lines = verdict.lines()
    assert lines[0] == f"incorrect: the claim is not ∂E/∂{wrt}"
    assert lines[1].startswith(f"  claim:      {claim}   (")
    assert lines[2].startswith("  correct:    ")
    assert lines[3] == f"  diagnosis:  {verdict.diagnosis}"


def test_the_correct_expression_is_shown_in_the_conventions_names():
    rows = check_matrix(NET_344, "W1", "X.T @ (D2 @ W2.T)")
    assert rows.correct == ("X.T @ D1, where D1 = (D2 @ W2.T) * (1 - A1**2), "
                            "D2 = (Yhat - Y) * Yhat * (1 - Yhat) / m")
    columns = check_matrix(NET_344, "W1", "W2.T @ D2 @ X.T", convention="columns")
    assert columns.correct == ("D1 @ X.T, where D1 = (W2.T @ D2) * (1 - A1**2), "
                               "D2 = (Yhat - Y) * Yhat * (1 - Yhat) / m")
    assert check_matrix(NET_453, "b1", "D1", convention="columns").correct.startswith(
        "np.sum(D1, axis=1, keepdims=True), where D1 = (W2.T @ D2) * (1 - A1**2), D2 = (Yhat - Y) / m")
    assert check_matrix(NET_L2, "W1", "X.T @ D1").correct.startswith("X.T @ D1 + lam * W1, where")


@pytest.mark.parametrize("net, convention", [
    pytest.param(net, convention, id=f"{net.describe()}, {convention}",
                 marks=() if (net, convention) == (NET_453, "columns") else pytest.mark.slow)
    for net in (NET_344, NET_453, NET_L2, NET_RELU) for convention in ("rows", "columns")])
def test_the_correct_expression_it_shows_is_a_correct_claim(net, convention):
    for wrt in ("W1", "b1", "W2", "H1", "A1", "X", "Yhat"):
        shown = check_matrix(net, wrt, "0 * X", convention=convention, time_limit=0.1).correct
        main, _, where = shown.partition(", where ")
        assert check_matrix(net, wrt, main, convention=convention, time_limit=0.1).ok, shown
        for definition in filter(None, where.split(", ")):  # each Dk = … is ∂E/∂Hk
            name, rhs = definition.split(" = ")
            assert check_matrix(net, "H" + name[1:], rhs, convention=convention, time_limit=0.1).ok, definition


def test_a_wrong_claim_reports_its_error_at_the_batches():
    verdict = check_matrix(NET_231, "W1", "X.T @ D1 / m")
    assert verdict.max_rel_error > 0.5
    assert verdict.lines()[4].startswith(f"  at random batches of m = {', '.join(map(str, verdict.sizes))}: max "
                                         f"relative error ")


def test_batches_differ_from_every_width_so_shapes_are_unambiguous():
    verdict = check_matrix(NET_344, "W1", "X.T @ D1", batches=4, seed=5)
    assert len(set(verdict.sizes)) == 4 and not set(verdict.sizes) & set(NET_344.layers)


# -- shape errors: one line, both operands and their shapes, the convention ----------------------------------
SHAPES = [
    pytest.param(NET_231, "rows", "X @ D1", "the claim multiplies X (m×2) @ D1 (m×3): the matrix product needs the "
                 "columns of the left (2) to match the rows of the right (m) (rows convention: samples are rows)",
                 id="@"),
    pytest.param(NET_231, "columns", "X.T @ dZ1", "the claim multiplies X.T (m×2) @ dZ1 (3×m): the matrix product "
                 "needs the columns of the left (2) to match the rows of the right (3) (columns convention: samples "
                 "are columns)", id="@, columns"),
    pytest.param(NET_231, "rows", "X.T @ (D2 @ W2.T) * A1*(1 - A1)", "the claim multiplies (X.T @ (D2 @ W2.T)) (2×3) * "
                 "A1 (m×3) element-wise, but their shapes neither match nor broadcast (@ is the matrix product); `@` "
                 "and `*` group left to right, so parenthesise the element-wise product", id="* after @"),
    pytest.param(NET_453, "rows", "X.T @ (D2 @ W2.T * (1 - A1**2)) + W1.T", "the claim adds (X.T @ (D2 @ W2.T * (1 - "
                 "A1**2))) (4×5) + W1.T (5×4) element-wise", id="+"),
    pytest.param(NET_231, "rows", "2 @ X", "the claim multiplies 2 (a number) @ X (m×2): @ is the matrix product and "
                 "2 is a number; use * to scale", id="@ with a number"),
    pytest.param(NET_231, "rows", "sum(D1, axis=2)", "the claim sums D1 (m×3) over axis 2, which it does not have",
                 id="axis"),
]


@pytest.mark.parametrize("net, convention, claim, words", SHAPES)
def test_a_shape_error_is_one_line_naming_both_operands(net, convention, claim, words):
    with pytest.raises(InputError) as excinfo:
        check_matrix(net, "W1", claim, convention=convention)
    message = str(excinfo.value)
    assert "\n" not in message
    assert words in message
    assert message.endswith("rows)") or message.endswith("columns)")


# -- the whitelist -------------------------------------------------------------------------------------------
REFUSED = [
    ("__import__('os')", "function '__import__' is not allowed in a claim"),
    ("__builtins__", "name '__builtins__' is not allowed in a claim (no underscore names)"),
    ("__import__('os').system('ls')", "attribute .system is not allowed"),
    ("X.__class__", "attribute .__class__ is not allowed"),
    ("X.T.__class__.__bases__", "attribute .__bases__ is not allowed"),
    ("getattr(X, 'T')", "function 'getattr' is not allowed"),
    ("(lambda: X)()", "only named functions can be called"),
    ("lambda: X", "lambda is not allowed"),
    ("[x for x in X]", "a list comprehension is not allowed"),
    ("sum(x for x in X)", "a generator is not allowed"),
    ("X[0]", "indexing ([])"),
    ("np.linalg.inv(X)", "attribute .inv is not allowed"),
    ("np.load('x.npy')", "function 'load' is not allowed"),
    ("exec('1')", "function 'exec' is not allowed"),
    ("eval('X')", "function 'eval' is not allowed"),
    ("open('f')", "function 'open' is not allowed"),
    ("'X'", "text in quotes is not allowed"),
    ("X if m else Y", "if/else is not allowed"),
    ("X.T @ D1 % 2", "operator % is not allowed"),
    ("X.T @ D1 ** H1", "the exponent H1 is not a number"),
    ("A1 ** 1000", "the exponent 1000 is too large"),
    ("X.T @ D1; import os", "not a valid expression"),
    ("Z3", "unknown name 'Z3' in the claim"),
    ("lam * W1", "unknown name 'lam' in the claim"),
    ("X.sum(axis=0, dtype=int)", "takes axis= and keepdims= in a claim, not dtype="),
    ("X.T()", ".T is not a function"),
    ("sigmoid", "sigmoid is a function; call it"),
    ("(" * 150 + "X" + ")" * 150, "nests parentheses 150 deep"),
    ("X + " * 5000 + "X", "characters long"),
]


@pytest.mark.parametrize("claim, words", REFUSED)
def test_anything_outside_the_whitelist_is_refused_in_one_line(claim, words):
    with pytest.raises(InputError) as excinfo:
        check_matrix(NET_231, "W1", claim)
    message = str(excinfo.value)
    assert "\n" not in message and words in message


def test_the_claim_is_read_not_run(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    monkeypatch.chdir(tmp_path)
    for claim in ("open('ran', 'w')", "__import__('pathlib').Path('ran').touch()", "np.save('ran', X)"):
        with pytest.raises(InputError):
            parse_matrix_claim(claim, NET_231)
    assert not marker.exists()


@pytest.mark.parametrize("wrt, words", [
    ("W3", "--wrt 'W3' is not a whole matrix of the 2-3-1 network"),
    ("D1", "is not a whole matrix"),
    ("W1[1,1]", "for one entry write e.g. --wrt 'W1[1,1]'"),
])
def test_a_wrt_that_is_no_matrix_is_bad_input(wrt, words):
    with pytest.raises(InputError, match=words.replace("[", r"\[").replace("]", r"\]")):
        check_matrix(NET_231, wrt, "X.T @ D1")


def test_bad_options_are_bad_input():
    with pytest.raises(InputError, match="unknown convention 'cols'; allowed: rows, columns"):
        check_matrix(NET_231, "W1", "X.T @ D1", convention="cols")
    with pytest.raises(InputError, match="batches must be a whole number"):
        check_matrix(NET_231, "W1", "X.T @ D1", batches=0)


@pytest.mark.parametrize("name, matrix", [
    ("W1", True), ("dW1", True), ("b2", True), ("Z1", True), ("H1", True), ("A0", True), ("X", True),
    ("Yhat", True), ("dYhat", True), ("W1[1,1]", False), ("b1[2]", False), ("h1[1]", False), ("yhat", False),
    ("x1", False), ("D1", False), ("E", False),
])
def test_a_whole_matrix_name_is_what_routes_to_matrix_claims(name, matrix):
    assert is_matrix_name(name) is matrix


def test_a_value_the_claim_cannot_have_is_incorrect():
    verdict = check_matrix(NET_231, "W1", "X.T @ (D1 / (A1 - A1))")
    assert not verdict.ok and "the claim has no value" in verdict.diagnosis


@pytest.mark.slow
def test_a_wide_network_is_checked_in_seconds():
    net = Network.parse("784-256-10", hidden="relu", output="softmax", loss="cce")
    start = time.perf_counter()
    assert check_matrix(net, "W1", "X.T @ ((D2 @ W2.T) * step(H1))").ok
    wrong = check_matrix(net, "W1", "X.T @ ((Yhat - Y) / m @ W2.T)")
    assert not wrong.ok and wrong.diagnosis.startswith("f′ of layer 1 missing: ReLU′(H1) = step(H1)")
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("hidden, fprime, diagnosis", [
    ("tanh", "(1 - H1**2)", "f′ of layer 1 written in H1 where A1 belongs: 1 - H1**2 instead of 1 - A1**2"),
    ("relu", "relu(H1)", "the activation itself where its derivative belongs in layer 1"),
])
def test_f_prime_written_in_h_or_the_activation_for_its_derivative_is_named(hidden, fprime, diagnosis):
    net = Network.parse("2-3-1", hidden=hidden)
    claim = f"X.T @ ((((Yhat - Y) * Yhat * (1 - Yhat)) @ W2.T) * {fprime}) / m"
    verdict = check_matrix(net, "W1", claim)
    assert not verdict.ok and verdict.diagnosis.startswith(diagnosis)
