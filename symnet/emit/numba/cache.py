"""``symnet.compile(net)``: a generated kernel as an imported module, through a private on-disk cache.

The cache is content-addressed: a kernel's file is named by the hash of the source symnet generates for
it (with Numba's version and the dtype), and a cached file is imported only when its bytes are exactly
that source, or hash to the SHA-256 an index entry of this user's records for it.  A file that someone
else put there, or that a crash truncated, is never run: it is regenerated.  Generating costs a
derivation (~1 s), so each request has an index entry naming its file and the SHA-256 of its source;
the entry is keyed by the request (the network, every defined function, mode, dtype, optimiser,
target), the versions of the libraries that print and compile the source, and the bytes of symnet's own
modules and templates, so that any change to the generator misses the index and regenerates.  The directory itself must be the user's own
and writable by no one else (as ssh and pip demand of theirs), because Numba's ``cache=True`` keeps its
machine code, which it unpickles, beside the module in ``__pycache__``.

Where: ``$SYMNET_CACHE``, else ``$XDG_CACHE_HOME/symnet`` or ``~/.cache/symnet``.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import stat
import sys
from pathlib import Path
from types import ModuleType

from importlib.metadata import version

from symnet.emit.numba.builder import DTYPES, MAX_KERNEL_LAYERS, checked_network, generate
from symnet.emit.numba.gpu import TARGETS, generate_cuda
from symnet.emit.templates import template_dir
from symnet.errors import InputError
from symnet.files import write_atomic
from symnet.functions import formula
from symnet.spec import Network

#: the most memory a compiled kernel's parameters, gradients and velocity may take (3 arrays of each);
#: 784-256-10 takes 4.9 MB
MAX_KERNEL_BYTES = 2 * 1024**3
#: the name a cached module's header gives in its regeneration command (the file name is its hash)
CACHED_NAME = "kernel.py"
#: modules this process imported, by what they were generated from (generating costs a derivation)
_loaded: dict[tuple, ModuleType] = {}


class CacheError(InputError):
    """A kernel cache symnet will not use: someone else could write code into it."""


def cache_dir() -> Path:
    """Where compiled kernels live: $SYMNET_CACHE, else the user's cache directory."""
    if os.environ.get("SYMNET_CACHE"):
        return Path(os.environ["SYMNET_CACHE"])
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "symnet"


