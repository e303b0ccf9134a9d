"""FGSM and PGD (Linf / L2) through BPTT with EOT.

Projected gradient descent on the loss, Madry et al. (ICLR 2018) eq. (2):

    x^{k+1} = Proj_{B_eps(x) ∩ [0,1]} ( x^k + alpha * step_p(∇_x L(x^k)) )

with ``step_inf = sign`` and ``step_2 = g/||g||_2`` (see :mod:`.norms`) and
the EOT gradient of :mod:`.gradient`. FGSM (Goodfellow et al., ICLR 2015) is
the one-step case from the clean input with ``alpha = eps``.
"""

from __future__ import annotations

import torch
from torch import nn

from .contract import attack
from .gradient import eot_gradient
from .norms import NormBall
from .spec import register_attack


def default_alpha(eps: float, steps: int) -> float:
    """PGD step size ``2.5 * eps / steps`` (Madry et al.'s rule): enough to cross
    the ball and back within the step budget."""
    return 2.5 * eps / steps


@register_attack("pgd", "PGD with random start, BPTT surrogate gradients, EOT over encoder draws")
@attack
def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    ball: NormBall,
    steps: int = 10,
    alpha: float | None = None,
    random_start: bool = True,
    eot: int = 1,
    grad_fn=eot_gradient,
) -> torch.Tensor:
    """Untargeted PGD; returns ``x_adv`` in ``ball`` around ``x`` and in [0, 1].

    ``alpha`` defaults to :func:`default_alpha`; ``grad_fn(model, x, y, eot)``
    is the gradient estimator (EOT-averaged BPTT by default).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    alpha = default_alpha(ball.eps, steps) if alpha is None else alpha
    x = x.detach()
    x_adv = ball.random_start(x) if random_start else x.clone()
    for _ in range(steps):
        grad = grad_fn(model, x_adv, y, eot)
        x_adv = ball.project(ball.step(x_adv, grad, alpha), x).detach()
    return x_adv


def fgsm_records(cfg, surrogate: str, seed: int) -> dict:
    """FGSM's parameters: one step of size eps."""
    return {"eot": cfg.eot, "grad": cfg.grad, "surrogate": surrogate, "steps": 1, "alpha": round(cfg.eps, 6)}


@register_attack("fgsm", "FGSM, one BPTT gradient step of size eps (EOT-averaged)", ticks=lambda steps, eot: 1, records=fgsm_records)
@attack
def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: NormBall, eot: int = 1, **_: object) -> torch.Tensor:
    """One gradient step of size eps from the clean input."""
    return pgd(model, x, y, ball, steps=1, alpha=ball.eps, random_start=False, eot=eot)
