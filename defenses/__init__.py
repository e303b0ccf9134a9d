"""Training-time defenses, importable as ``robustbench_snn.defenses``.

A defense is a *training objective*: ``objective(model, x, y) -> loss``
(a scalar to minimise for one batch). ``rbsnn train`` looks the objective up
by the model's registered ``defense`` name. Defenses whose mechanism lives in
the architecture rather than the loss (RSC's Poisson coding is the encoder of
``rsc-snn``) train with the standard objective.

Only the standard objective exists so far; the defense families of the
literature (MPS, SR, GNR, TTFS, adversarial training, QCFS) are issue 4.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from robustbench_snn.errors import UnknownNameError

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def standard_objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the model's logits (BPTT through all T steps)."""
    return F.cross_entropy(model(x), y)


#: defense name -> training objective
DEFENSES: dict[str, Objective] = {
    "none": standard_objective,
    "rsc": standard_objective,  # the defense is the Poisson encoder, trained through
}


def get_objective(defense: str) -> Objective:
    if defense not in DEFENSES:
        raise UnknownNameError("defense", defense, DEFENSES)
    return DEFENSES[defense]
