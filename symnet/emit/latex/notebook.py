"""Derivation objects shown as LaTeX in Jupyter, in the write-up's notation.

The derivation knows nothing of LaTeX (it sits below every emitter), so its objects carry no
``_repr_latex_``; IPython's documented ``for_type`` registration attaches these printers instead,
when symnet is imported inside IPython.
"""
from __future__ import annotations

import sympy as sp

from symnet.derivation.chains import E, Chain, Delta, Derivation, Factor
from symnet.derivation.layer_form import LayerRule
from symnet.emit.latex.printer import chain_product, latex


def factor_latex(f: Factor) -> str:
    forms = dict.fromkeys(latex(e) for e in (f.value, f.compact))  # one form when they agree
    return f"$\\displaystyle {latex(f.derivative)} = {' = '.join(forms)}$"


def delta_latex(d: Delta) -> str:
    return f"$\\displaystyle {latex(d.symbol)} = {latex(d.expr)}$"


def chain_latex(c: Chain) -> str:
    lhs = latex(sp.Derivative(E, c.param, evaluate=False))
    one_path = c.paths is not None and len(c.paths) == 1
    middle = f" = {chain_product([f.derivative for f in c.paths[0].factors])}" if one_path else ""
    return f"$\\displaystyle {lhs}{middle} = {latex(c.result)}$"


def layer_rule_latex(rule: LayerRule) -> str:
    rows = [rule.delta, rule.dW, rule.db]
    return "$\\displaystyle \\begin{aligned}" + r" \\ ".join(
        f"{latex(r.lhs)} &= {latex(r.rhs)}" for r in rows) + "\\end{aligned}$"


def derivation_latex(d: Derivation) -> str:
    return chain_latex(d.chain(d.model.params[0]))


PRINTERS = {Factor: factor_latex, Delta: delta_latex, Chain: chain_latex, LayerRule: layer_rule_latex,
            Derivation: derivation_latex}


def register() -> None:
    """Show derivation objects as LaTeX in the running IPython, if any."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["text/latex"]
    for cls, printer in PRINTERS.items():
        formatter.for_type(cls, printer)
