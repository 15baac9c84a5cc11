"""A derivation shown as HTML in Jupyter: its lemmas and a table of every parameter's chain rule.

Like the LaTeX display (``emit/latex/notebook.py``), this is attached through IPython's documented
``for_type`` registration, so the derivation itself knows nothing of HTML.  Formulas are MathML from
:class:`~symnet.emit.html.mathml.MathMLPrinter`; a chain's product is printed in chain order.
"""
from __future__ import annotations

from html import escape

import sympy as sp

from symnet.derivation.chains import E, Derivation
from symnet.emit.html.mathml import MathMLPrinter

#: parameters listed in the table; a wide network shows its first ones and says how many it has
TABLE_ROWS = 12


def _math(printer: MathMLPrinter, expr: sp.Basic) -> str:
    return f"<math>{printer.doprint(expr)}</math>"


def _chain(printer: MathMLPrinter, d: Derivation, param: sp.Symbol) -> str:
    chain = d.chain(param)
    if chain.paths is not None and len(chain.paths) == 1:
        factors = [printer.doprint(f.derivative) for f in chain.paths[0].factors]
        return "<math>" + "<mo>&#x22C5;</mo>".join(factors) + "</math>"
    return _math(printer, chain.via_delta)


def derivation_html(d: Derivation) -> str:
    """The lemmas of the network's activations, then ∂E/∂θ for the first parameters: chain and result."""
    p = MathMLPrinter()
    parts = [f"<p><b>{escape(d.net.describe())}</b>: {d.net.n_params:,} parameters</p>"]
    for lem in d.lemmas:
        parts.append(f"<p>{escape(lem.name)}′(x) = {_math(p, lem.compact)}</p>")
    params = d.model.params if d.net.n_params <= TABLE_ROWS else d.model.params[:TABLE_ROWS]
    rows = "".join(
        f"<tr><td>{_math(p, sp.Derivative(E, s, evaluate=False))}</td><td>{_chain(p, d, s)}</td>"
        f"<td>{_math(p, d.chain(s).result)}</td></tr>" for s in params)
    more = f"<p>… and {d.net.n_params - len(params):,} more</p>" if len(params) < d.net.n_params else ""
    return ("".join(parts) + "<table><tr><th>parameter</th><th>chain rule</th><th>result</th></tr>"
            + rows + "</table>" + more)


def register() -> None:
    """Show derivations as HTML in the running IPython, if any."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(Derivation, derivation_html)
