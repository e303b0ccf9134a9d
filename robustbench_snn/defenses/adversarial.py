"""Adversarial training through BPTT, plain (Madry) and regularised (SNN-RAT).

* ``pgd-at``: Madry et al., "Towards Deep Learning Models Resistant to
  Adversarial Attacks" (ICLR 2018), eq. (2.1):
  ``min_θ E[max_{||δ||_∞ <= eps} CE(f(x + δ), y)]``, the inner max by our
  BPTT-aware PGD (:func:`robustbench_snn.attacks.pgd`, surrogate gradients
  through all T steps, ``steps`` iterations with a random start).
* ``rat``: Ding, Bu, Yu, Huang & Liu, "SNN-RAT: Robustness-enhanced Spiking
  Neural Network through Regularized Adversarial Training" (NeurIPS 2022):
  the same adversarial loss, plus after every optimizer step the
  orthogonality (Parseval) retraction of each conv/linear weight, viewed as
  a matrix ``W`` with one row per output unit,

      W <- (1 + β) W - β W Wᵀ W

  (Cisse et al., "Parseval Networks", ICML 2017, eq. 5), which keeps each
  layer's Lipschitz constant near 1 so a perturbation cannot grow through
  the spiking layers. Reference setting: eps 2/255 with 2 steps, β = 5e-4.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks.norms import LinfBall
from ..attacks.pgd import pgd
from .base import Defense, register_defense


@register_defense("pgd-at")
@dataclasses.dataclass
class AdversarialTraining(Defense):
    """Cross-entropy on PGD adversarial examples (Linf, random start, ``steps`` BPTT steps)."""

    paper = "Madry et al., ICLR 2018 (PGD adversarial training), through BPTT"
    eps: float = 0.1
    steps: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.eps <= 1:
            raise ValueError(f"eps must be in [0, 1] (inputs are in [0, 1]), got {self.eps:g}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # the attack differentiates the input only (torch.autograd.grad), so the weights' .grad is untouched
        # (tests/test_apgd_and_estimators.py: test_eot_gradient_leaves_parameter_gradients_alone)
        x_adv = pgd(model, x, y, LinfBall(self.eps), steps=self.steps)
        return F.cross_entropy(model(x_adv), y)


@torch.no_grad()
def parseval_retraction(model: nn.Module, beta: float) -> None:
    """``W <- (1 + β) W - β W Wᵀ W`` for every Conv2d / Linear weight of ``model`` (in place)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight.view(m.weight.shape[0], -1)
            w.copy_((1 + beta) * w - beta * (w @ w.t() @ w))


def orthogonality_gap(model: nn.Module) -> float:
    """``Σ_layers ||W Wᵀ - I||_F²`` -- what the retraction drives down (for tests and logs)."""
    total = 0.0
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight.detach().view(m.weight.shape[0], -1)
            total += (w @ w.t() - torch.eye(w.shape[0])).pow(2).sum().item()
    return total


@register_defense("rat")
@dataclasses.dataclass
class RegularizedAdversarialTraining(AdversarialTraining):
    """PGD adversarial training plus SNN-RAT's orthogonality retraction after every step."""

    paper = "Ding et al., SNN-RAT, NeurIPS 2022 (adversarial training + Parseval orthogonality)"
    beta: float = 5e-4

    def after_step(self, model: nn.Module) -> None:
        parseval_retraction(model, self.beta)
