"""Regenerate ``generated/``: every committed artefact from the four reference articles, in one command.

    python -m symnet.regenerate [--into DIR]

CI regenerates into a temporary folder and compares bytes, so a change to the generator that is not
followed by this command fails the build.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from .codegen import generate
from .files import write_atomic
from .spec import Network

ROOT = Path(__file__).resolve().parent.parent
# generated/ of the source checkout; from an installed package, of the current directory
GENERATED = (ROOT if (ROOT / "pyproject.toml").is_file() else Path.cwd()) / "generated"


@dataclass(frozen=True)
class Article:
    """One reference article's network, and the options of its artefacts."""

    name: str
    net: Network
    options: dict = field(default_factory=dict)


ARTICLES = [
    # 1: the worked example, 2-2-1 with sigmoids and ½ squared error
    Article("article1", Network.parse("2-2-1", hidden="sigmoid", output="sigmoid", loss="mse")),
    # 2: linear → ReLU → softmax with the negative log-likelihood
    Article("article2", Network.parse("4-8-3", hidden="relu", output="softmax", loss="cce")),
    # 3: ReLU + softmax with cross-entropy, trained with momentum in its write-up
    Article("article3", Network.parse("2-16-3", hidden="relu", output="softmax", loss="cce")),
    # 4: two hidden ReLU layers and a softmax output
    Article("article4", Network.parse("2-8-8-3", hidden="relu", output="softmax", loss="cce")),
]


def kernel_files(into: Path) -> dict[Path, str]:
    """What ``generated/`` holds, by path under ``into``."""
    files = {}
    for article in ARTICLES:
        mode = article.options.get("mode", "auto")
        dtype = article.options.get("dtype", "float64")
        name = f"{article.name}.py"
        files[into / name] = generate(article.net, mode, dtype, output=f"generated/{name}")
    return files


def all_files(into: Path) -> dict[Path, str]:
    """Every artefact of generated/: the kernels (the write-ups join them here)."""
    return kernel_files(into)


def regenerate(into: str | Path = GENERATED) -> list[Path]:
    """Write every generated file under ``into``; returns the paths written."""
    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    written = []
    for path, text in all_files(into).items():
        write_atomic(path, text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m symnet.regenerate", description=__doc__.splitlines()[0])
    parser.add_argument("--into", default=str(GENERATED), help="folder to write into (default: generated/)")
    args = parser.parse_args(argv)
    for path in regenerate(args.into):
        print(path)


if __name__ == "__main__":
    main()
