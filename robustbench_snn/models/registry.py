"""The model registry: ``@register_model("name")`` on a factory, like timm's.

A factory takes ``(in_shape, num_classes, **kwargs)`` and returns a
:class:`~robustbench_snn.core.classifier.Classifier`. Adding a model is one file in
``robustbench_snn/models/`` that defines and decorates its factory: importing this
module imports the ``models`` package first, and the package imports every module
in its folder, so the registry is complete whenever it can be read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..core.errors import UnknownNameError
from ..core.registry import Registry


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


MODELS: Registry[ModelEntry] = Registry("model")
RECIPES: Registry[Recipe] = Registry("model recipe")


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
