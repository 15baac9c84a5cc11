"""Every derived ∂E/∂θ agrees with central finite differences of E (float64, relative error < 1e-7)."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symnet import Network, derive
from symnet.functions.losses import LOSSES
from symnet.numeric.finite_differences import compare

from tests.conftest import HIDDEN, OUTPUT_LOSSES, point_away_from_kinks

TOLERANCE = 1e-7


def assert_gradients_match(net, seed=0):
    d = derive(net)
    params, X, Y = point_away_from_kinks(d, m=3, seed=seed)
    result = compare(d, params, X, Y)
    assert result.max_relative_error < TOLERANCE, (net.describe(), result.max_relative_error)


@pytest.mark.slow
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, loss", OUTPUT_LOSSES)
def test_one_hidden_layer(hidden, output, loss):
    assert_gradients_match(Network.parse("3-3-2", hidden=hidden, output=output, loss=loss))


@pytest.mark.slow
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, loss", OUTPUT_LOSSES)
def test_two_hidden_layers(hidden, output, loss):
    assert_gradients_match(Network.parse("2-3-2-2", hidden=hidden, output=output, loss=loss), seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("hidden", ["relu,tanh,sigmoid", "softplus,leaky_relu,identity", "tanh,relu,softplus"])
@pytest.mark.parametrize("output, loss", [("softmax", "cce"), ("sigmoid", "bce"), ("identity", "mse")])
def test_three_mixed_hidden_layers(hidden, output, loss):
    assert_gradients_match(Network.parse("2-3-2-3-2", hidden=hidden, output=output, loss=loss), seed=2)


def test_single_output_no_hidden_layer():
    assert_gradients_match(Network.parse("4-1", output="sigmoid", loss="bce"))


@st.composite
def networks(draw):
    layers = draw(st.lists(st.integers(1, 3), min_size=2, max_size=4))
    output, loss = draw(st.sampled_from(OUTPUT_LOSSES))
    if (output == "softmax" or LOSSES[loss].one_hot) and layers[-1] < 2:
        layers[-1] = 2
    hidden = [draw(st.sampled_from(HIDDEN)) for _ in layers[1:-1]]
    return Network.build(layers, hidden or "sigmoid", output, loss)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=networks(), seed=st.integers(0, 10_000))
def test_random_architectures_and_points(net, seed):
    assert_gradients_match(net, seed=seed)


@pytest.mark.slow
def test_gradcheck_on_a_wide_relu_net_compares_the_parameters_whose_stencil_crosses_no_kink(monkeypatch):
    import symnet
    from symnet.numeric import finite_differences as fd

    net = Network.parse("16-256-3", hidden="relu", output="softmax", loss="cce")
    kernel = symnet.compile(net)
    # 512 pre-activations per batch: some always lie within the margin of 0, so no draw is far enough
    monkeypatch.setattr(fd, "KINK_ATTEMPTS", 3)
    result = fd.gradcheck(kernel, max_entries=120)
    compared = sum(a.size for a in result.analytic)
    assert 0 < compared <= 120
    assert result.max_relative_error < 1e-6
