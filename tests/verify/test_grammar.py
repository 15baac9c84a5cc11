"""Reading claims: the safe grammar, its names, its limits, and the LaTeX people write by hand."""
import time

import pytest
import sympy as sp

from symnet import Network
from symnet.functions.activations import ReLU, Sigmoid
from symnet.verify.grammar import M, MAX_CHARS, Names, latex_to_claim, parse_claim
from symnet.errors import InputError
from symnet.derivation.names import symbol as S

NET = Network.parse("2-2-1")
NAMES = Names(NET)


def parse(text: str) -> sp.Expr:
    return parse_claim(text, NAMES)


def test_names_become_the_networks_symbols():
    assert parse("W1[1,1]") == S("W1[1,1]")
    assert parse("W1[1, 2] * b2[1]") == S("W1[1,2]") * S("b2[1]")
    assert parse("h1[2] + a1[2] - yhat") == S("h1[2]") + S("a1[2]") - S("yhat")
    assert parse("x1*x2/y") == S("x1") * S("x2") / S("y")
    assert parse("m") == M


def test_article_aliases_for_a_single_output():
    assert parse("yhat[1]") == S("yhat")
    assert parse("y1") == S("y")
    assert parse("h") == S("h2[1]")  # the first article's h, the output's pre-activation


def test_functions_numbers_and_powers():
    assert parse("sigma(h2[1])*(1 - sigma(h2[1]))") == Sigmoid(S("h2[1]")) * (1 - Sigmoid(S("h2[1]")))
    assert parse("relu(h1[1])") == ReLU(S("h1[1]"))
    assert parse("heaviside(h1[1])") == sp.Heaviside(S("h1[1]"), 0)
    assert parse("0.5*(yhat - y)**2") == sp.Rational(1, 2) * (S("yhat") - S("y")) ** 2  # decimals are exact
    assert parse("exp(-x1) + log(x2**2) + sqrt(y)") == sp.exp(-S("x1")) + sp.log(S("x2") ** 2) + sp.sqrt(S("y"))
    assert parse("-(x1)**(1/3)") == -S("x1") ** sp.Rational(1, 3)
    assert parse("1/m*x1") == S("x1") / M


def test_a_long_sum_is_read_without_deep_recursion():
    assert parse(" + ".join(["x1"] * 500)) == 500 * S("x1")


HOSTILE = [
    ("__import__('os').system('touch {marker}')", "attribute access"),
    ("x1.real", "attribute access"),
    ("(lambda: 1)()", "can be called"),
    ("lambda: 1", "lambda is not allowed"),
    ("[x1 for x1 in y]", "comprehension is not allowed"),
    ("{{x1: 1}}", "dict is not allowed"),
    ("'x1'", "text in quotes is not allowed"),
    ("open('{marker}', 'w')", "function 'open' is not allowed"),
    ("eval('1')", "function 'eval' is not allowed"),
    ("__builtins__", "no underscore names"),
    ("x1.__class__", "attribute access"),
    ("W1[1,1].__class__", "attribute access"),
    ("x1**10**10", "exponent 10000000000 is too large"),
    ("2**(10**100)", "too large"),
    ("((10**99)**100)**100", "too large"),
    ("(" * 4_000 + "x1" + ")" * 4_000, "nests parentheses 4000 deep"),
    ("(" * 10_000 + "x1" + ")" * 10_000, "20,002 characters long"),
    ("-" * 5000 + "x1", "too long or too deeply nested"),
    ("x" * 1_000_000, "1,000,000 characters long"),
    ("x1 if y else x2", "if/else is not allowed"),
    ("x1 ^^ 2", "not a valid expression"),
    ("x1 | 2", "operator | is not allowed"),
    ("x1 @ x2", "operator @"),
    ("x1 < x2", "comparison is not allowed"),
    ("sigma(x1, x2)", "exactly one argument"),
    ("sigma(x=x1)", "exactly one argument"),
    ("sigma", "is a function"),
    ("W1[0,1]", "whole numbers from 1"),
    ("W1[x1]", "whole numbers from 1"),
    ("W1[1:2]", "whole numbers from 1"),
    ("W3[1,1]", "unknown name 'W3[1,1]'"),
    ("z", "unknown name 'z'"),
    ("1/0", "divides by zero"),
    ("log(0)", "undefined"),
    ("sqrt(-1)", "not a real number"),
    ("1e999", "too large"),
    ("1j", "constant 1j"),
    ("x1; import os", "not a valid expression"),
    ("", "empty"),
]


