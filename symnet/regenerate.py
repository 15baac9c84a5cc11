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
from symnet.files import write_atomic
from symnet.emit.latex.render import render_document
from symnet.spec import Network

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


ARTICLES = [
    # 1: 2-2-1 sigmoid network, bias as the last row of W, ½ squared error, with the classic numbers
    Article("article1_2-2-1", Network.parse("2-2-1", hidden="sigmoid", output="sigmoid", loss="mse",
                                            bias="augmented"), values="article1_2-2-1.values.toml"),
    # 2: linear → ReLU → softmax with the negative log-likelihood
    Article("article2_linear_relu_softmax", Network.parse("4-8-3", hidden="relu", output="softmax", loss="cce")),
    # 3: ReLU + softmax with cross-entropy, trained with momentum
    Article("article3_relu_softmax_momentum", Network.parse("2-16-3", hidden="relu", output="softmax", loss="cce"),
            momentum=0.9),
    # 4: two hidden ReLU layers and a softmax output
    Article("article4_two_relu_softmax", Network.parse("2-8-8-3", hidden="relu", output="softmax", loss="cce")),
]


def writeup(article: Article, values_dir: Path = GENERATED) -> str:
    values = values_dir / article.values if article.values else None
    return render_document(derive(article.net), values=values, momentum=article.momentum)


def kernel(article: Article) -> str:
    return generate(article.net, "auto", "float64", output=f"generated/{article.name}.py")


def all_files(into: Path) -> dict[Path, str]:
    """Every artefact of generated/, by its path under ``into`` (values files are inputs, not listed)."""
    files = {}
    for article in ARTICLES:
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
