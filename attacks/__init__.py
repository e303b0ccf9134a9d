"""Attacks, importable as ``robustbench_snn.attacks``.

Every attack has the signature
``attack(model, x, y, ball, *, steps, alpha, random_start, eot) -> x_adv``
and is registered by name in :data:`ATTACKS` for ``rbsnn eval --attack``.
"""

from __future__ import annotations

from collections.abc import Callable

from robustbench_snn.errors import UnknownNameError

from .adapters import torchattacks_pgd
from .gradient import eot_gradient
from .norms import NORMS, L2Ball, LinfBall, NormBall, make_ball
from .pgd import default_alpha, fgsm, pgd

AttackFn = Callable[..., "object"]

#: name -> (function, one-line description)
ATTACKS: dict[str, tuple[AttackFn, str]] = {
    "fgsm": (fgsm, "FGSM, one BPTT gradient step of size eps (EOT-averaged)"),
    "pgd": (pgd, "PGD with random start, BPTT surrogate gradients, EOT over encoder draws"),
    "ta-pgd": (torchattacks_pgd, "torchattacks' PGD / PGDL2 / EOTPGD run on our model (cross-check)"),
}


def get_attack(name: str) -> AttackFn:
    if name not in ATTACKS:
        raise UnknownNameError("attack", name, ATTACKS)
    return ATTACKS[name][0]


__all__ = [
    "ATTACKS", "NORMS", "L2Ball", "LinfBall", "NormBall", "default_alpha", "eot_gradient", "fgsm", "get_attack",
    "make_ball", "pgd", "torchattacks_pgd",
]
