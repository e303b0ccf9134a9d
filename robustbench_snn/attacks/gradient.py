"""Input gradients of the attack loss, BPTT-aware and averaged over encoder draws.

Why our own: for an SNN the input gradient is a backward pass through all T
time steps of the membrane recurrence (BPTT) with the *attacker's* choice of
surrogate derivative (set on the model's neurons by the harness), and for a
stochastic encoder it must be an Expectation over Transformation (Athalye,
Carlini & Wagner, ICML 2018, "Obfuscated Gradients..."):

    ∇_x E_r[L(f(x; r), y)]  ≈  (1/N) Σ_{i=1..N} ∇_x L(f(x; r_i), y)

torchattacks and foolbox compute one draw per step (their EOT-PGD repeats
whole forward passes in a Python loop); we batch the N draws through the
model in as few passes as fit :data:`MAX_PASS_ELEMENTS`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.progress import tick
from .losses import cross_entropy


#: Input values per forward pass when stacking EOT copies. Stacking only pays
#: for small batches (survivor subsets of a few examples, where per-pass
#: overhead dominates): large passes are memory-bound. Measured on 2 CPU cores
#: (rsc-snn, EOT 10, 250 images, time per EOT gradient; benchmarks/eot_passes.py):
#: digits 0.54 s with 1 copy per pass vs 0.82 s with all 10; MNIST 7.9 s vs 25.9 s.
#: 2**15 values is 512 digits images or 41 MNIST images per pass.
MAX_PASS_ELEMENTS = 2**15


def copies_per_pass(input_values: int, eot: int, max_elements: int = MAX_PASS_ELEMENTS) -> int:
    """EOT copies of a batch of ``input_values`` values stacked into one pass (at least one)."""
    return max(1, min(eot, max_elements // max(1, input_values)))


@torch.inference_mode(False)
@torch.enable_grad()
def eot_loss_and_gradient(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    loss_fn,
    eot: int = 1,
    max_elements: int = MAX_PASS_ELEMENTS,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EOT averages of a per-example loss, its input gradient and the logits.

    ``x: [B, ...]``, ``labels: [B]`` or ``[B, k]``, ``loss_fn(logits, labels) -> [N]``.
    Returns ``(loss [B], grad [B, ...], logits [B, K])``, each the mean over
    ``eot`` encoder draws. A model with no autograd path from input to logits
    (a spike written as ``(v >= thr).float()``) gets a zero gradient, not an
    error: the evaluation flags it ``no-gradient`` and its black-box members
    still run. Each of the ``eot`` copies of ``x`` gets its own
    draw; copies are stacked into one pass while it holds at most
    ``max_elements`` input values (a fixed constant, so results do not
    depend on the machine). Autograd is on inside whatever the caller's mode: under
    ``torch.no_grad()`` every attack would otherwise step along a zero gradient.
    """
    if eot < 1:
        raise ValueError(f"eot must be >= 1, got {eot}")
    tick()  # one gradient step of whichever attack asked
    x = x.detach().requires_grad_(True)
    B = len(x)
    copies = copies_per_pass(x.numel(), eot, max_elements)
    loss_total = torch.zeros(B, device=x.device)
    grad_total = torch.zeros_like(x)
    logits_total = None
    done = 0
    while done < eot:
        k = min(copies, eot - done)
        logits = model(x.repeat(k, *([1] * (x.dim() - 1))))  # [k*B, K]
        losses = loss_fn(logits, labels.repeat(k, *([1] * (labels.dim() - 1))))  # [k*B]
        # autograd.grad w.r.t. x only: the backward skips every weight gradient
        # (measured: a third of an SNN's backward time) and leaves param.grad alone
        if losses.requires_grad:  # else no autograd path from the input: the gradient is zero
            (grad,) = torch.autograd.grad(losses.sum() / eot, x, allow_unused=True)
            if grad is not None:
                grad_total += grad
        loss_total += losses.detach().view(k, B).sum(0)
        summed = logits.detach().view(k, B, -1).sum(0)
        logits_total = summed if logits_total is None else logits_total + summed
        done += k
    return loss_total / eot, grad_total, logits_total / eot


def eot_gradient(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eot: int = 1,
    max_elements: int = MAX_PASS_ELEMENTS,
) -> torch.Tensor:
    """``(1/eot) Σ_i ∇_x Σ_b CE(model(x)_b, y_b)``: the EOT gradient PGD and FGSM follow."""
    # the per-example losses are summed, so per-example gradients do not shrink with batch size
    return eot_loss_and_gradient(model, x, y, cross_entropy, eot, max_elements)[1]


def has_input_gradient(model: nn.Module, x: torch.Tensor) -> bool:
    """True when the logits have an autograd path back to the input ``x`` (the
    gradient may still be zero); False for spikes computed without one, such
    as ``(v >= thr).float()``."""
    x = x.detach().requires_grad_(True)
    with torch.inference_mode(False), torch.enable_grad():
        out = model(x)
        if not out.requires_grad:
            return False
        (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    return grad is not None
