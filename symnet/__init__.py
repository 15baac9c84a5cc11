"""symnet — the mathematics of neural-network training, derived by SymPy.

    >>> import symnet
    >>> net = symnet.Network.parse("2-2-1", hidden="sigmoid", output="sigmoid", loss="mse")
    >>> d = symnet.derive(net)
    >>> d.gradient("W2[1,1]")
    a1[1]*yhat*(1 - yhat)*(-y + yhat)
"""
from .check import Verdict, check
from .derivation import Chain, Delta, Derivation, Factor, Path, derive
from .spec import Network, SpecError

__version__ = "0.1.0"

from .codegen import generate  # noqa: E402
from .kernel_cache import compile  # noqa: E402,A004

__all__ = ["Chain", "Delta", "Derivation", "Factor", "Network", "Path", "SpecError", "Verdict", "check", "compile",
           "derive", "generate", "__version__"]
