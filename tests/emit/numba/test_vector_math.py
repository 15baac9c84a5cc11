"""The gemm layout's branch-free e^x, e^x − 1, tanh and σ (symnet.emit.numba.stable.vector_exp).

Their constants and polynomial are computed by symnet, the activations' forms derived from the
definitions; here each piece is checked against exact arithmetic, and the generated helpers against
mpmath to a few ulp (libm's are within 1), including the ends of the range, ±∞ and NaN.
"""
import re

import mpmath
import numpy as np
import pytest
import sympy as sp

import symnet
from symnet import Network
from symnet.functions.activations import Sigmoid
from symnet.emit.numba.builder import generate
from symnet.emit.numba.stable import UNIT_ROUNDOFF, estrin, vector_exp
from symnet.functions.activations import logistic_from_exp as sigmoid_from_exp, odd_from_nonnegative, tanh_from_expm1


def test_ln2_is_split_so_that_k_times_its_high_part_is_exact():
    v = vector_exp()
    with mpmath.workdps(60):
        ln2 = mpmath.log(2)
        assert abs(mpmath.mpf(v.ln2_hi) + mpmath.mpf(v.ln2_lo) - ln2) < mpmath.mpf(2) ** -84  # ln2_lo rounded: half its ulp
        assert mpmath.mpf(v.ln2_hi) * 2**32 == int(mpmath.mpf(v.ln2_hi) * 2**32)  # 32 fraction bits
        assert v.log2e == float(1 / ln2)
    # 32 + 11 bits: k · LN2_HI is exact for every k of the clamped range [-1076, 1024]
    for k in (-1076, -537, -1, 1, 1024):
        assert mpmath.mpf(k * v.ln2_hi) == k * mpmath.mpf(v.ln2_hi)


def test_polynomial_is_the_taylor_series_of_the_smallest_degree_that_is_accurate():
    v = vector_exp()
    r = v.r
    polynomial = v.polynomial
    for power, value in reversed(v.powers):  # r8 = r4², r4 = r2², r2 = r²
        polynomial = polynomial.subs(power, value)
    assert [str(power) for power, _ in v.powers] == ["r2", "r4", "r8"]
    assert sp.expand(polynomial - sp.series(sp.exp(r) - 1, r, 0, v.degree + 1).removeO()) == 0
    assert v.bound <= 0.25 * float(UNIT_ROUNDOFF)
    shorter = v.r_max ** (v.degree - 1) / float(mpmath.factorial(v.degree)) * np.exp(2 * v.r_max)
    assert shorter > 0.25 * float(UNIT_ROUNDOFF)  # one degree less would not do
    # the remainder bound holds: e^r − 1 against the polynomial at the ends and inside
    f = sp.lambdify(r, polynomial, "mpmath")
    with mpmath.workdps(40):
        for x in np.linspace(-v.r_max, v.r_max, 41):
            if x:
                exact = mpmath.expm1(mpmath.mpf(x))
                assert abs(f(mpmath.mpf(x)) - exact) / abs(exact) <= v.bound


def test_estrins_form_pairs_terms_and_squares_the_power_at_each_level():
    x = sp.Symbol("x", real=True)
    c = sp.symbols("c0:6")
    form, powers = estrin(list(c), x)
    x2, x4 = sp.Symbol("x2", real=True), sp.Symbol("x4", real=True)
    assert powers == ((x2, x**2), (x4, x2**2))
    # (c0 + c1 x) + (c2 + c3 x)·x² + (c4 + c5 x)·x⁴: each pair independent of the others
    assert sp.expand(form - ((c[0] + c[1] * x) + (c[2] + c[3] * x) * x2 + (c[4] + c[5] * x) * x4)) == 0
    single, none = estrin([c[0]], x)
    assert (single, none) == (c[0], ())


def test_activation_forms_are_identities_of_the_definitions():
    z = sp.Symbol("z", real=True)
    m, e = sp.Symbol("m"), sp.Symbol("e", positive=True)
    tanh = odd_from_nonnegative(sp.tanh, z, tanh_from_expm1(m))
    for value in (sp.Rational(-7, 3), sp.Rational(-1, 1000), 0, sp.Rational(1, 5), 4):
        em1 = sp.exp(-2 * abs(value)) - 1
        assert sp.simplify(tanh.subs(z, value).subs(m, em1) - sp.tanh(value).rewrite(sp.exp)) == 0
        sigma = sigmoid_from_exp(e, z).subs(z, value).subs(e, sp.exp(-abs(value)))
        assert sp.simplify(sigma - Sigmoid(value).expand_definition()) == 0
    p = sp.Symbol("p", positive=True)
    assert sp.simplify(tanh_from_expm1(m).subs(m, sp.exp(-2 * p) - 1) - sp.tanh(p).rewrite(sp.exp)) == 0