@pytest.mark.parametrize("text, message", HOSTILE, ids=[t[:30] for t, _ in HOSTILE])
def test_hostile_or_malformed_claims_are_rejected_quickly_in_one_line(tmp_path, text, message):
    marker = tmp_path / "pwned"
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        parse(text.format(marker=marker))
    assert time.perf_counter() - start < 5  # rejected before any work: a guard against hangs, not a timing
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert not marker.exists()


def test_unknown_names_list_what_exists():
    with pytest.raises(InputError) as err:
        parse("W2[1,2]")
    assert str(err.value) == (
        "unknown name 'W2[1,2]' in the claim; the 2-2-1 network has x1, x2; y; W1[i,j] (i=1..2, j=1..2); "
        "b1[j], h1[j], a1[j] (j=1..2); W2[i,j] (i=1..2, j=1..1); b2[j], h2[j] (j=1..1); yhat; "
        "delta<k>[j] = ∂E/∂h<k>[j]; m (the number of samples)")


def test_the_limits_are_at_the_documented_sizes():
    assert parse("x1**100 + x2**(-100) + x1**(1/100)") is not None
    with pytest.raises(InputError):
        parse("x1**101")
    assert parse("x1 + " * ((MAX_CHARS - 2) // 5) + "x1") is not None
    with pytest.raises(InputError):
        parse("x1 + " * (MAX_CHARS // 5) + "x1")


# -- LaTeX ------------------------------------------------------------------------------------

@pytest.mark.parametrize("tex, claim", [
    (r"(\hat{y}-y)\sigma(h)(1-\sigma(h))x_1", "(yhat-y)*sigma(h)*(1-sigma(h))*x1"),
    (r"W_{11}^{(1)} x_1 + W_{21}^{(1)} x_2 + W_{31}^{(1)}", "W1[1,1]*x1+W1[2,1]*x2+W1[3,1]"),
    (r"W^{(2)}_{11}\sigma(h_1)(1-\sigma(h_1))", "W2[1,1]*sigma(h1[1])*(1-sigma(h1[1]))"),
    (r"W^{(2)}_{1,2} a^{(1)}_{1}", "W2[1,2]*a1[1]"),
    (r"\frac{1}{m}\left(\hat{y} - y\right) \cdot x_1", "((1)/(m))*(yhat-y)*x1"),
    (r"\frac12 (\hat y - y)^2", "((1)/(2))*(yhat-y)**(2)"),
    (r"\frac{e^{-h}}{(1+e^{-h})^2}", "((exp(-h))/((1+exp(-h))**(2)))"),
    (r"\hat{y}_2 - y_2", "yhat[2]-y2"),
    (r"\operatorname{ReLU}(h^{(1)}_1) \times 2", "relu(h1[1])*2"),
    (r"\sqrt{x_1} \tanh(b^{(1)}_2)", "sqrt(x1)*tanh(b1[2])"),
    (r"$\sigma^2(h)$", "sigma(h)**(2)"),
])
def test_latex_is_translated_to_the_claim_grammar(tex, claim):
    assert latex_to_claim(tex, NET) == claim


def test_latex_claims_parse_to_the_same_expression_as_plain_ones():
    tex = r"\left(\hat{y} - y\right)\sigma(h)\left(1-\sigma(h)\right) W_{11}^{(2)} \sigma(h_1)(1-\sigma(h_1)) x_1"
    plain = "(yhat - y)*sigma(h2[1])*(1 - sigma(h2[1]))*W2[1,1]*sigma(h1[1])*(1 - sigma(h1[1]))*x1"
    assert parse(latex_to_claim(tex, NET)) == parse(plain)


@pytest.mark.parametrize("tex, message", [
    (r"\frac{\partial E}{\partial W}", "no \\partial"),
    (r"\sigma'(h)", "primes"),
    (r"\sigma h", "argument in parentheses"),
    (r"W_{123}^{(1)}", "cannot split the index '123'"),
    (r"z_1", "not a quantity"),
    (r"\input{/etc/passwd}", "\\input is not supported"),
    (r"(\hat{y} - y", "unclosed ("),
    (r"\hat{y} - y)", "unmatched ')'"),
    (r"x_1 = 2", "'='"),
    ("\\left(" * 200 + "x_1" + "\\right)" * 200, "nests parentheses"),
])
def test_latex_that_cannot_be_a_claim_is_rejected(tex, message):
    with pytest.raises(InputError) as err:
        latex_to_claim(tex, NET)
    assert message in str(err.value)


def test_augmented_bias_is_the_last_row_of_W_as_in_the_first_article():
    augmented = Names(Network.parse("2-2-1", bias="augmented"))
    h1 = parse_claim(latex_to_claim(r"W_{11}^{(1)} x_1 + W_{21}^{(1)} x_2 + W_{31}^{(1)}", NET), augmented)
    assert h1 == S("W1[1,1]") * S("x1") + S("W1[2,1]") * S("x2") + S("b1[1]")
    with pytest.raises(InputError, match="unknown name 'W1\\[3,1\\]'"):
        parse("W1[3,1]")  # with separate biases there is no third row


def test_layerless_h_needs_a_layer_in_deeper_nets():
    deep = Network.parse("2-3-2-1")
    with pytest.raises(InputError, match=r"h_\{1\} needs its layer"):
        latex_to_claim(r"\sigma(h_1)", deep)
    assert latex_to_claim(r"\sigma(h^{(2)}_1)", deep) == "sigma(h2[1])"


# -- whatever the text, the answer is an expression or an InputError ---------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TOKENS = ["x1", "x2", "y", "yhat", "W1[1,1]", "b2[1]", "h1[2]", "a1[1]", "m", "sigma(", "exp(", "log(", "sqrt(",
          "relu(", "(", ")", "[", "]", ",", "+", "-", "*", "/", "**", "^", ".", "0", "1", "2.5", "1e9", "10",
          "__import__", "'", "lambda", ":", " ", "if", "else", "x1.real", "9" * 30, "{", "}", "@", "=", "\\"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join), st.text(max_size=40)))
def test_any_text_gives_an_expression_or_one_clear_error(text):
    try:
        expr = parse(text)
    except InputError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert isinstance(expr, sp.Expr)
        assert all(NAMES.knows(s) for s in expr.free_symbols)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([r"\hat{y}", "y", "x_1", r"W^{(1)}_{12}", r"\sigma(", r"\frac{", "}{", "}", "(",
                                 ")", "+", "-", r"\cdot", "^2", "2", r"\left(", r"\right)", "h_1", "e^{", "_",
                                 "^", "{", r"\sqrt{", "'", "z"]), max_size=20).map(" ".join))
