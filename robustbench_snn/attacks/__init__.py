"""Attacks, importable as ``robustbench_snn.attacks``.

Every attack has the signature
``attack(model, x, y, ball, *, steps, alpha, random_start, eot) -> x_adv``
(:mod:`.contract`, which also handles the empty ball once for all) and is
registered by name in :data:`ATTACKS` for ``rbsnn eval --attack``.
"""

from __future__ import annotations

from ..core.errors import UserInputError
from ..core.registry import Registry
from .adapters import check_eot, foolbox_pgd, torchattacks_pgd
from .apgd import apgd, apgd_ce, apgd_dlr, apgd_targeted
from .blackbox import square, square_queries
from .contract import AttackFn, attack
from .events import random_flip, sparse_flip
from .gradient import eot_gradient
from .mixed import ESTIMATORS, mixed_pgd
from .norms import EventBall, L2Ball, LinfBall, NORMS, NormBall, make_ball
from .pgd import default_alpha, fgsm, pgd

#: name -> attack function, with its one-line description (``rbsnn list``)
ATTACKS: Registry[AttackFn] = Registry("attack")
ATTACKS.register_all((
    ("fgsm", fgsm, "FGSM, one BPTT gradient step of size eps (EOT-averaged)"),
    ("pgd", pgd, "PGD with random start, BPTT surrogate gradients, EOT over encoder draws"),
    ("apgd-ce", apgd_ce, "APGD (Croce & Hein 2020) on cross-entropy: step-size schedule, momentum, EOT loss and gradient"),
    ("apgd-dlr", apgd_dlr, "APGD on the scale-invariant DLR loss"),
    ("apgd-t", apgd_targeted, "APGD-T: targeted DLR towards the 3 top wrong classes"),
    ("square", square, "Square (score-based black box; torchattacks) on probabilities averaged over encoder draws"),
    ("mixed-pgd", mixed_pgd, "PGD following mixed surrogate / RGA gradient estimators (MDSE-style)"),
    ("ta-pgd", torchattacks_pgd, "torchattacks' PGD / PGDL2 / EOTPGD run on our model (cross-check)"),
    ("fb-pgd", foolbox_pgd, "foolbox's LinfPGD / L2PGD with our step size, one draw per step (cross-check)"),
    ("sparse-flip", sparse_flip, "events threat model: gradient-guided greedy flips of at most K events (SpikeFool / SDA style)"),
    ("random-flip", random_flip, "events threat model: K events flipped at random (the baseline of sparse-flip)"),
))
#: Threat models an attack runs in when it does not say (``attack.norms``).
PIXEL_NORMS = ("linf", "l2")


def attack_norms(attack: AttackFn) -> tuple[str, ...]:
    return getattr(attack, "norms", PIXEL_NORMS)


def check_norm(name: str, norm: str) -> None:
    """Refuse an attack outside its threat models (``--norm events`` takes only the event attacks)."""
    valid = attack_norms(get_attack(name))
    if norm not in valid:
        fits = [a for a, fn in ATTACKS.items() if norm in attack_norms(fn)]
        raise UserInputError(f"attack {name!r} does not run under --norm {norm}; it takes {', '.join(valid)}. Under {norm}: {', '.join(fits)}")


def get_attack(name: str) -> AttackFn:
    return ATTACKS[name]


def expected_ticks(attack: str, steps: int, eot: int) -> int:
    """Ticks one batch of ``attack`` makes at most (early stops make fewer): its gradient
    steps, or its score queries for Square."""
    if attack == "square":
        return square_queries(eot)[0] + 3  # torchattacks: its queries plus three checks (measured)
    per_run = {"fgsm": 1, "pgd": steps, "mixed-pgd": steps * len(ESTIMATORS), "apgd-ce": steps + 1, "apgd-dlr": steps + 1,
               "apgd-t": 3 * (steps + 1), "sparse-flip": steps}
    return per_run.get(attack, 1)  # ta-pgd (torchattacks' own loop), random-flip: one tick per batch


__all__ = [
    "ATTACKS", "AttackFn", "expected_ticks", "NORMS", "EventBall", "apgd", "attack", "attack_norms", "check_norm", "random_flip", "sparse_flip", "check_eot", "foolbox_pgd", "apgd_targeted", "L2Ball", "LinfBall", "NormBall", "default_alpha", "eot_gradient", "fgsm", "get_attack",
    "make_ball", "pgd", "torchattacks_pgd",
]
