"""Gaussian data augmentation for randomized smoothing.

Cohen, Rosenfeld & Kolter, "Certified Adversarial Robustness via Randomized
Smoothing" (ICML 2019), Sec. 3.4: the base classifier of a smoothed
classifier ``g(x) = argmax_c P(f(x + delta) = c)``, ``delta ~ N(0, sigma^2 I)``,
is trained on noisy inputs, ``min E_delta CE(f(x + delta), y)``, with the
same sigma that certification uses; without it ``f`` is rarely right under
noise and ``g`` abstains. Noise is not clipped to [0, 1] (as in the paper),
so the direct-coded SNN receives the noisy analog current.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .base import Defense, register_defense


@register_defense("gaussian")
@dataclasses.dataclass
class GaussianAugmentation(Defense):
    """Cross-entropy on ``x + N(0, sigma^2 I)``."""

    paper = "Cohen, Rosenfeld & Kolter, Certified Adversarial Robustness via Randomized Smoothing, ICML 2019"
    sigma: float = 0.25

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(x + self.sigma * torch.randn_like(x)), y)
