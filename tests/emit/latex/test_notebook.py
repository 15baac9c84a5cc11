"""Derivation objects show themselves as LaTeX in Jupyter, through IPython's display formatters."""
import symnet
from symnet.emit.latex.notebook import PRINTERS, chain_latex, delta_latex, factor_latex, layer_rule_latex


def test_objects_show_themselves_as_latex_in_notebooks():
    article_net = symnet.derive("2-2-1")
    chain = article_net.chain("W1[1,1]")
    tex = chain_latex(chain)
    assert tex.startswith("$\\displaystyle \\frac{\\partial E}{\\partial W^{(1)}_{11}}")
    assert "\\frac{\\partial \\hat{y}}{\\partial h^{(2)}_{1}}" in tex
    assert factor_latex(chain.paths[0].factors[0]) == "$\\displaystyle \\frac{\\partial E}{\\partial \\hat{y}} = \\hat{y} - y$"
    assert "\\delta^{(1)}_{1}" in delta_latex(article_net.delta("h1[1]"))
    assert "\\sum_{l=1}^{n_{2}}" in layer_rule_latex(article_net.layer_rule(1))


def test_every_derivation_object_has_a_printer():
    assert {cls.__name__ for cls in PRINTERS} == {"Factor", "Delta", "Chain", "LayerRule", "Derivation"}
