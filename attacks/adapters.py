"""Run third-party attack libraries on our models.

torchattacks (Kim 2020) already implements PGD, Square, APGD...; we run
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

from .norms import NormBall
from .pgd import default_alpha


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
    try:
        import torchattacks
    except ImportError as e:  # pragma: no cover - exercised only on broken installs
        raise ImportError("torchattacks is not installed; run `make eval` or `pip install --no-deps torchattacks==3.5.1`") from e
    if ball.eps == 0:
        return x.detach().clone()
    alpha = default_alpha(ball.eps, steps) if alpha is None else alpha
    if ball.name == "linf":
        if eot > 1:
            atk = torchattacks.EOTPGD(model, eps=ball.eps, alpha=alpha, steps=steps, eot_iter=eot, random_start=random_start)
        else:
            atk = torchattacks.PGD(model, eps=ball.eps, alpha=alpha, steps=steps, random_start=random_start)
    elif ball.name == "l2":
        if eot > 1:
            raise ValueError("torchattacks has no EOT variant of PGDL2; use --attack pgd for L2 with --eot")
        atk = torchattacks.PGDL2(model, eps=ball.eps, alpha=alpha, steps=steps, random_start=random_start)
    else:
        raise ValueError(f"torchattacks PGD supports linf and l2, not {ball.name}")
    return atk(x, y).detach()


# batch-shaped draws from the global generator: the harness runs it on fixed, seeded blocks
torchattacks_pgd.batch_shaped_rng = True
