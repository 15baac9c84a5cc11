"""Regenerate generated/*.tex: the write-ups of the four reference articles' networks.

    python -m symnet.regenerate_writeups [OUTDIR]     # default: generated/ of the checkout

The test suite regenerates them into a temporary directory and compares bytes, so a change to the
derivation, the printer or the templates that is not regenerated here fails CI.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .derivation import derive
from .files import write_atomic
from .latex import render_document
from .spec import Network

GENERATED = Path(__file__).resolve().parent.parent / "generated"


@dataclass(frozen=True)
class Article:
    name: str
    net: Network
    values: str | None = None  # a values file in generated/, for the worked example
    momentum: float | None = None


ARTICLES = [
    # 2-2-1 sigmoid network, bias as the last row of W, ½ squared error, with the classic numbers
    Article("article1_2-2-1", Network.parse("2-2-1", hidden="sigmoid", output="sigmoid", loss="mse",
                                            bias="augmented"), values="article1_2-2-1.values.toml"),
    # linear -> ReLU -> softmax with negative log-likelihood
    Article("article2_linear_relu_softmax", Network.parse("4-8-3", hidden="relu", output="softmax", loss="cce")),
    # ReLU + softmax with cross-entropy, trained with momentum
    Article("article3_relu_softmax_momentum", Network.parse("2-16-3", hidden="relu", output="softmax", loss="cce"),
            momentum=0.9),
    # two hidden ReLU layers + softmax
    Article("article4_two_relu_softmax", Network.parse("2-8-8-3", hidden="relu", output="softmax", loss="cce")),
]


def render(article: Article, values_dir: Path = GENERATED) -> str:
    values = values_dir / article.values if article.values else None
    return render_document(derive(article.net), values=values, momentum=article.momentum)


def write_writeups(outdir: str | Path = GENERATED) -> list[Path]:
    """Write every article's write-up into ``outdir`` (values files are read from generated/)."""
    outdir = Path(outdir)
    return [write_atomic(outdir / f"{a.name}.tex", render(a)) for a in ARTICLES]


if __name__ == "__main__":
    for path in write_writeups(sys.argv[1] if len(sys.argv) > 1 else GENERATED):
        print(path)