def test_any_latex_gives_a_claim_or_one_clear_error(tex):
    try:
        claim = latex_to_claim(tex, NET)
        parse(claim)
    except InputError as e:
        assert str(e) and "\n" not in str(e)


# -- powers written ^, and deltas ----------------------------------------------------------------

def test_caret_is_a_power_with_the_precedence_of_mathematics():
    assert parse("(yhat - y)^2/2") == parse("(yhat - y)**2/2") == (S("yhat") - S("y")) ** 2 / 2
    assert parse("-x1^2") == -S("x1") ** 2  # −(x₁²), not (−x₁)²
    assert parse("x1^2^3") == S("x1") ** 8  # right to left: x₁^(2³)
    assert parse("x1 + 1^2") == S("x1") + 1  # ^ binds tighter than +, unlike Python's XOR
    assert parse("2^-1*x1") == S("x1") / 2
    assert parse("x2^(1/3)") == S("x2") ** sp.Rational(1, 3)
    with pytest.raises(InputError, match="exponent 101 is too large"):
        parse("x1^101")


def test_deltas_are_names_of_a_claim_and_of_latex():
    assert parse("x1*delta1[1]") == S("x1") * S("delta1[1]")
    assert parse("delta2[1]") == S("delta2[1]")
    for name in ("delta3[1]", "delta1[3]", "delta2[2]", "delta1[1,1]"):
        with pytest.raises(InputError, match="unknown name"):
            parse(name)
    assert latex_to_claim(r"x_1 \delta^{(1)}_1", NET) == "x1*delta1[1]"
    assert latex_to_claim(r"\delta^{(2)}_{1}^2", NET) == "delta2[1]**(2)"
    assert latex_to_claim(r"\delta_2 x_1", Network.parse("2-3")) == "delta1[2]*x1"
    with pytest.raises(InputError, match=r"\\delta\^\{\(k\)\}_j"):
        latex_to_claim(r"\delta_1", NET)


def test_names_of_a_wide_network_are_read_without_listing_them():
    wide = Names(Network.parse("784-256-10", output="softmax", loss="cce"))
    assert parse_claim("W1[784,256]*x784 + delta2[10] - yhat[10]", wide) == \
        S("W1[784,256]") * S("x784") + S("delta2[10]") - S("yhat[10]")
    for name in ("W1[785,1]", "x785", "a2[1]", "yhat", "x[2]", "W1[01,1]"):
        assert wide.get(name) is None, name


def test_the_relu_derivative_prints_as_step_and_reads_back():
    from symnet.verify.grammar import text

    step = sp.Heaviside(S("h1[1]"), 0)
    assert text(step * S("W2[1,1]")) in ("W2[1,1]*step(h1[1])", "step(h1[1])*W2[1,1]")
    assert parse("step(h1[1])") == step
