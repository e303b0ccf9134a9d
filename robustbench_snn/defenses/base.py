"""What a training-time defense is: a per-batch loss plus optional hooks.

Every defense of :mod:`robustbench_snn.defenses` subclasses :class:`Defense`
(a dataclass whose fields are its hyper-parameters, settable from the
command line with ``rbsnn train --defense NAME --defense-param key=value``).
The training loop (:func:`robustbench_snn.training.trainer.fit`) is shared: it calls
``loss(model, x, y)`` for each batch and ``after_step(model)`` after each
optimizer step, so defenses differ only in these two pieces.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..core.encoders import encoder_name
from ..core.errors import UnknownNameError, UserInputError
from ..core.registry import Registry


@dataclasses.dataclass
class Defense:
    """Standard training: mean cross-entropy of the logits (BPTT through all T steps)."""

    name: ClassVar[str] = "none"
    #: The paper (and equation) the defense implements, for ``rbsnn list`` and cards.
    paper: ClassVar[str] = ""

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(x), y)

    def after_step(self, model: nn.Module) -> None:
        """Called after every optimizer step (weight projections and the like)."""

    def check(self, model: nn.Module, model_name: str) -> None:
        """Raise :class:`UserInputError` if ``model`` lacks what this defense needs.

        Loss-level defenses work on any model; defenses whose mechanism is an
        encoder or a neuron refuse architectures without it, so a zoo entry
        named ``snn-cnn+rsc`` cannot silently be an undefended network.
        """

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DEFENSES: Registry[type[Defense]] = Registry("defense")


def register_defense(name: str) -> Callable[[type[Defense]], type[Defense]]:
    def deco(cls: type[Defense]) -> type[Defense]:
        cls.name = name
        return DEFENSES.register(name, cls, cls.paper or (cls.__doc__ or "").strip().split("\n")[0])

    return deco


register_defense("none")(Defense)


def loss_level_defenses() -> list[str]:
    """Defenses that accept any architecture."""
    return sorted(n for n, cls in DEFENSES.items() if cls.check is Defense.check)


def require(ok: bool, defense: str, needs: str, model_name: str, has: str, use: str) -> None:
    """One-line refusal naming the bad pairing and the valid choices."""
    if not ok:
        raise UserInputError(
            f"defense '{defense}' needs {needs}; model '{model_name}' has {has} "
            f"(use {use}, or a defense that works on any model: {', '.join(loss_level_defenses())})"
        )


def require_encoder(defense: str, model: nn.Module, model_name: str, encoder: str, label: str, use: str) -> None:
    """Refuse ``model`` unless its input encoder is ``encoder`` (the defense's mechanism)."""
    has = encoder_name(model)
    require(has == encoder, defense, f"a {label} encoder", model_name, f"encoder '{has}'", use)



def _convert(cls: type[Defense], key: str, text: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if key not in fields:
        raise UnknownNameError(f"parameter of defense '{cls.name}'", key, fields)
    kind = type(fields[key].default)
    try:
        return kind(text)
    except ValueError:
        raise UserInputError(f"bad value {text!r} for {cls.name} parameter {key!r}; expected a {kind.__name__}") from None


def get_defense(name: str, params: dict[str, Any] | None = None) -> Defense:
    """Instantiate defense ``name``; string parameter values are converted to the field's type."""
    cls = DEFENSES[name]
    kwargs = {k: _convert(cls, k, v) if isinstance(v, str) else v for k, v in (params or {}).items()}
    unknown = set(kwargs) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise UnknownNameError(f"parameter of defense '{name}'", sorted(unknown)[0], [f.name for f in dataclasses.fields(cls)])
    for key, value in kwargs.items():  # every defense hyper-parameter is a finite, non-negative number
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not (0 <= value < math.inf):
            raise UserInputError(f"bad --defense-param {key}={value!r} for defense '{name}'; it must be a finite number >= 0")
    try:
        return cls(**kwargs)
    except UserInputError:
        raise
    except (ValueError, TypeError) as e:  # the defense's own range checks
        raise UserInputError(f"bad --defense-param for defense '{name}': {e}") from None
