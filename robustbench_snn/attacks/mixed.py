"""Mixed surrogate-gradient estimators in one attack (MDSE-style).

White-box success against an SNN depends strongly on which surrogate
derivative the attacker backpropagates through, and the best one differs
between models and even between examples. Following the idea of mixing
several spike-gradient estimators in a single attack (arXiv 2209.03358,
"mixed dynamic spiking estimation"), each PGD step here follows the sum of
the per-example l1-normalised EOT gradients under several estimators --
BPTT with surrogates of different families and widths, and the rate-based
RGA estimator -- so a direction that any of them sees is followed:

    g = Σ_e  ∇_e L / ||∇_e L||_1
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ..interop.foreign_neurons import attack_surrogate, gradient_mode
from .contract import attack
from .gradient import eot_gradient
from .norms import NormBall
from .pgd import pgd
from .spec import register_attack

#: (gradient mode, surrogate) pairs mixed by default.
ESTIMATORS: tuple[tuple[str, str], ...] = (
    ("bptt", "atan:1"), ("bptt", "atan:0.25"), ("bptt", "triangle:0.5"), ("bptt", "sigmoid:2"), ("rga", "atan:1"),
)


def _normalised(g: torch.Tensor) -> torch.Tensor:
    return g / (g.flatten(1).abs().sum(1).view(-1, *([1] * (g.dim() - 1))) + 1e-12)


def mixed_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eot: int = 1, estimators=ESTIMATORS) -> torch.Tensor:
    """Sum of per-example l1-normalised EOT gradients under each estimator."""
    total = torch.zeros_like(x)
    for mode, surrogate in estimators:
        with attack_surrogate(model, surrogate), gradient_mode(model, mode):
            total += _normalised(eot_gradient(model, x, y, eot))
    return total


@register_attack("mixed-pgd", "PGD following mixed surrogate / RGA gradient estimators (MDSE-style)",
                 ticks=lambda steps, eot: steps * len(ESTIMATORS))
@attack
def mixed_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: NormBall, **kwargs) -> torch.Tensor:
    """PGD following :func:`mixed_gradient`."""
    return pgd(model, x, y, ball, grad_fn=partial(mixed_gradient, estimators=ESTIMATORS), **kwargs)
