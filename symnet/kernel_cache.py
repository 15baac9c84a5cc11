"""``symnet.compile(net)``: a generated kernel as an imported module, through an on-disk cache.

The module is written to ``$SYMNET_CACHE`` (default ``$XDG_CACHE_HOME/symnet`` or ``~/.cache/symnet``)
under a name keyed by a hash of the spec, the options and the symnet version.  A second process finds
the file and imports it without deriving anything, and because the code lives in a real file
Numba's ``cache=True`` keeps the machine code beside it: the second start compiles nothing.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from .codegen import DTYPES, _checked, choose_layout, generate
from .errors import InputError
from .files import write_atomic
from .spec import Network
from .templating import template_dir

#: the modules whose code decides what a kernel's source is
GENERATOR_MODULES = ("codegen", "codeprinter", "stable", "layer_form", "derivation", "model", "activations")
_loaded: dict[Path, ModuleType] = {}


def cache_dir() -> Path:
    """Where compiled kernels live: $SYMNET_CACHE, else the user's cache directory."""
    if os.environ.get("SYMNET_CACHE"):
        return Path(os.environ["SYMNET_CACHE"])
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "symnet"


def cache_key(net: Network, mode: str, dtype: str) -> str:
    """A name for (spec, mode, dtype, symnet version, generator); the layout mode resolves to is part of it.

    The generator's own sources are hashed too, so a development checkout never imports a kernel
    that an older generator wrote under the same version number.
    """
    from . import __version__

    text = "\n".join([net.to_toml(), f"mode={mode}", f"layout={choose_layout(net, mode)}",
                      f"dtype={dtype}", f"symnet={__version__}", f"generator={_generator_fingerprint()}"])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@cache
def _generator_fingerprint() -> str:
    here = Path(__file__).resolve().parent
    sources = [here / f"{m}.py" for m in GENERATOR_MODULES] + [template_dir() / "kernel.py.j2"]
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def kernel_path(net: Network | str, mode: str = "auto", dtype: str = "float64") -> Path:
    net = _checked(net)
    return cache_dir() / f"symnet_kernel_{cache_key(net, mode, dtype)}.py"


def compile(net: Network | str, mode: str = "auto", dtype: str = "float64") -> ModuleType:  # noqa: A001
    """The kernel module for ``net``: imported from the cache, generated into it first if missing.

    Numba compiles each function on its first call (from its own cache when a previous process did).
    """
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    net = _checked(net)
    path = kernel_path(net, mode, dtype)
    if path in _loaded:
        return _loaded[path]
    if not path.is_file():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"cannot create the kernel cache {path.parent}: {e}") from None
        write_atomic(path, generate(net, mode, dtype, output=path.name))
    module = load(path)
    _loaded[path] = module
    return module


def load(path: str | Path) -> ModuleType:
    """Import a generated module from its file (any name: symnet codegen's output too)."""
    path = Path(path)
    name = path.stem if path.stem.isidentifier() else "symnet_kernel_" + hashlib.sha256(
        str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot import {path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Numba's cache looks the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
