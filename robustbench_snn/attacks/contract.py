"""The attack contract, handled in one place.

Every attack is ``attack(model, x, y, ball, **options) -> x_adv`` with ``x_adv``
in ``ball`` around ``x`` and in the input range, the options being those of
:class:`~robustbench_snn.evaluation.harness.AttackConfig` it uses (``steps``, ``alpha``,
``random_start``, ``eot``...) and ignoring the rest. :func:`attack` wraps an
attack function with what is the same for all of them: the empty ball
(``eps = 0``: no perturbation allowed) returns the input itself, without a
model call, so ``eps = 0`` changes nothing for every attack (tested), and no
attack needs its own check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

from .norms import NormBall

AttackFn = Callable[..., torch.Tensor]


def attack(fn: AttackFn) -> AttackFn:
    """``fn`` under the contract (module docstring); what else the harness needs to know of
    it is its :class:`~.spec.AttackSpec`."""

    @functools.wraps(fn)
    def run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: NormBall, *args: object, **kwargs: object) -> torch.Tensor:
        if ball.eps == 0:
            return x.detach().clone()
        return fn(model, x, y, ball, *args, **kwargs)

    return run
