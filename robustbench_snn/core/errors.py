"""Errors that the CLI turns into one-line messages with exit code 2."""

from __future__ import annotations

import re
from collections.abc import Iterable


#: A quoted value longer than this is shown abbreviated in a message (a 4,400-digit number or
#: a pasted file is named, not repeated).
LONGEST_QUOTED = 200


def abbreviate(message: str) -> str:
    """``message`` with every quoted value longer than :data:`LONGEST_QUOTED` characters cut to
    its start and end, saying how long it was."""

    def cut(m: re.Match) -> str:
        text = m.group(0)
        if len(text) <= LONGEST_QUOTED:
            return text
        q = text[0]
        return f"{text[:61]}...{text[-21:-1]}{q} ({len(text) - 2:,} characters)"

    return _QUOTED.sub(cut, message)


_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")


class UserInputError(ValueError):
    """Bad user input (an unknown name, a missing data file, a bad value). Its text is one line
    with long quoted values abbreviated (:func:`abbreviate`)."""

    def __str__(self) -> str:
        return abbreviate(super().__str__())


class UnknownNameError(UserInputError, KeyError):
    """A name that is not one of the registered choices."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid: {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return abbreviate(self.args[0])


class WorkerLostError(UserInputError):
    """A sweep's worker process died under it (the kernel's out-of-memory killer, a ``kill``):
    not bad input, but something the user acts on (memory, ``--workers``), so one line too."""
