"""JSON from files a user or a submitter wrote: parsed, or refused in one line.

``json.loads`` raises more than ``JSONDecodeError`` on hostile text: ``ValueError`` for an
integer of more than 4,300 digits (CPython's int-conversion limit) and ``RecursionError``
for nesting deeper than the interpreter's stack (a file of 100,000 ``[``). Every JSON a run
reads from outside (zoo cards, submission cards, board cells) goes through :func:`parse_json`.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import UserInputError


def parse_json(text: str | bytes, where: str) -> Any:
    """``text`` parsed as JSON, or :class:`UserInputError` naming ``where`` and the reason."""
    try:
        return json.loads(text)
    except RecursionError:
        raise UserInputError(f"{where} is not usable JSON: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError, too-long integers, bad bytes
        raise UserInputError(f"{where} is not valid JSON ({str(e).splitlines()[0]})") from None


def json_object(text: str | bytes, where: str) -> dict[str, Any]:
    """:func:`parse_json`, required to be an object (a card)."""
    value = parse_json(text, where)
    if not isinstance(value, dict):
        raise UserInputError(f"{where} must hold a JSON object, got {type(value).__name__}")
    return value
