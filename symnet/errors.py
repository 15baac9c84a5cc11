"""Errors that mean "the input is wrong": the CLI prints their one-line message and exits 2."""
from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user: a spec, a values file, a name, a path. The message says what and how to fix it."""


class VerdictError(Exception):
    """A negative verdict (check, gradcheck): exit status 1."""


class UnknownName(InputError, KeyError):
    """A quantity name that the network does not have (a KeyError too, for mapping-style lookups)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
