"""An activation is one definition: registering it makes every stage accept it (derivation, write-up,
kernel, claims), with nothing else to edit."""
import pytest
import sympy as sp

import symnet
from symnet.emit.numba.builder import generate
from symnet.emit.numba.cache import load
from symnet.functions import activations
from symnet.functions.activations import ACTIVATION_CLASSES, Activation, lemma, register, x
from symnet.numeric.finite_differences import gradcheck
from symnet.verify.grammar import claim_functions


@pytest.fixture
def cube():
    """A throwaway activation, f(x) = x³/3 + x, defined at run time and removed afterwards."""

    class Cube(Activation):
        name, latex_name = "cube", r"\operatorname{cube}"

        @classmethod
        def definition(cls, arg):
            return arg**3 / 3 + arg

    register(Cube)
    yield Cube
    del ACTIVATION_CLASSES["cube"]
    lemma.cache_clear()
    Cube.numpy_function.cache_clear()


@pytest.mark.slow
def test_a_definition_added_at_run_time_reaches_every_stage(cube, tmp_path):
    net = symnet.Network.parse("2-3-1", hidden="cube")
    d = symnet.derive(net)
    assert lemma("cube").compact == x**2 + 1
    assert d.gradient("W1[1,1]").has(sp.Symbol("h1[1]", real=True)) or d.gradient("W1[1,1]").has(cube)
    assert r"\operatorname{cube}" in symnet.latex(d)
    path = tmp_path / "cube_kernel.py"
    path.write_text(generate(d, "loops"))
    assert gradcheck(load(path)).max_relative_error < 1e-7
    assert claim_functions()["cube"] is cube
    verdict = symnet.check(net, wrt="h1[1]", of="a1[1]", claim="h1[1]**2 + 1")
    assert verdict.correct


@pytest.mark.parametrize("name, definition", [("elu", sp.Piecewise((x, x > 0), (sp.exp(x) - 1, True))),
                                              ("silu", x / (1 + sp.exp(-x)))])
def test_elu_and_silu_are_built_in_by_their_definitions(name, definition):
    cls = ACTIVATION_CLASSES[name]
    assert sp.simplify(cls.definition(x) - definition) == 0
    for t in (-2.5, -1e-3, 0.7, 3.0):
        assert float(sp.diff(definition, x).subs(x, t)) == pytest.approx(float(lemma(name).compact.subs(x, t).doit()),
                                                                         rel=1e-12)


def test_silus_lemma_is_written_in_the_sigmoid():
    assert lemma("silu").compact.has(ACTIVATION_CLASSES["sigmoid"](x))
    assert lemma("silu").substitution is not None
