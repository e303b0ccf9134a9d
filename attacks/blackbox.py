"""Black-box attacks through library implementations: Square (score-based)
and foolbox's attacks, on a view of the model that exposes only scores.

Square (Andriushchenko et al., ECCV 2020) needs no gradient, so surrogate
choice, spike non-differentiability and vanishing gradients cannot hide a
weak model from it: AutoAttack includes it for exactly this reason. We run
torchattacks' implementation unchanged on :class:`ScoreOnly`, which answers
each query with the log of the class probabilities averaged over
``draws`` encoder draws (the quantity a user of a stochastic SNN sees) and
computes it under ``torch.no_grad`` -- it cannot leak a gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from .norms import NormBall


class ScoreOnly(nn.Module):
    """``x -> log(mean_{draws} softmax(model(x)))``, no gradient: what a score-based attacker sees."""

    def __init__(self, model: nn.Module, draws: int = 1) -> None:
        super().__init__()
        self.model = model
        self.draws = draws

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = sum(self.model(x).softmax(1) for _ in range(self.draws)) / self.draws
        return probs.clamp_min(1e-12).log()


#: Queries per example of the Square attack (AutoAttack uses 5,000; see README for the budget choice).
SQUARE_QUERIES = 1000


def square(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    ball: NormBall,
    eot: int = 1,
    queries: int = SQUARE_QUERIES,
    seed: int = 0,
    **_: object,
) -> torch.Tensor:
    """torchattacks' Square attack (Linf or L2, margin loss) on the score-only view;
    ``eot`` encoder draws are averaged per query."""
    import torchattacks

    if ball.eps == 0:
        return x.detach().clone()
    norm = {"linf": "Linf", "l2": "L2"}[ball.name]
    atk = torchattacks.Square(ScoreOnly(model, eot).eval(), norm=norm, eps=ball.eps, n_queries=queries, seed=seed)
    return ball.project(atk(x, y).detach(), x)  # float rounding can leave the ball by ~1e-7


def foolbox_attack(name: str):
    """A foolbox 3 attack (``'LinfPGD'``, ``'L2PGD'``, ``'BoundaryAttack'``, ...) as one of ours."""

    def run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: NormBall, steps: int = 10, **_: object) -> torch.Tensor:
        import foolbox as fb

        if ball.eps == 0:
            return x.detach().clone()
        fmodel = fb.PyTorchModel(model.eval(), bounds=(0, 1))
        cls = getattr(fb.attacks, name)
        attack = cls(steps=steps) if "PGD" in name else cls()
        _, clipped, _ = attack(fmodel, x, y, epsilons=ball.eps)
        return ball.project(clipped.detach(), x)

    run.__doc__ = f"foolbox's {name}"
    return run
