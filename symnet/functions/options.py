"""A keyword a concept takes in a spec (a layer's ``units``, a softmax's ``T``, a loss's ``gamma``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Option:
    """One keyword a kind takes: its name, default, the Python type of its values, and a rule."""

    name: str
    default: object
    kind: type
    #: None when ``value`` is acceptable, else what is wrong with it (one phrase)
    check: Callable[[object], str | None] = lambda value: None
    help: str = ""


def one_of(*choices: str) -> Callable[[object], str | None]:
    """The check of a word option: its value is one of ``choices``."""
    return lambda value: None if value in choices else f"is not one of {', '.join(map(repr, choices))}"