@pytest.fixture(scope="module")
def helpers(tmp_path_factory):
    """The helpers of a gemm kernel that uses all three, compiled one by one (no kernel compiles)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SYMNET_CACHE", str(tmp_path_factory.mktemp("symnet-vector")))
    net = Network.parse("2-3-3-2", hidden="tanh,sigmoid", output="softmax", loss="cce")
    kernel = symnet.compile(net, "gemm")
    yield kernel
    mp.undo()


def ulps(got: np.ndarray, exact: list) -> np.ndarray:
    exact = np.array([float(x) for x in exact])
    return np.abs(got - exact) / np.spacing(np.maximum(np.abs(exact), np.finfo(float).tiny))


POINTS = np.concatenate([np.random.default_rng(0).standard_normal(600) * s for s in (1e-9, 1e-3, 0.2, 1, 4, 30)])


@pytest.mark.slow
def test_exp_is_within_two_ulp_and_handles_the_ends(helpers):
    x = np.concatenate([-np.abs(POINTS) * 20, POINTS, np.linspace(-740, 709, 200)])
    got = np.array([helpers._exp(v) for v in x])
    with mpmath.workdps(30):
        assert ulps(got, [mpmath.exp(mpmath.mpf(v)) for v in x]).max() <= 2
    assert helpers._exp(-np.inf) == 0.0 and helpers._exp(-800.0) == 0.0 and helpers._exp(-745.1) == np.exp(-745.1)
    assert helpers._exp(np.inf) == np.inf and helpers._exp(710.0) == np.inf
    assert helpers._exp(709.7) == pytest.approx(np.exp(709.7), rel=1e-15)
    assert np.isnan(helpers._exp(np.nan)) and helpers._exp(0.0) == 1.0


def test_tanh_and_sigmoid_are_within_three_ulp_and_saturate(helpers):
    tanh = np.array([helpers._tanh(v) for v in POINTS])
    sigma = np.array([helpers._sigmoid(v) for v in POINTS])
    with mpmath.workdps(30):
        assert ulps(tanh, [mpmath.tanh(mpmath.mpf(v)) for v in POINTS]).max() <= 3
        assert ulps(sigma, [1 / (1 + mpmath.exp(-mpmath.mpf(v))) for v in POINTS]).max() <= 3
    assert helpers._tanh(0.0) == 0.0 and helpers._tanh(1e-300) == 1e-300
    assert (helpers._tanh(np.inf), helpers._tanh(-np.inf), helpers._tanh(40.0)) == (1.0, -1.0, 1.0)
    assert (helpers._sigmoid(np.inf), helpers._sigmoid(-np.inf), helpers._sigmoid(0.0)) == (1.0, 0.0, 0.5)
    assert np.isnan(helpers._tanh(np.nan)) and np.isnan(helpers._sigmoid(np.nan))


def test_gemm_loops_call_no_library_exponential():
    source = generate(Network.parse("3-4-4-2", hidden="tanh,sigmoid", output="softmax", loss="cce"), "gemm")
    assert "np.exp(" not in source and "np.expm1(" not in source
    # _exp_parts, _exp, _expm1, _tanh, _sigmoid, the steps and the four kernels: NumPy's error model (no
    # branch for a division by zero), which lets LLVM vectorise the loops; only the BLAS calls and the
    # threaded epoch's barrier (no arithmetic) do without
    jitted = dict((name, options) for options, name in re.findall(r"@numba\.njit\((.*)\)\ndef (\w+)", source))
    plain = {name for name, options in jitted.items() if 'error_model="numpy"' not in options}
    assert plain == {"_gemm", "_rows_apart", "_dot", "_dot_t", "_gemm_tn", "_barrier"}
    assert {"_exp_parts", "_exp", "_expm1", "_tanh", "_sigmoid", "_forward", "_loss", "_batch", "_train_epoch",
            "_layer1", "_layer2", "_delta1", "_delta2"} <= set(jitted)
    # no e^x inside a sum's accumulation loop (which LLVM cannot vectorise without reordering the sum): the
    # softmax's terms e^(h - max) go into ŷ's row first, are added up in a loop of their own, and ŷ is
    # each term over their sum — one e^x per output, not two
    assert "+= _exp(" not in source
    softmax = source[source.index("def _softmax3("):].split("\n\n")[0]
    assert "yhat[r, l] = _exp(-hmax + h[r, l])" in softmax and "acc0 += yhat[r, l]" in softmax
    assert "yhat[r, j] = yhat[r, j]/S" in softmax and softmax.count("_exp(") == 1
    # the per-sample layouts keep libm's exp: scalar code, where it is faster
    assert "np.exp(" in generate(Network.parse("3-4-2", hidden="sigmoid", output="softmax", loss="cce"), "loops")


@pytest.mark.slow
def test_the_activation_passes_are_vectorised_with_their_helpers_inlined(helpers):
    x = np.random.default_rng(0).standard_normal((40, 2))
    helpers.train_epoch(helpers.init_params(0), x, np.eye(2)[(x[:, 0] > 0).astype(int)], 0.1, 8)
    for step in (helpers._layer1, helpers._layer2):  # tanh, then σ, over a (batch × width) block
        ir = "".join(step.inspect_llvm().values())
        calls = set(re.findall(r"call [^@]*@(\S+?)\(", ir))
        assert not [c for c in calls if "_tanh" in c or "_sigmoid" in c or "_exp" in c], calls
        # the e^x inside is vectorised: its rounding of x/ln 2 is a floor of a vector of doubles
        assert re.search(r"@llvm\.floor\.v\d+f64", ir), "the activation's loop is not vectorised"


@pytest.fixture(scope="module")
def helpers32(tmp_path_factory):
    """The same helpers in a float32 kernel: e^x from float32's bits, its own polynomial and clamp."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SYMNET_CACHE", str(tmp_path_factory.mktemp("symnet-vector32")))
    net = Network.parse("2-3-3-2", hidden="tanh,sigmoid", output="softmax", loss="cce")
    kernel = symnet.compile(net, "gemm", "float32")
    yield kernel
    mp.undo()


