"""Input-gradient-norm regularisation (GNR).

The l1-norm-of-the-input-gradient defense proposed for NR-IQA models
(Liu et al., "Defense Against Adversarial Attacks on No-Reference Image
Quality Models with Gradient Norm Regularization", CVPR 2024), here on
the classification loss, as double backpropagation (Drucker & LeCun 1992;
Ross & Doshi-Velez 2018) through BPTT:

    L = CE(f(x), y) + λ · mean_b ||∇_x CE(f(x_b), y_b)||_1

The inner gradient is taken with ``create_graph=True``; the spike function's
surrogate backward is itself differentiable
(:mod:`robustbench_snn.core.surrogate`), so the outer backward runs through it.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .base import Defense, register_defense


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, ∇_x Σ_b CE_b)``; the summed loss makes row b the gradient of example b's own loss."""
    x_req = x.detach().requires_grad_(True)
    logits = model(x_req)
    (g,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x_req, create_graph=create_graph)
    return logits, g


@register_defense("gnr")
@dataclasses.dataclass
class InputGradientNorm(Defense):
    """Cross-entropy plus λ times the mean per-example l1 norm of ∇_x CE (double backprop)."""

    paper = "Liu et al., Gradient Norm Regularization (CVPR 2024), on the classification loss"
    lam: float = 0.05

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits, g = input_gradient(model, x, y, create_graph=True)
        return F.cross_entropy(logits, y) + self.lam * g.flatten(1).abs().sum(1).mean()
