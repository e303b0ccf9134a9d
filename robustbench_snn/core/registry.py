"""Registries: one small :class:`Registry` (name -> entry, with a one-line
description, and the :class:`~.errors.UnknownNameError` listing the valid names)
serves every named choice -- models, encoders, defenses, attacks, norms,
surrogates, neurons, datasets and smoothing mechanisms -- as timm's
``_registry.py`` serves its models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

from .errors import UnknownNameError

E = TypeVar("E")


class Registry(Mapping[str, E], Generic[E]):
    """Names of one kind (``"attack"``, ``"norm"``...) -> entries, in registration order.

    A read-only mapping: ``registry[name]`` raises :class:`UnknownNameError` naming the
    valid choices; entries are added by :meth:`register` or by decorating with
    :meth:`__call__`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, E] = {}
        self._descriptions: dict[str, str] = {}

    def register(self, name: str, entry: E, description: str = "") -> E:
        """Add ``entry`` under ``name`` (a name is registered once); returns ``entry``."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        self._descriptions[name] = description or (getattr(entry, "__doc__", None) or "").strip().split("\n")[0]
        return entry

    def register_all(self, rows: Iterable[tuple[str, E, str]]) -> None:
        """:meth:`register` each ``(name, entry, description)`` of a table, in order."""
        for name, entry, description in rows:
            self.register(name, entry, description)

    def unregister(self, name: str) -> E:
        """Remove ``name`` (a test's or a session's temporary entry); returns its entry."""
        entry = self[name]
        del self._entries[name], self._descriptions[name]
        return entry

    def __call__(self, name: str, description: str = "") -> Callable[[E], E]:
        """Decorator form of :meth:`register`."""
        return lambda entry: self.register(name, entry, description)

    def __getitem__(self, name: str) -> E:
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, self._entries)
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def description(self, name: str) -> str:
        """The one-line description ``name`` was registered with (``rbsnn list``)."""
        self[name]  # noqa: B018 - the unknown-name error
        return self._descriptions[name]
