"""Stable Adaptive PGD (SA-PGD) and the ASSG + SA-PGD attack (``--attack assg``).

Wang, Zhao, Chen, Zhang & Zeng, "Towards reliable evaluation of adversarial
robustness for spiking neural networks", arXiv 2512.22522 (2025), Section 5
(repository craree/Towards-Reliable-Evaluation-..., ``attack.py``, ``ASSG_SAPGD``).
Under the Linf constraint, with ``g`` the EOT input gradient and ``mean`` over
an example's input values:

    m <- 0.5 m + g / mean|g|,        v <- 0.8 v + g² / mean(g²)      (first step: no decay)
    x <- Proj_{B_eps(x0) ∩ [0,1]} ( x + clip(η m / (sqrt(v) + 1e-12), -η, η) )

an L1-normalised momentum over an adaptive per-coordinate scale, each step
clipped to ``η``. ``η`` starts at ``eps`` and halves every ``k`` steps, ``k``
starting at ``0.22 N`` and shrinking by ``0.03 N`` down to ``0.06 N``. The start is
a random point of the ball scaled so its largest coordinate is at ``eps``.

Why our own: the authors' code is a torchattacks subclass around braincog
neurons with one EOT draw per pass; ours batches the EOT draws
(:func:`.gradient.eot_loss_and_gradient`), draws its start from the harness's
per-example streams, and returns, like our APGD, the first misclassified
iterate an example reached, else its highest-loss one (theirs returns the last
misclassified iterate, else the start).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..core import streams
from ..core.errors import UserInputError
from ..interop.foreign_neurons import find_neurons
from . import assg
from .apgd import _per_example, _where
from .assg import adaptive_sharpness
from .contract import attack
from .gradient import eot_loss_and_gradient
from .losses import LOSSES
from .norms import NormBall
from .spec import AttackSpec

#: Iterations of the paper's evaluation (``--attack assg``).
ASSG_STEPS = 100
MOMENTUM, SECOND_MOMENT = 0.5, 0.8


def halving_steps(steps: int) -> list[int]:
    """The iterations (1-based) after which SA-PGD halves its step size."""
    k, shrink, floor = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    marks, at = [], 0
    while at + k <= steps:
        at += k
        marks.append(at)
        k = max(k - shrink, floor)
    return marks


def _mean_abs(t: torch.Tensor) -> torch.Tensor:
    return _per_example(t.abs().flatten(1).mean(1), t)


def corner_start(x: torch.Tensor, eps: float) -> torch.Tensor:
    """``x + eps · t / max|t|`` for ``t`` uniform in ``[-1, 1]``, clipped to [0, 1]."""
    t = streams.uniform_like(x, -1.0, 1.0)  # the harness's per-example streams
    return (x + eps * t / _per_example(t.flatten(1).abs().amax(1), x)).clamp(0, 1)


@attack
def sapgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    ball: NormBall,
    steps: int = ASSG_STEPS,
    eot: int = 1,
    loss: str = "ce",
    before_gradient=lambda: None,
    **_: object,
) -> torch.Tensor:
    """SA-PGD (Linf); ``before_gradient()`` runs before each gradient evaluation."""
    if ball.name != "linf":
        raise UserInputError(f"SA-PGD attacks the linf ball (its steps are clipped per coordinate), got {ball.name}")
    loss_fn = LOSSES[loss]
    x = x.detach()
    x_adv = corner_start(x, ball.eps)

    def evaluate_at(point):
        before_gradient()
        return eot_loss_and_gradient(model, point, y, loss_fn, eot)

    f, grad, logits = evaluate_at(x_adv)
    found = logits.argmax(1) != y
    x_found, best_f, x_best = _where(found, x_adv, x), f.clone(), x_adv.clone()
    eta = ball.eps
    marks = set(halving_steps(steps))
    m, v = torch.zeros_like(x), torch.zeros_like(x)  # the first step is then the scaled gradient itself
    for i in range(steps):
        m = MOMENTUM * m + grad / (_mean_abs(grad) + 1e-30)
        v = SECOND_MOMENT * v + grad**2 / (_mean_abs(grad**2) + 1e-30)
        x_adv = ball.project(x_adv + (eta * m / (v.sqrt() + 1e-12)).clamp(-eta, eta), x)
        f, grad, logits = evaluate_at(x_adv)
        new = (logits.argmax(1) != y) & ~found
        x_found, found = _where(new, x_adv, x_found), found | new
        better = f > best_f
        best_f, x_best = torch.where(better, f, best_f), _where(better, x_adv, x_best)
        if i + 1 in marks:
            eta /= 2
    return _where(found, x_found, x_best).detach()


def assg_sapgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: NormBall, steps: int = ASSG_STEPS, eot: int = 1, **_: object) -> torch.Tensor:
    """SA-PGD on cross-entropy through the ASSG surrogate (:mod:`robustbench_snn.attacks.assg`) on
    every recognised spiking neuron; a model without one keeps its own gradient."""

    with adaptive_sharpness(model, len(x)) as state:
        return sapgd(model, x, y, ball, steps, eot, before_gradient=state.next_iteration if state else lambda: None)


#: ASSG + SA-PGD as an evaluation's attack (the ``assg`` peer and the standard ensemble's member).
ASSG = AttackSpec(assg_sapgd, norms=("linf",))


def assg_config(cfg):
    """``cfg`` (a :class:`~robustbench_snn.evaluation.harness.AttackConfig`) with ASSG + SA-PGD's budget."""

    return dataclasses.replace(cfg, steps=ASSG_STEPS, alpha=None)


def assg_params(model: nn.Module, eot: int) -> dict:
    """What :func:`assg_sapgd` runs with on ``model``, as a row's ``params`` records it."""

    surrogate = "assg(atan)" if find_neurons(model) else "the model's own gradient (no recognised spiking neurons)"
    return {
        "steps": ASSG_STEPS, "loss": "ce", "eot": eot, "surrogate": surrogate, "vanishing_bound": assg.VANISHING_BOUND,
        "relax": assg.RELAX, "beta_1": assg.BETA_1, "beta_2": assg.BETA_2, "momentum": MOMENTUM, "second_moment": SECOND_MOMENT,
    }
