"""The errors of a spec that cannot describe a network."""
from __future__ import annotations

from symnet.errors import InputError


class SpecError(InputError):
    """A spec that cannot describe a network; the message names the bad value and the allowed ones."""


class GraphError(SpecError):
    """A graph spec that cannot describe a network; the message names the node and how to fix it."""