def ulps32(got: list, exact: list) -> np.ndarray:
    exact = np.array([float(x) for x in exact], dtype=np.float32)
    return np.abs(np.array(got, dtype=np.float64) - exact) / np.spacing(
        np.maximum(np.abs(exact), np.finfo(np.float32).tiny)).astype(np.float64)


def test_the_float32_polynomial_is_the_shortest_accurate_to_float32():
    v32, v64 = vector_exp(dtype="float32"), vector_exp()
    assert v32.degree < v64.degree and v32.bound <= 0.25 * 2.0**-24
    assert v32.ln2_hi * 2**16 == int(v32.ln2_hi * 2**16)  # k · LN2_HI exact in float32 for |k| ≤ 2^8


@pytest.mark.slow
def test_float32_exp_tanh_and_sigmoid_compute_in_float32_within_three_ulp(helpers32):
    x = np.concatenate([POINTS[np.abs(POINTS) < 80], np.linspace(-100, 88, 200)]).astype(np.float32)
    got = [helpers32._exp(v) for v in x]
    assert [str(sig.return_type) for sig in helpers32._exp.nopython_signatures] == ["float32"]
    with mpmath.workdps(30):
        assert ulps32(got, [mpmath.exp(mpmath.mpf(float(v))) for v in x]).max() <= 2
        small = x[np.abs(x) < 40]
        assert ulps32([helpers32._tanh(v) for v in small], [mpmath.tanh(mpmath.mpf(float(v))) for v in small]).max() <= 3
        assert ulps32([helpers32._sigmoid(v) for v in small],
                      [1 / (1 + mpmath.exp(-mpmath.mpf(float(v)))) for v in small]).max() <= 3
    f = np.float32
    assert helpers32._exp(f(-np.inf)) == 0 and helpers32._exp(f(np.inf)) == np.inf and helpers32._exp(f(89)) == np.inf
    assert helpers32._exp(f(0)) == 1 and np.isnan(helpers32._exp(f(np.nan)))
    assert (helpers32._tanh(f(40)), helpers32._sigmoid(f(-np.inf))) == (1, 0)
