"""Model registry: ``@register_model("name")`` on a factory, like timm's.

A factory takes ``(in_shape, num_classes, **kwargs)`` and returns a
:class:`~robustbench_snn.models.base.Classifier`. Adding a model is one file in
``robustbench_snn/models/`` that defines and decorates its factory (the
package imports every module in that folder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import UnknownNameError


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


_MODELS: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    defense: str = "none",
    description: str = "",
    train_defaults: dict[str, Any] | None = None,
    defense_params: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``factory`` under ``name``; raises if the name is taken."""

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        doc = description or (factory.__doc__ or "").strip().splitlines()[0]
        _MODELS[name] = ModelEntry(name, factory, defense, doc, dict(train_defaults or {}), dict(defense_params or {}))
        return factory

    return deco


def _ensure_loaded() -> None:
    from . import models  # noqa: F401  (importing registers the built-in models)


def list_models() -> list[str]:
    _ensure_loaded()
    return sorted(_MODELS)


def get_model_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    if name not in _MODELS:
        raise UnknownNameError("model", name, _MODELS)
    return _MODELS[name]


def create_model(name: str, in_shape: tuple[int, ...], num_classes: int, **kwargs: Any):
    """Build an untrained model ``name`` for inputs ``[B, *in_shape]``."""
    return get_model_entry(name).factory(tuple(in_shape), num_classes, **kwargs)
