"""Gradient sparsity regularisation (SR).

Liu, Zhao, Ding, Yu & Huang, "Enhancing Adversarial Robustness in SNNs with
Sparse Gradients" (ICML 2024). The gap between an SNN's adversarial and
random-perturbation vulnerability is bounded by the sparsity of the input
gradient of the true-class probability ``ρ_y(x) = softmax(f(x))_y``; SR
trains with ``CE + λ ||∇_x ρ_y(x)||_1``. The l1 norm is the directional
derivative along ``d = sign(∇_x ρ_y)``, so the paper approximates it by a
finite difference that needs no double backprop:

    ||∇_x ρ_y(x)||_1  ≈  (ρ_y(x + h d) - ρ_y(x)) / h,   d = sign(∇_x ρ_y(x)) (detached)
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .base import Defense, register_defense


def true_class_probability(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``ρ_y = softmax(logits)_y``: ``[B]``."""
    return logits.softmax(1).gather(1, y[:, None]).squeeze(1)


def finite_difference_l1(model: nn.Module, x: torch.Tensor, y: torch.Tensor, h: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits at x, per-example (ρ_y(x + h d) - ρ_y(x)) / h)``; differentiable in the weights."""
    x_req = x.detach().requires_grad_(True)
    logits = model(x_req)
    rho = true_class_probability(logits, y)
    (g,) = torch.autograd.grad(rho.sum(), x_req, retain_graph=True)
    rho_step = true_class_probability(model(x.detach() + h * g.sign()), y)
    return logits, (rho_step - rho) / h


@register_defense("sr")
@dataclasses.dataclass
class SparseGradient(Defense):
    """Cross-entropy plus λ times the finite-difference l1 input-gradient norm."""

    paper = "Liu et al., Enhancing Adversarial Robustness in SNNs with Sparse Gradients, ICML 2024"
    lam: float = 0.05
    h: float = 0.01

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits, l1 = finite_difference_l1(model, x, y, self.h)
        return F.cross_entropy(logits, y) + self.lam * l1.mean()
