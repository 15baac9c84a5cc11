"""The child process of ``symnet check-code``: imports a person's file and calls their backprop function.

Run as a script (``python code_runner.py REQUEST.json``), never imported by the checker: the file is the
user's code, so it runs here, in a process of its own that the checker can kill, under a memory cap.  This
module imports nothing from symnet (importing the package would cost SymPy's start-up and put symnet's
modules in reach of the user's imports) and only the standard library and NumPy.

The request names the user's file, the function (or none: pick the default), the parameter names
(W1, b1, …), the batch sizes, the input .npz (``X{b}``, ``Y{b}``, ``P{b}_{i}`` for batch b and parameter i) and where to
write the answer: an .npz of ``G{b}_{i}`` (the returned gradients as float arrays) on success, or a JSON
file ``{"error": one line}`` when the file cannot be imported or the call fails.
"""
from __future__ import annotations

import sys

# the script's own folder (symnet/verify) must not shadow the user's imports (it holds a `code.py`,
# a standard-library name): the user's folder takes its place once known, as when they run their file
del sys.path[0]

import importlib.util  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import linecache  # noqa: E402
import os  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

DEFAULT_NAMES = ("backprop", "gradients")
#: address space the user's code may take beyond what Python and NumPy already hold
MEMORY_BUDGET = 4 << 30


class Refusal(Exception):
    """What went wrong, as the one line the checker shows."""


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    try:
        grads = run(request)
    except Refusal as e:
        Path(request["error"]).write_text(json.dumps({"error": str(e)}))
        return 0
    import numpy as np

    np.savez(request["output"], **grads)
    return 0


def run(request: dict) -> dict:
    import numpy as np

    path = Path(request["file"]).resolve()
    sys.path.insert(0, str(path.parent))
    _cap_memory()
    chosen, fn = _function(_load(path), path, request.get("function"))
    label = f"{chosen}() in {path.name}"
    names = request["names"]
    out = {"function": np.array(chosen)}
    with np.load(request["input"]) as data:
        for b, m in enumerate(request["sizes"]):
            X, Y = data[f"X{b}"], data[f"Y{b}"]
            params = [data[f"P{b}_{i}"].copy() for i in range(len(names))]
            try:
                result = fn(params, X.copy(), Y.copy())
            except MemoryError:
                raise Refusal(f"{label} ran out of memory (the limit is {MEMORY_BUDGET >> 30} GiB above "
                              f"NumPy's own) on a batch of m = {m} samples") from None
            except BaseException as e:  # noqa: BLE001 - SystemExit, KeyboardInterrupt from their code too
                raise Refusal(f"{label} raised {_where(e, path)} on a batch of m = {m} samples") from None
            for i, g in enumerate(_as_list(result, names, label)):
                try:
                    out[f"G{b}_{i}"] = np.asarray(g, dtype=float)
                except (TypeError, ValueError):
                    raise Refusal(f"{label} returned {type(g).__name__} for {_grad_name(names[i])}, which is "
                                  f"not an array of numbers; return NumPy arrays") from None
    return out


#: the largest file the user's code may write (its printed output included)
FILE_BUDGET = 64 << 20


def _cap_memory() -> None:
    try:
        import resource
    except ImportError:  # not on Linux or macOS: the time limit still holds
        return
    try:
        held = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        held = 1 << 30
    limit = held + MEMORY_BUDGET
    for kind, cap in ((resource.RLIMIT_AS, limit), (resource.RLIMIT_FSIZE, FILE_BUDGET)):
        # files too: what the code prints goes to a file, which must not fill the disk
        soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        if soft == resource.RLIM_INFINITY or soft > cap:
            try:
                resource.setrlimit(kind, (cap, hard))
            except (ValueError, OSError):
                pass


def _load(path: Path):
    stem = path.stem
    # never "__main__": their `if __name__ == "__main__":` training run must not start
    name = stem if stem.isidentifier() and stem not in sys.modules else "symnet_user_code"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise Refusal(f"cannot import {path.name}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        line = f" line {e.lineno}" if e.lineno else ""
        raise Refusal(f"{path.name}{line}: {type(e).__name__}: {e.msg}; fix it so that `python {path.name}` "
                      f"runs") from None
    except BaseException as e:  # noqa: BLE001
        raise Refusal(f"importing {path.name} raised {_where(e, path)}") from None
    return module


def _function(module, path: Path, name: str | None):
    if name is not None:
        fn = getattr(module, name, None)
        if not callable(fn):
            raise Refusal(f"{path.name} has no function {name!r}; its functions: {_listing(module)}")
        return name, fn
    for default in DEFAULT_NAMES:
        if callable(getattr(module, default, None)):
            return default, getattr(module, default)
    candidates = [(n, fn) for n, fn in vars(module).items()
                  if not n.startswith("_") and inspect.isfunction(fn) and fn.__module__ == module.__name__
                  and _takes_three(fn)]
    if len(candidates) == 1:
        return candidates[0]
    which = "no public function" if not candidates else \
        f"{len(candidates)} public functions ({', '.join(n for n, _ in candidates)})"
    raise Refusal(f"{path.name} defines neither backprop nor gradients, and {which} of three arguments "
                  f"(params, X, Y); name the one to check with --function NAME")


def _takes_three(fn) -> bool:
    try:
        inspect.signature(fn).bind(None, None, None)
    except (TypeError, ValueError):
        return False
    return True


def _listing(module) -> str:
    names = [n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__]
    return ", ".join(names) if names else "none"


def _as_list(result, names: list[str], label: str) -> list:
    if isinstance(result, dict):
        out = []
        for n in names:
            for key in (n, _grad_name(n)):
                if key in result:
                    out.append(result[key])
                    break
            else:
                raise Refusal(f"{label} returned a dict without {n!r} (or {_grad_name(n)!r}); its keys: "
                              f"{', '.join(map(repr, result)) or 'none'}; expected {', '.join(names)}")
        return out
    if isinstance(result, (list, tuple)):
        if len(result) != len(names):
            raise Refusal(f"{label} returned {len(result)} gradients; expected {len(names)}: "
                          f"{', '.join(map(_grad_name, names))}, in that order")
        return list(result)
    raise Refusal(f"{label} returned {type(result).__name__}; return a list [{', '.join(map(_grad_name, names))}] "
                  f"or a dict with those keys")


def _grad_name(name: str) -> str:
    return f"d{name}"


def _where(e: BaseException, path: Path) -> str:
    """``ValueError at line 12 (`D1 = …`): message`` — the deepest line of their file in the traceback."""
    line = None
    for frame, lineno in traceback.walk_tb(e.__traceback__):
        if Path(frame.f_code.co_filename).resolve() == path:
            line = lineno
    message = " ".join(str(e).split()) or "(no message)"
    if len(message) > 300:
        message = message[:297] + "..."
    if isinstance(e, ValueError) and any(w in message for w in ("broadcast", "matmul", "aligned")):
        message += " (`*` multiplies element-wise, `@` is the matrix product)"
    if line is None:
        return f"{type(e).__name__}: {message}"
    source = linecache.getline(str(path), line).strip()
    code = f" (`{source}`)" if source and len(source) <= 120 else ""
    return f"{type(e).__name__} at line {line}{code}: {message}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
