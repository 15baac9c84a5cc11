"""The Jinja2 templates of every emitter, from a source checkout and from an installed package alike.

Installed, ``templates/`` is the package ``symnet.templates`` (pyproject's package-dir mapping); in a
checkout it is the folder beside ``symnet/``.  Each target language has its own folder
(``latex/``, ``numba/``, ``html/``) and its own delimiters; every environment loads through :func:`template_dir`.
"""
from __future__ import annotations

import importlib.resources
import re
from functools import cache
from pathlib import Path

import jinja2

#: the strictness every template gets: no escaping, an undefined name is an error, block tags leave
#: no blank lines, the file's last newline is kept
_COMMON = dict(autoescape=False, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
               keep_trailing_newline=True)


def template_dir() -> Path:
    """The folder holding ``latex/`` and ``numba/``."""
    try:
        installed = importlib.resources.files("symnet.templates")
    except ModuleNotFoundError:
        installed = None
    if installed is not None and installed.is_dir() and (Path(str(installed)) / "numba").is_dir():
        return Path(str(installed))
    return Path(__file__).resolve().parents[2] / "templates"


@cache
def python_environment() -> jinja2.Environment:
    """Templates of generated Python (``templates/numba``)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir() / "numba")), **_COMMON)
    env.filters["pyrepr"] = repr  # a Python literal of a validated value (tuple, str, int)
    return env


@cache
def latex_environment() -> jinja2.Environment:
    """Templates of LaTeX documents (``templates/latex``), with delimiters that LaTeX's braces and
    percent signs leave alone."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir() / "latex")),
        block_start_string=r"\BLOCK{", block_end_string="}",
        variable_start_string=r"\VAR{", variable_end_string="}",
        comment_start_string=r"\#{", comment_end_string="}",
        line_comment_prefix="%#", **_COMMON,
    )


@cache
def html_environment() -> jinja2.Environment:
    """Templates of web pages (``templates/html``): Jinja2's own delimiters and, unlike the others,
    autoescaping on: text is escaped unless it arrives as :class:`markupsafe.Markup` (the MathML and
    numbers the renderer prints)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir() / "html")),
                              **{**_COMMON, "autoescape": True})


def tidy_python(source: str) -> str:
    """Blank lines as PEP 8 has them: at most one inside a function, two before a top-level
    definition; no trailing spaces.  Templates can then emit a block per call without counting."""
    source = re.sub(r"[ \t]+\n", "\n", source)
    source = re.sub(r"\n{3,}(?=[ \t])", "\n\n", source)
    source = re.sub(r"\n{4,}", "\n\n\n", source)
    source = re.sub(r"\n\n+(?=[ \t]*(return|else:|elif))", "\n", source)
    return source.rstrip("\n") + "\n"