def private_dir(path: Path) -> Path:
    """``path`` as a directory only this user can write: created 0700, or refused when it is not ours."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError as e:
        raise CacheError(f"cannot create the kernel cache {path}: {e.strerror or e}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise CacheError(f"the kernel cache {path} is not a directory; set SYMNET_CACHE to a private directory")
    _refuse_foreign(path, info, "kernel cache")
    return path


def _refuse_foreign(path: Path, info: os.stat_result, what: str) -> None:
    if info.st_uid != os.getuid():
        raise CacheError(f"refusing the {what} {path}: it belongs to uid {info.st_uid}, not to you; "
                         f"set SYMNET_CACHE to a directory of your own")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CacheError(f"refusing the {what} {path}: others can write to it (mode {stat.S_IMODE(info.st_mode):o}); "
                         f"run chmod go-w {path} or set SYMNET_CACHE to a private directory")


def check_size(net: Network, dtype: str = "float64") -> None:
    """Refuse, before anything is generated or allocated, a kernel too deep to compile or too large to hold."""
    if net.depth > MAX_KERNEL_LAYERS:
        raise InputError(f"{net.compact} has {net.depth} layers with weights; kernels are generated for at most "
                         f"{MAX_KERNEL_LAYERS} (compile time grows faster than the depth)")
    need = 3 * net.n_params * (8 if dtype == "float64" else 4)
    if need > MAX_KERNEL_BYTES:
        raise InputError(f"{net.compact} has {net.n_params:,} parameters: its parameters, gradients and velocity "
                         f"would take {need / 1024**3:.1f} GiB, over the {MAX_KERNEL_BYTES / 1024**3:.0f} GiB a kernel "
                         f"may use; use a narrower network")


def source_key(source: str, dtype: str) -> str:
    """The content address of a kernel: its source, the Numba that compiles it, the dtype."""
    # the installed Numba's version, read without importing Numba (a derivation needs no compiler)
    text = f"{source}\nnumba={version('numba')}\ndtype={dtype}\n"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_source(net: Network | str, mode: str = "auto", dtype: str = "float64",
                  optimizer: str = "sgd", target: str = "cpu") -> tuple[Path, str]:
    """The cache file for ``net`` and the source it must hold."""
    if target == "cuda":
        source = generate_cuda(net, dtype, output=CACHED_NAME, optimizer=optimizer)
    else:
        source = generate(net, mode, dtype, output=CACHED_NAME, optimizer=optimizer)
    return cache_dir() / f"symnet_kernel_{source_key(source, dtype)}.py", source


def kernel_path(net: Network | str, mode: str = "auto", dtype: str = "float64", optimizer: str = "sgd") -> Path:
    return cached_source(net, mode, dtype, optimizer)[0]


def compile(net: Network | str, mode: str = "auto", dtype: str = "float64",  # noqa: A001
            optimizer: str = "sgd", target: str = "cpu") -> ModuleType:
    """The kernel module for ``net`` (its ``train_epoch`` applying ``optimizer``), imported from the cache
    after checking the file is the source symnet generates for it, or the source an index entry recorded
    for this very request (written there first when missing or different).

    Numba compiles each function on its first call (from its own cache when a previous process did).
    """
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    if target not in TARGETS:
        raise InputError(f"unknown target {target!r}; allowed: {', '.join(TARGETS)}")
    if target == "cuda":
        require_gpu()
    net = checked_network(net)
    check_size(net, dtype)
    # every --define'd function (an activation, a loss, one another calls): its formula is part of what is
    # compiled, and may differ from the last process's under the same name; unrelated ones only cost a miss
    formulas = tuple(sorted((name, d.source) for name, d in formula.DEFINED.items()))
    memo = (net, formulas, mode, dtype, optimizer, target, cache_dir())
    if memo in _loaded:
        return _loaded[memo]
    where = private_dir(cache_dir())
    pycache = where / "__pycache__"
    if pycache.exists() or pycache.is_symlink():
        _refuse_foreign(pycache, pycache.lstat(), "Numba cache")
    key = _request_key(net, formulas, mode, dtype, optimizer, target)
    entry = where / f"symnet_index_{key}" if key else None
    path = _indexed(entry) if entry else None
    if path is None:
        path, source = cached_source(net, mode, dtype, optimizer, target)
        if not _holds(path, source):
            if path.exists() or path.is_symlink():
                print(f"symnet: the cached kernel {path.name} is not the source symnet generates; regenerating it",
                      file=sys.stderr)
                _drop_numba_cache(path)
            write_atomic(path, source)
            os.chmod(path, 0o600)
        if entry:
            write_atomic(entry, f"{path.name}\n{_sha256(source.encode())}\n")
            os.chmod(entry, 0o600)
    module = _loaded[memo] = load(path)
    return module


def _request_key(net: Network, formulas: tuple, mode: str, dtype: str, optimizer: str, target: str) -> str | None:
    """Everything a kernel's source depends on: the request, the libraries that print and compile it, and
    symnet's generator; None when symnet's sources cannot be read (then there is no index)."""
    generator = _generator_fingerprint()
    if generator is None:
        return None
    libraries = [version(name) for name in ("numba", "sympy", "mpmath", "jinja2")] + [sys.version_info[:2]]
    text = repr((net, formulas, mode, dtype, optimizer, target, libraries, generator))
    return _sha256(text.encode())[:32]


@functools.cache
def _generator_fingerprint() -> str | None:
    """The bytes of symnet's modules and of its Numba templates: whatever could change a generated kernel."""
    package = Path(__file__).resolve().parents[2]
    templates = template_dir() / "numba"
    files = sorted(package.rglob("*.py")) + sorted(templates.glob("*.j2"))
    if not any(f.suffix == ".py" for f in files):
        return None  # installed without its sources (only .pyc): nothing to tell versions apart by
    digest = hashlib.sha256()
    for f in files:
        where = f.relative_to(package) if f.is_relative_to(package) else f.relative_to(templates.parent)
        digest.update(str(where).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def _indexed(entry: Path) -> Path | None:
    """The kernel file an index entry names, when the entry is ours and the file's bytes still hash to what
    it recorded; None otherwise (the kernel is then generated and checked as if there were no entry)."""
    try:
        name, digest = _private_bytes(entry).decode().split("\n")[:2]
        path = entry.parent / name
        if not (name.startswith("symnet_kernel_") and name.endswith(".py") and "/" not in name):
            return None
        return path if _sha256(_private_bytes(path)) == digest else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _private_bytes(path: Path) -> bytes:
    """The bytes of a regular file of ours that no one else can write (OSError otherwise)."""
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise OSError(f"{path} is not a private file")
    return path.read_bytes()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def require_gpu() -> None:
    """A usable CUDA device, or Numba's simulator (``NUMBA_ENABLE_CUDASIM=1``), for ``--target cuda``."""
    from numba import cuda

    if not cuda.is_available():
        raise InputError("--target cuda needs an NVIDIA GPU and its driver (numba.cuda finds none); "
                         "pip install 'symnet[cuda]' for the CUDA target package, or set NUMBA_ENABLE_CUDASIM=1 "
                         "to run the kernels in Numba's simulator (slowly, to test them)")


def _holds(path: Path, source: str) -> bool:
    """Whether ``path`` is a regular file of ours, writable by no one else, with exactly ``source``."""
    try:
        return _private_bytes(path) == source.encode()
    except OSError:
        return False


def _drop_numba_cache(path: Path) -> None:
    """Numba's index and machine code of a module that is being replaced: they describe other code."""
    for stale in (path.parent / "__pycache__").glob(f"{path.stem}.*"):
        stale.unlink(missing_ok=True)
    if path.is_symlink() or path.is_dir():
        path.unlink(missing_ok=True)


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
