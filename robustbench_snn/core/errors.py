"""Errors that the CLI turns into one-line messages with exit code 2."""

from __future__ import annotations

from collections.abc import Iterable


class UserInputError(ValueError):
    """Bad user input (an unknown name, a missing data file, a bad value)."""


class UnknownNameError(UserInputError, KeyError):
    """A name that is not one of the registered choices."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid: {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class WorkerLostError(UserInputError):
    """A sweep's worker process died under it (the kernel's out-of-memory killer, a ``kill``):
    not bad input, but something the user acts on (memory, ``--workers``), so one line too."""
