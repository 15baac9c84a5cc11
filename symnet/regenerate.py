"""Regenerate ``generated/``: the write-up (.tex) and the kernel (.py) of each reference article's network.

    python -m symnet.regenerate [--into DIR]

The tests regenerate into a temporary folder and compare bytes, so a change to the derivation, the
printers or the templates that is not followed by this command fails CI.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from symnet.emit.numba.builder import generate
from symnet.derivation.chains import derive
from symnet.files import read_toml, write_atomic
from symnet.emit.latex.document import derive_command
from symnet.emit.latex.render import render_document
from symnet.spec import TOML_KEYS, Network

ROOT = Path(__file__).resolve().parent.parent
# generated/ of the source checkout; from an installed package, of the current directory
GENERATED = (ROOT if (ROOT / "pyproject.toml").is_file() else Path.cwd()) / "generated"


@dataclass(frozen=True)
class Article:
    """One reference article's network and what its write-up shows."""

    name: str
    net: Network
    values: str | None = None  # a values file in generated/, for the write-up's worked example
    momentum: float | None = None


def articles(folder: Path = GENERATED) -> list[Article]:
    """The reference articles of ``folder/articles.toml``, in the file's order."""
    table = read_toml(folder / "articles.toml", "article list")
    out = []
    for name, entry in table.items():
        spec = {k: v for k, v in entry.items() if k in TOML_KEYS}
        net = Network.build(spec.pop("layers"), **spec)
        out.append(Article(name, net, entry.get("values"), entry.get("momentum")))
    return out


def writeup(article: Article, values_dir: Path = GENERATED) -> str:
    """The article's write-up; its first line is the command that writes it again, run from the
    repository's root."""
    values = values_dir / article.values if article.values else None
    command = derive_command(article.net, values=f"generated/{article.values}" if article.values else None,
                             momentum=article.momentum, out=f"generated/{article.name}.tex")
    return render_document(derive(article.net), values=values, momentum=article.momentum, command=command)


def kernel(article: Article) -> str:
    return generate(article.net, "auto", "float64", output=f"generated/{article.name}.py")


def all_files(into: Path) -> dict[Path, str]:
    """Every artefact of generated/, by its path under ``into`` (values files are inputs, not listed)."""
    files = {}
    for article in articles():
        files[into / f"{article.name}.tex"] = writeup(article)
        files[into / f"{article.name}.py"] = kernel(article)
    return files


def regenerate(into: str | Path = GENERATED) -> list[Path]:
    """Write every generated file under ``into``; returns the paths written."""
    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    return [write_atomic(path, text) for path, text in all_files(into).items()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m symnet.regenerate", description=__doc__.splitlines()[0])
    parser.add_argument("--into", default=str(GENERATED), help="folder to write into (default: generated/)")
    args = parser.parse_args(argv)
    for path in regenerate(args.into):
        print(path)


if __name__ == "__main__":
    main()
