"""Run third-party attack libraries on our models.

torchattacks (Kim 2020) and foolbox (Rauber et al., JOSS 2020) already
implement PGD, Square, APGD...; we run
them unchanged on our SNNs through thin adapters rather than rewriting
them. Our models are already plain
``nn.Module``s mapping ``[B, C, H, W]`` in [0, 1] to logits, and their neurons
keep no state across forward passes, so the adapter only has to (1) put the
model in eval mode with the requested surrogate and (2) build the library's
attack object with our parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.errors import UserInputError
from .contract import attack
from .norms import NormBall
from .pgd import default_alpha
from .spec import ATTACKS, AttackSpec, one_per_batch, register_attack

#: A library attack runs its own loop (no ticks we can see) and draws batch-shaped numbers
#: from torch's global generator: the harness runs it on fixed, separately seeded blocks.
LIBRARY = {"ticks": one_per_batch, "randomness": "global"}


def _library_step(name: str, ball: NormBall, eot: int, steps: int, alpha: float | None) -> float:
    """The step size the library PGD registered as ``name`` runs with (:func:`default_alpha`
    unless given), after its spec's EOT check."""
    ATTACKS[name].check_eot(ball.name, eot, name)
    return default_alpha(ball.eps, steps) if alpha is None else alpha


@register_attack("ta-pgd", "torchattacks' PGD / PGDL2 / EOTPGD run on our model (cross-check)",
                 **LIBRARY, eot_limit={"l2": 1})  # EOTPGD is Linf only
@attack
def torchattacks_pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    ball: NormBall,
    steps: int = 10,
    alpha: float | None = None,
    random_start: bool = True,
    eot: int = 1,
) -> torch.Tensor:
    """torchattacks' PGD / PGDL2 (EOTPGD when ``eot > 1``, Linf only)."""
    import torchattacks  # heavy: 0.9 s to import, paid only by the attacks that run it

    alpha = _library_step("ta-pgd", ball, eot, steps, alpha)
    if ball.name == "linf":
        if eot > 1:
            atk = torchattacks.EOTPGD(model, eps=ball.eps, alpha=alpha, steps=steps, eot_iter=eot, random_start=random_start)
        else:
            atk = torchattacks.PGD(model, eps=ball.eps, alpha=alpha, steps=steps, random_start=random_start)
    elif ball.name == "l2":
        atk = torchattacks.PGDL2(model, eps=ball.eps, alpha=alpha, steps=steps, random_start=random_start)
    else:
        raise ValueError(f"torchattacks PGD supports linf and l2, not {ball.name}")
    return atk(x, y).detach()


@register_attack("fb-pgd", "foolbox's LinfPGD / L2PGD with our step size, one draw per step (cross-check)",
                 **LIBRARY, eot_limit={"linf": 1, "l2": 1})  # its random start draws from torch's global generator
@attack
def foolbox_pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    ball: NormBall,
    steps: int = 10,
    alpha: float | None = None,
    random_start: bool = True,
    eot: int = 1,
    **_: object,
) -> torch.Tensor:
    """foolbox's LinfPGD / L2PGD with our step size, steps and random start.

    foolbox's default step is relative, ``0.01 / 0.3 * eps`` per step: with our 10
    steps a perturbation reaches a third of the ball (it scored 96.33 / 91.40 where
    torchattacks and our PGD gave 91.6 / 49.6), so ``alpha`` (:func:`default_alpha`
    unless given) is passed as ``abs_stepsize``. One encoder draw per step.
    """

    import foolbox as fb  # heavy: 0.8 s to import, paid only by the cross-check attacks

    alpha = _library_step("fb-pgd", ball, eot, steps, alpha)
    cls = {"linf": fb.attacks.LinfPGD, "l2": fb.attacks.L2PGD}[ball.name]
    attack = cls(steps=steps, abs_stepsize=alpha, random_start=random_start)
    _, clipped, _ = attack(fb.PyTorchModel(model.eval(), bounds=(0, 1)), x, y, epsilons=ball.eps)
    return ball.project(clipped.detach(), x)  # float rounding can leave the ball by ~1e-7


def foolbox_attack(name: str) -> AttackSpec:
    """A foolbox 3 attack by class name as one of ours (a spec to pass to the harness, or to
    call): ``'LinfPGD'`` / ``'L2PGD'`` are :func:`foolbox_pgd` (our step size and steps);
    any other (``'BoundaryAttack'``, ...) runs with foolbox's own defaults on the given ball."""
    if name in ("LinfPGD", "L2PGD"):
        norm = name[: -len("PGD")].lower()

        def pgd_in_its_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: NormBall, **kw: object) -> torch.Tensor:
            if ball.name != norm:
                raise UserInputError(f"foolbox's {name} attacks the {norm} ball, got a {ball.name} ball")
            return foolbox_pgd(model, x, y, ball, **kw)

        pgd_in_its_norm.__doc__ = f"foolbox's {name} (:func:`foolbox_pgd`)"
        return AttackSpec(pgd_in_its_norm, **LIBRARY)

    @attack
    def run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: NormBall, **_: object) -> torch.Tensor:
        import foolbox as fb  # heavy: 0.8 s to import, paid only by the cross-check attacks

        _, clipped, _ = getattr(fb.attacks, name)()(fb.PyTorchModel(model.eval(), bounds=(0, 1)), x, y, epsilons=ball.eps)
        return ball.project(clipped.detach(), x)

    run.__doc__ = f"foolbox's {name}"
    return AttackSpec(run, **LIBRARY)
