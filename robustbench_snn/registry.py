"""Registries: one small :class:`Registry` (name -> entry, with a one-line
description, and the :class:`~.errors.UnknownNameError` listing the valid names)
serves every named choice -- models, encoders, defenses, attacks, norms,
surrogates, neurons, datasets and smoothing mechanisms -- as timm's
``_registry.py`` serves its models.

Models are registered with ``@register_model("name")`` on a factory, like timm's.
A factory takes ``(in_shape, num_classes, **kwargs)`` and returns a
:class:`~robustbench_snn.models.base.Classifier`. Adding a model is one file in
``robustbench_snn/models/`` that defines and decorates its factory (the
package imports every module in that folder).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from .errors import UnknownNameError

E = TypeVar("E")


class Registry(Mapping[str, E], Generic[E]):
    """Names of one kind (``"attack"``, ``"norm"``...) -> entries, in registration order.

    A read-only mapping: ``registry[name]`` raises :class:`UnknownNameError` naming the
    valid choices; entries are added by :meth:`register` or by decorating with
    :meth:`__call__`. ``load``, when given, runs once before the first lookup (to import
    the modules whose decorators fill the registry)."""

    def __init__(self, kind: str, load: Callable[[], object] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, E] = {}
        self._descriptions: dict[str, str] = {}
        self._load = load

    def _loaded(self) -> dict[str, E]:
        if self._load is not None:
            load, self._load = self._load, None
            load()
        return self._entries

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
        entries = self._loaded()
        if name not in entries:
            raise UnknownNameError(self.kind, name, entries)
        return entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def description(self, name: str) -> str:
        """The one-line description ``name`` was registered with (``rbsnn list``)."""
        self[name]  # noqa: B018 - the unknown-name error
        return self._descriptions[name]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[..., Any]
    #: Defense family this model represents ("none" for standard training).
    defense: str = "none"
    #: One line for ``rbsnn list``.
    description: str = ""
    #: Training hyper-parameters ``rbsnn train`` uses unless overridden.
    train_defaults: dict[str, Any] = field(default_factory=dict)
    #: Hyper-parameters of the registered defense (``--defense-param`` overrides them).
    defense_params: dict[str, Any] = field(default_factory=dict)
    #: The registered architecture whose factory builds it (itself, or a recipe's).
    architecture: str = ""
    #: Named configurations its factory takes as ``config=`` (``small`` first, then papers'), if any.
    configs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipe:
    """A zoo name for a registered architecture trained with a defense and its
    parameters: data, as timm's pretrained tags, not another factory."""

    architecture: str
    defense: str
    defense_params: dict[str, Any] = field(default_factory=dict)


def _ensure_loaded() -> None:
    from . import models  # noqa: F401  (importing registers the built-in models)


MODELS: Registry[ModelEntry] = Registry("model", load=_ensure_loaded)
RECIPES: Registry[Recipe] = Registry("model recipe", load=_ensure_loaded)


def register_model(
    name: str,
    *,
    defense: str = "none",
    description: str = "",
    train_defaults: dict[str, Any] | None = None,
    defense_params: dict[str, Any] | None = None,
    configs: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``factory`` under ``name``; raises if the name is taken. ``configs`` names the
    configurations the factory takes as ``config=`` (``rbsnn list`` shows them)."""

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        doc = description or (factory.__doc__ or "").strip().split("\n")[0]
        entry = ModelEntry(name, factory, defense, doc, dict(train_defaults or {}), dict(defense_params or {}), name, tuple(configs))
        MODELS.register(name, entry, doc)
        return factory

    return deco


def register_recipe(name: str, architecture: str, defense: str, description: str,
                    defense_params: dict[str, Any] | None = None) -> Recipe:
    """Name ``architecture`` trained with ``defense`` (``defense_params``) as model ``name``."""
    return RECIPES.register(name, Recipe(architecture, defense, dict(defense_params or {})), description)


def list_models() -> list[str]:
    """Every model name ``rbsnn train --model`` takes: architectures and recipes."""
    return sorted({*MODELS, *RECIPES})


def get_model_entry(name: str) -> ModelEntry:
    """The architecture ``name``, or recipe ``name`` as an entry of its architecture
    carrying the recipe's defense and parameters."""
    if name in MODELS:
        return MODELS[name]
    if name in RECIPES:
        recipe = RECIPES[name]
        base = MODELS[recipe.architecture]
        return replace(base, name=name, defense=recipe.defense, description=RECIPES.description(name),
                       defense_params=dict(recipe.defense_params), architecture=base.name)
    raise UnknownNameError("model", name, list_models())


def create_model(name: str, in_shape: tuple[int, ...], num_classes: int, **kwargs: Any):
    """Build an untrained model ``name`` for inputs ``[B, *in_shape]``."""
    return get_model_entry(name).factory(tuple(in_shape), num_classes, **kwargs)
