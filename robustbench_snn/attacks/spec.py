"""What an attack declares about itself, in the file that defines it.

An attack is a function under the contract of :mod:`.contract` plus an
:class:`AttackSpec`: the threat models it runs in, what one batch of it costs,
where its random numbers come from, what a row records of its parameters, and
the most EOT draws per step it can average. :func:`register_attack` puts the
pair in :data:`ATTACKS` by name (``rbsnn eval --attack``, ``rbsnn list``), so
adding an attack is one file in this folder and its test: the package imports
every module here (:mod:`robustbench_snn.attacks`), and the harness, the
progress bar, the compile planner and the row all read the spec.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from ..core.errors import UserInputError
from ..core.registry import Registry
from .contract import AttackFn

#: The threat models an attack runs in unless its spec says otherwise.
PIXEL_NORMS = ("linf", "l2")

#: ``(steps, eot) -> count``: a cost per batch, in progress ticks or input gradients.
Cost = Callable[[int, int], int]
#: ``(cfg, surrogate, seed) -> params``: what a row records of one run (``cfg`` an
#: :class:`~robustbench_snn.evaluation.harness.AttackConfig`; ``surrogate`` the one backpropagated).
Records = Callable[[Any, str, int], dict[str, Any]]


def one_per_step(steps: int, eot: int) -> int:
    """One input gradient (one tick) per step: PGD's cost."""
    return steps


def one_per_batch(steps: int, eot: int) -> int:
    """One tick per batch: an attack whose loop we cannot see (a library's), or one with no loop."""
    return 1


def step_records(cfg: Any, surrogate: str, seed: int) -> dict[str, Any]:
    """A PGD-style attack's parameters: EOT draws, gradient mode, surrogate, steps, step size, random start."""
    return {"eot": cfg.eot, "grad": cfg.grad, "surrogate": surrogate, "steps": cfg.steps,
            "alpha": round(cfg.step_size, 6), "random_start": cfg.random_start}


@dataclass(frozen=True)
class AttackSpec:
    """One attack and what the harness needs to know to run it.

    ``ticks(steps, eot)``: progress ticks one batch makes at most (its gradient steps, or its
    score queries); ``gradients(steps, eot)``: input gradients per example, for the compile
    planner (``None``: as many as ticks; a black box declares none). ``randomness``: ``"streams"`` draws from per-example
    generators (:mod:`robustbench_snn.core.streams`); ``"global"`` draws batch-shaped numbers
    from torch's global generator, so the harness runs it on fixed, separately seeded blocks
    of examples. ``needs``: keywords the harness passes beyond the contract (``"seed"``,
    ``"example_ids"``). ``eot_limit``: ``{norm: most EOT draws one step averages}`` for a
    library that would silently use fewer. ``follows_gradient``: False for a black box (a
    model without input gradient does not flag it ``no-gradient``).
    """

    run: AttackFn
    norms: tuple[str, ...] = PIXEL_NORMS
    ticks: Cost = one_per_step
    gradients: Cost | None = None
    randomness: Literal["streams", "global"] = "streams"
    needs: tuple[str, ...] = ()
    eot_limit: Mapping[str, int] = field(default_factory=dict)
    follows_gradient: bool = True
    records: Records = step_records

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Any, **options: Any) -> torch.Tensor:
        return self.run(model, x, y, ball, **options)

    def gradient_steps(self, steps: int, eot: int) -> int:
        """Input gradients one example costs (draws not counted: the planner multiplies by EOT)."""
        return (self.gradients or self.ticks)(steps, eot)

    def check_eot(self, norm: str, eot: int, label: str) -> None:
        """Refuse ``eot`` above what the attack averages under ``norm`` (its ``eot_limit``):
        the library would silently use one draw per step, a weaker attack than the row would claim."""
        limit = self.eot_limit.get(norm)
        if limit is not None and eot > limit:
            raise UserInputError(
                f"bad eot {eot} for {label} under {norm}: the library averages at most {limit} encoder draw per step; "
                "valid: eot 1, or our 'pgd' / 'apgd-ce', which average any number"
            )


#: name -> :class:`AttackSpec`, with its one-line description (``rbsnn list``)
ATTACKS: Registry[AttackSpec] = Registry("attack")


def register_attack(name: str, description: str, **spec: Any) -> Callable[[AttackFn], AttackFn]:
    """Decorator: register the attack function under ``name`` with its :class:`AttackSpec`
    fields; the function is returned unchanged."""

    def register(fn: AttackFn) -> AttackFn:
        ATTACKS.register(name, AttackSpec(fn, **spec), description)
        return fn

    return register


def check_norm(name: str, norm: str) -> None:
    """Refuse an attack outside its threat models (``--norm events`` takes only the event attacks)."""
    valid = ATTACKS[name].norms
    if norm not in valid:
        fits = [a for a, s in ATTACKS.items() if norm in s.norms]
        raise UserInputError(f"attack {name!r} does not run under --norm {norm}; it takes {', '.join(valid)}. Under {norm}: {', '.join(fits)}")
