"""Checking a claim on the slice of a wide network that it reads: as sound as the whole, and cheap."""
import time

import pytest
import sympy as sp

from symnet import Network, check
from symnet.cli import main
from symnet.derivation import model as model_module
from symnet.derivation.chains import E
from symnet.derivation.names import symbol as S
from symnet.verify.grammar import Names, parse_claim
from symnet.verify.scope import slice_network

README = ["784-256-10", "--output", "softmax", "--loss", "cce"]
README_NET = Network.parse("784-256-10", output="softmax", loss="cce")


def sliced(net: Network, wrt: str, claim: str, of: str = "E") -> tuple[int, ...]:
    of_s = E if of == "E" else S(of)
    return slice_network(net, of_s, S(wrt), parse_claim(claim, Names(net))).layers


def test_a_slice_keeps_the_named_units_and_one_for_the_rest_of_each_cut_layer():
    assert sliced(README_NET, "W1[1,1]", "x1") == (2, 2, 10)
    assert sliced(README_NET, "W1[1,1]", "x3*a1[5]") == (4, 6, 10)
    assert sliced(README_NET, "W2[1,1]", "a1[1]") == (1, 2, 10)
    # the layers the chain runs through, and the outputs, stay whole
    deep = Network.parse("784-256-256-10", output="softmax", loss="cce")
    assert sliced(deep, "W1[1,1]", "x1") == (2, 2, 256, 10)
    assert sliced(deep, "W3[1,1]", "a2[1]") == (1, 1, 2, 10)
    # a delta runs through every unit above its own
    assert sliced(deep, "W3[1,1]", "a2[1]*delta1[1]") == (1, 2, 256, 10)


def test_small_networks_are_checked_whole():
    net = Network.parse("2-2-2")  # 12 parameters: a counterexample lists every value
    assert sliced(net, "h1[1]", "W2[1,1]", of="h2[1]") == (2, 2, 2)


def test_the_rest_unit_keeps_the_check_sound():
    # h1[1] − W1[1,1]·x1 − b1[1] is 0 on a slice with one input, and W1[2,1]·x2 + W1[3,1]·x3 on the network
    d_net = Network.parse("3-3-1")
    truth = "(yhat - y)*yhat*(1 - yhat)*a1[1]"
    assert check(d_net, wrt="W2[1,1]", claim=truth).proved
    v = check(d_net, wrt="W2[1,1]", claim=f"{truth} + h1[1] - W1[1,1]*x1 - b1[1]")
    assert not v.correct
    assert any("slice" in n for n in v.notes)


@pytest.fixture
def models_built(monkeypatch):
    built: list[tuple[int, ...]] = []
    original = model_module.Model.__post_init__

    def recording(self):
        built.append(self.net.layers)
        original(self)

    monkeypatch.setattr(model_module.Model, "__post_init__", recording)
    return built


def test_a_wrong_claim_on_the_readmes_network_gets_a_counterexample_from_a_slice(capsys, models_built):
    start = time.perf_counter()
    code = main(["check", *README, "--wrt", "W1[1,1]", "--claim", "x1"])
    assert time.perf_counter() - start < 60  # a guard against hangs (the whole network took > 400 s)
    out, err = capsys.readouterr()
    assert code == 1 and err.strip() == "symnet: the claim is not ∂E/∂W1[1,1]"
    lines = out.splitlines()
    assert lines[0] == "incorrect: the claim is not ∂E/∂W1[1,1]"
    counterexample = next(line for line in lines if line.startswith("  counterexample: "))
    # what the truth reads, and none of the 203,530 parameters it does not
    assert "x1 = " in counterexample and "W2[1,10] = " in counterexample and "a1[1] = " in counterexample
    assert "W1[" not in counterexample and "x2 = " not in counterexample
    assert any("2-2-10 slice of the 784-256-10 network" in line for line in lines)
    assert models_built == [(2, 2, 10)]


def test_a_correct_claim_on_the_readmes_network_is_proved(models_built):
    v = check(README_NET, wrt="W1[1,1]", claim="x1*delta1[1]")
    assert v.correct and v.proved
    assert sp.expand(v.claim - v.truth) == 0
    assert all(layers[0] < 784 and layers[1] < 256 for layers in models_built)
