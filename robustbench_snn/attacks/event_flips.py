"""Attacks in the events threat model (:class:`~.norms.EventBall`): at most K
events added or removed on binary event frames.

* :func:`sparse_flip` -- gradient-guided greedy flipping, in the spirit of
  SpikeFool (Büchel et al., "Adversarial attacks on spiking convolutional
  neural networks for event-based vision", Front. Neurosci. 2022) and the
  sparse binary attack of PDSG-SDA (CVPR 2025): at each of ``steps``
  iterations the BPTT surrogate gradient ``g`` of the cross-entropy (EOT-averaged
  for stochastic models) gives the first-order loss change of flipping each
  cell, ``g * (1 - 2x)`` (adding an event where ``g > 0``, removing one where
  ``g < 0``); the ``ceil(K / steps)`` cells with the largest positive gain that
  were not flipped yet are flipped, until K are used. An example stops changing
  once it is misclassified (its EOT-mean logits).
* :func:`random_flip` -- K cells flipped uniformly at random (per-example
  streams): the baseline that shows what the gradient buys at the same K.

Why our own: torchattacks and foolbox have no L0 attack on binary tensors.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..core import streams
from .contract import attack
from .gradient import eot_loss_and_gradient
from .losses import cross_entropy
from .norms import NormBall, flipped
from .spec import one_per_batch, register_attack


#: Most sparse-flip iterations in the standard evaluation and its checks (one flip per iteration up to this).
MAX_FLIP_STEPS = 100


def event_flip_steps(budget: float) -> int:
    """Sparse-flip iterations for a budget of ``budget`` events in the standard evaluation
    and its masking checks: one event per iteration, at most :data:`MAX_FLIP_STEPS`."""
    return max(1, min(int(budget), MAX_FLIP_STEPS))


@register_attack("sparse-flip", "events threat model: gradient-guided greedy flips of at most K events (SpikeFool / SDA style)",
                 norms=("events",))
@attack
def sparse_flip(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: NormBall, steps: int = 10, eot: int = 1, **_: object,
) -> torch.Tensor:
    """Greedy gradient-guided flips (module docstring); returns binary ``x_adv`` with
    at most ``ball.eps`` cells changed."""
    budget = int(ball.eps)
    x = x.detach()
    x_adv = x.clone()
    per_step = math.ceil(budget / steps)
    used = torch.zeros(len(x), dtype=torch.long, device=x.device)
    done = torch.zeros_like(x, dtype=torch.bool).flatten(1)  # cells flipped so far (each at most once)
    for _ in range(steps):
        _, grad, logits = eot_loss_and_gradient(model, x_adv, y, cross_entropy, eot)
        active = (logits.argmax(1) == y) & (used < budget)
        if not active.any():
            break
        gain = (grad * (1 - 2 * x_adv)).flatten(1).masked_fill(done, -math.inf)
        top = gain.topk(per_step, dim=1)
        rank = torch.arange(per_step, device=x.device).expand_as(top.values)
        take = (top.values > 0) & (rank < (budget - used).unsqueeze(1)) & active.unsqueeze(1)
        chosen = torch.zeros_like(done).scatter_(1, top.indices, take)
        done |= chosen
        used += take.sum(1)
        x_adv = flipped(x_adv, chosen).detach()
    return x_adv


@register_attack("random-flip", "events threat model: K events flipped at random (the baseline of sparse-flip)",
                 norms=("events",), ticks=one_per_batch, follows_gradient=False)
@attack
def random_flip(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: NormBall, **_: object) -> torch.Tensor:
    """``ball.eps`` distinct cells per example flipped uniformly at random."""
    budget = min(int(ball.eps), x[0].numel())
    x = x.detach()
    scores = streams.uniform_like(x, 0.0, 1.0).flatten(1)
    return flipped(x, torch.zeros_like(scores, dtype=torch.bool).scatter_(1, scores.topk(budget, dim=1).indices, True))
