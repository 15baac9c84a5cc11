"""symnet — the mathematics of neural-network training, derived by SymPy.

    >>> import symnet
    >>> net = symnet.Network.parse("2-2-1", hidden="sigmoid", output="sigmoid", loss="mse")
    >>> d = symnet.derive(net)
    >>> d.gradient("W2[1,1]")
    a1[1]*yhat*(1 - yhat)*(-y + yhat)

The package is the pipeline (README.md, "Architecture"): ``spec`` → ``derivation`` → ``numeric`` →
``emit`` (LaTeX, HTML, Numba) and ``verify`` (claims) → ``train`` → ``cli``.
"""
from symnet.version import __version__  # noqa: F401

from symnet.derivation.chains import Chain, Delta, Derivation, Factor, Path, derive  # noqa: E402
from symnet.emit.html import notebook as _html_notebook  # noqa: E402
from symnet.emit.latex import notebook as _notebook  # noqa: E402
from symnet.emit.latex.render import render_document as latex  # noqa: E402
from symnet.emit.numba.builder import generate  # noqa: E402
from symnet.emit.numba.cache import compile  # noqa: E402,A004
from symnet.spec import Graph, Network, SpecError  # noqa: E402
from symnet.verify.verdict import Verdict, check  # noqa: E402

_notebook.register()
_html_notebook.register()

#: the scikit-learn estimators (symnet.train.estimator), imported on first use so that ``import symnet``
#: never imports scikit-learn, an optional extra: pip install 'symnet[sklearn]'
_ESTIMATORS = ("MLPClassifier", "MLPRegressor")


def __getattr__(name: str):
    if name in _ESTIMATORS:
        from symnet.train import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'symnet' has no attribute {name!r}")


__all__ = ["Chain", "Delta", "Derivation", "Factor", "Graph", "Network", "Path", "SpecError", "Verdict", "check", "compile",
           "derive", "generate", "latex", "__version__"]
