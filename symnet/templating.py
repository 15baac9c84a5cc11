"""Where the Jinja2 templates live, from a source checkout and from an installed package alike.

Installed, ``templates/`` is the package ``symnet.templates`` (pyproject's package-dir mapping); in a
checkout it is the folder beside ``symnet/``.  Every emitter loads its templates through here.
"""
from __future__ import annotations

import importlib.resources
import re
from functools import cache
from pathlib import Path

import jinja2


def template_dir() -> Path:
    """The folder holding ``*.j2``."""
    try:
        installed = importlib.resources.files("symnet.templates")
    except ModuleNotFoundError:
        installed = None
    if installed is not None and installed.is_dir() and any(p.name.endswith(".j2") for p in installed.iterdir()):
        return Path(str(installed))
    return Path(__file__).resolve().parent.parent / "templates"


@cache
def python_environment() -> jinja2.Environment:
    """Templates of generated Python: no escaping, block tags leave no blank lines, undefined is an error."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pyrepr"] = repr  # a Python literal of a validated value (tuple, str, int)
    return env


def tidy_python(source: str) -> str:
    """Blank lines as PEP 8 has them: at most one inside a function, two before a top-level
    definition; no trailing spaces.  Templates can then emit a block per call without counting."""
    source = re.sub(r"[ \t]+\n", "\n", source)
    source = re.sub(r"\n{3,}(?=[ \t])", "\n\n", source)
    source = re.sub(r"\n{4,}", "\n\n\n", source)
    source = re.sub(r"\n\n+(?=[ \t]*(return|else:|elif))", "\n", source)
    return source.rstrip("\n") + "\n"
