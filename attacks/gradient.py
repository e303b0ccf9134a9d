"""Input gradients of the attack loss, BPTT-aware and averaged over encoder draws.

Why our own: for an SNN the input gradient is a backward pass through all T
time steps of the membrane recurrence (BPTT) with the *attacker's* choice of
surrogate derivative (set on the model's neurons by the harness), and for a
stochastic encoder it must be an Expectation over Transformation (Athalye,
Carlini & Wagner, ICML 2018, "Obfuscated Gradients..."):

    ∇_x E_r[L(f(x; r), y)]  ≈  (1/N) Σ_{i=1..N} ∇_x L(f(x; r_i), y)

torchattacks and foolbox compute one draw per step (their EOT-PGD repeats
whole forward passes in a Python loop); we batch the N draws through the
model at once, capped at ``max_batch`` examples per pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def cross_entropy_sum(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Summed (not averaged) CE, so per-example gradients do not shrink with batch size."""
    return F.cross_entropy(logits, y, reduction="sum")


def eot_gradient(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eot: int = 1,
    loss_fn=cross_entropy_sum,
    max_batch: int = 2048,
) -> torch.Tensor:
    """``(1/eot) Σ_i ∇_x loss(model(x), y)`` over ``eot`` forward passes.

    ``x: [B, ...]``; returns a gradient of the same shape. Each of the
    ``eot`` copies of ``x`` gets its own encoder draw.
    """
    if eot < 1:
        raise ValueError(f"eot must be >= 1, got {eot}")
    x = x.detach().requires_grad_(True)
    copies_per_pass = max(1, min(eot, max_batch // max(1, len(x))))
    done = 0
    while done < eot:
        k = min(copies_per_pass, eot - done)
        logits = model(x.repeat(k, *([1] * (x.dim() - 1))))  # [k*B, K]
        loss = loss_fn(logits, y.repeat(k)) / eot
        loss.backward()
        done += k
    grad = x.grad.detach()
    return grad
