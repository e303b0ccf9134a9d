"""Transfer attacks: adversarial examples crafted on a *source* model, then
scored on the target (Papernot et al. 2016; for SNNs, Sharmin et al. 2019
showed ANN->SNN transfer is a strong black-box baseline). The target's
gradients are never used, so masking in the target cannot hide it.
"""

from __future__ import annotations

from torch import nn

from .norms import NormBall
from .pgd import pgd
from .spec import AttackSpec


def transfer_from(source: nn.Module, source_eot: int = 1, craft=pgd) -> AttackSpec:
    """An attack that runs ``craft`` (PGD; ``sparse_flip`` under the events threat model)
    on ``source``, ignoring the attacked model's gradients; one tick per step on the source."""

    def attack(model: nn.Module, x, y, ball: NormBall, steps: int = 10, alpha=None, random_start: bool = True, **_: object):
        return craft(source, x, y, ball, steps=steps, alpha=alpha, random_start=random_start, eot=source_eot)

    return AttackSpec(attack, follows_gradient=False)
