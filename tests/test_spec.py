"""The network spec: the compact form, TOML files, and every rejection with its message."""
import pytest

from symnet import Network, SpecError


def test_compact_form_with_defaults_is_the_first_articles_network():
    net = Network.parse("2-2-1")
    assert net.layers == (2, 2, 1)
    assert net.activations == ("sigmoid", "sigmoid")
    assert (net.loss, net.bias) == ("mse", "separate")
    assert net.n_params == 9


def test_comma_list_gives_one_activation_per_hidden_layer():
    net = Network.parse("4-8-6-3", hidden="relu,tanh", output="softmax", loss="cce")
    assert net.activations == ("relu", "tanh", "softmax")
    assert net.hidden == ("relu", "tanh") and net.output == "softmax"


def test_toml_file_has_the_same_keys(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text('layers = [2, 3, 2]\nhidden = "tanh"\noutput = "softmax"\nloss = "cce"\nbias = "augmented"\n')
    net = Network.load(str(path))
    assert net == Network.parse("2-3-2", hidden="tanh", output="softmax", loss="cce", bias="augmented")


def test_spec_round_trips_through_toml(tmp_path):
    net = Network.parse("3-4-4-2", hidden="relu,softplus", output="sigmoid", loss="bce")
    path = tmp_path / "n.toml"
    path.write_text(net.to_toml())
    assert Network.load(str(path)) == net


@pytest.mark.parametrize(
    "layers, options, message",
    [
        ("3", {}, "at least two layers"),
        ("2-0-1", {}, "layer 1 has size 0"),
        ("2-x-1", {}, "not of the form N0-N1-...-NL"),
        ("2--1", {}, "not of the form N0-N1-...-NL"),
        ("2-2-1", {"hidden": "swish"}, "unknown activation 'swish' for hidden layer 1; allowed: sigmoid, tanh"),
        ("2-2-1", {"output": "gelu"}, "unknown activation 'gelu' for output"),
        ("2-2-1", {"output": "identity", "loss": "hinge"}, "loss hinge needs at least two outputs, one per class"),
        ("2-2-1", {"loss": "huber"}, "unknown loss 'huber'; allowed: mse, bce, cce, focal, hinge"),
        ("2-2-3", {"hidden": "softmax", "output": "softmax", "loss": "cce"}, "softmax is for the output layer only"),
        ("2-2-1", {"output": "softmax", "loss": "cce"}, "softmax needs at least two outputs"),
        ("2-2-3", {"loss": "cce"}, "loss cce needs --output softmax"),
        ("2-2-1", {"output": "identity", "loss": "bce"}, "loss bce needs an output in (0, 1)"),
        ("2-2-1", {"output": "tanh", "loss": "bce"}, "loss bce needs an output in (0, 1)"),
        ("2-2-2-1", {"hidden": "relu,tanh,relu"}, "3 hidden activations (relu,tanh,relu) for 2 hidden layers"),
        ("2-2-1", {"bias": "inline"}, "unknown bias notation 'inline'; allowed: separate, augmented"),
    ],
)
def test_bad_specs_are_rejected_naming_the_value_and_the_allowed_ones(layers, options, message):
    with pytest.raises(SpecError) as err:
        Network.parse(layers, **options)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_toml_key_is_rejected(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text("layers = [2, 2, 1]\nactivation = 'tanh'\n")
    with pytest.raises(SpecError, match="unknown key 'activation'.*allowed keys: layers, hidden, output, loss, bias"):
        Network.load(str(path))


def test_toml_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("layers = [2, 2,\n")
    with pytest.raises(SpecError, match="broken.toml is not valid TOML"):
        Network.load(str(path))
    with pytest.raises(SpecError, match="does not exist"):
        Network.load(str(tmp_path / "missing.toml"))
    (tmp_path / "nolayers.toml").write_text('hidden = "tanh"\n')
    with pytest.raises(SpecError, match="no 'layers' key"):
        Network.load(str(tmp_path / "nolayers.toml"))
    (tmp_path / "strs.toml").write_text('layers = ["2", "1"]\n')
    with pytest.raises(SpecError, match="whole numbers"):
        Network.load(str(tmp_path / "strs.toml"))
