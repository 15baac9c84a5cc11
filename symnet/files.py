"""Writing outputs whole or not at all: a failed run never leaves a half-written file behind."""
from __future__ import annotations

import os
import re
import shlex
import tempfile
from pathlib import Path

from symnet.errors import InputError


def check_writable(path: str | Path) -> Path:
    """Fail early, before any work, if ``path`` cannot be written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"output path {path} is a directory; give a file name")
    if parent.exists() and not parent.is_dir():
        raise InputError(f"cannot write {path}: {parent} is not a directory")
    if not parent.is_dir():
        raise InputError(f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"cannot write {path}: permission denied")
    return path


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write to a temporary file beside ``path``, then rename it into place."""
    path = check_writable(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8", "newline": "\n"})) as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


#: spec, values and article files are a few lines; anything this large is not one
MAX_TOML_BYTES = 1024 * 1024


def read_toml(path: str | Path, what: str, error: type[InputError] = InputError) -> dict:
    """A TOML file as a dict; a missing, unreadable or malformed file is one ``error`` naming ``what`` it is."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_TOML_BYTES:
            raise error(f"{what} {path} is {path.stat().st_size:,} bytes; a {what} is at most {MAX_TOML_BYTES:,}")
        # utf-8-sig: an editor's byte-order mark is not part of the TOML
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"cannot read {what} {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        twice = _defined_twice(path, e)
        raise error(f"{what} {path} is not valid TOML: {twice or e}") from None


_KEY = re.compile(r"^\s*(?:\[(?P<table>[^\]]+)\]|(?P<key>[A-Za-z0-9_-]+|\"[^\"]*\")\s*=)")


def _defined_twice(path: Path, error: Exception) -> str | None:
    """TOML's "Cannot overwrite a value" said in the file's own words: which key of which table is defined twice,
    and on which lines."""
    if "overwrite" not in str(error):
        return None
    seen: dict[tuple[str, str], int] = {}
    table = ""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for number, line in enumerate(lines, start=1):
        m = _KEY.match(line)
        if not m:
            continue
        if m["table"]:
            table = m["table"].strip()
            continue
        key = (table, m["key"].strip('"'))
        if key in seen:
            where = f"[{table}] " if table else ""
            return (f"{where}{key[1]} is defined twice (lines {seen[key]} and {number}); give each its own name "
                    f"or remove one")
        seen[key] = number
    return None


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: ``os.path.samefile`` when both exist, else equal resolved paths."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return os.path.abspath(a) == os.path.abspath(b)


def distinct_outputs(inputs: dict[str, str | Path | None], outputs: dict[str, str | Path | None]) -> None:
    """Refuse a command whose output would overwrite one of its inputs or another of its outputs.

    ``inputs`` and ``outputs`` map what the user typed (an option such as ``--save``) to the path given,
    or None where it was not given: ``distinct_outputs(inputs={"--data": d}, outputs={"--save": s})``.
    """
    given_in = [(name, p) for name, p in inputs.items() if p is not None]
    given_out = [(name, p) for name, p in outputs.items() if p is not None]
    for k, (name, path) in enumerate(given_out):
        for in_name, in_path in given_in:
            if same_file(path, in_path):
                raise InputError(f"{name} {path} would overwrite the input {in_name} {in_path}; "
                                 f"write to another path")
        for other, other_path in given_out[:k]:
            if same_file(path, other_path):
                raise InputError(f"{other} {other_path} and {name} {path} are the same file; "
                                 f"give each output its own path")


def shell_word(text: str) -> str:
    """``text`` as one shell word on one line: a file name in a generated comment can never end the
    comment (a newline) or run anything when pasted into a shell."""
    return shlex.quote(text.encode("unicode_escape").decode("ascii"))
