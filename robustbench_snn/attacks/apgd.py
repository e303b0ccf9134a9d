"""Auto-PGD (APGD), Croce & Hein, ICML 2020 ("Reliable evaluation of
adversarial robustness with an ensemble of diverse parameter-free attacks"),
Algorithm 1, through BPTT surrogate gradients and EOT.

Why our own and not torchattacks' APGD: APGD's step-size schedule and
best-point tracking read the *loss value* at every iterate; for a
stochastic encoder that value must be the EOT average over the same draws
as the gradient (one draw is noise the schedule would chase), and the EOT
copies must be batched to be affordable on a CPU. Both come from
:func:`.gradient.eot_loss_and_gradient`; torchattacks' APGD has a single
``eot_iter`` loop of full passes. A test checks ours is at least as strong
as PGD with the same budget.

Per example, with ``η`` starting at ``2·eps`` and momentum ``α = 0.75``:

    z      = P(x_k + η · step(∇L(x_k)))
    x_{k+1} = P(x_k + α (z − x_k) + (1 − α)(x_k − x_{k−1}))

At checkpoints ``w_j = ceil(p_j N)`` (``p_0 = 0, p_1 = 0.22,
p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)``) the step size halves, and
the iterate restarts from the best point so far, if fewer than ``ρ = 0.75``
of the steps since the last checkpoint increased the loss, or if neither
``η`` nor the best loss changed since then.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .contract import attack
from .gradient import eot_loss_and_gradient
from .losses import LOSSES
from .norms import NormBall
from .spec import register_attack


def apgd_ticks(steps: int, eot: int) -> int:
    """Gradients of one APGD run: its first point, then one per step."""
    return steps + 1


def apgd_records(cfg, surrogate: str, seed: int) -> dict:
    """APGD's parameters: its step size follows its own schedule, so none is recorded."""
    return {"eot": cfg.eot, "grad": cfg.grad, "surrogate": surrogate, "steps": cfg.steps}


APGD_SPEC = {"ticks": apgd_ticks, "records": apgd_records}

RHO = 0.75
MOMENTUM = 0.75


def checkpoints(steps: int) -> list[int]:
    """The iterations ``w_j`` at which APGD may halve its step size."""
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    return sorted({math.ceil(q * steps - 1e-9) for q in p[1:] if q <= 1})  # 1e-9: 0.57 * 100 is 57.000000000000007


def _per_example(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.view(-1, *([1] * (like.dim() - 1)))


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(_per_example(mask, a), a, b)


def apgd_run(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    ball: NormBall,
    steps: int,
    loss: str = "ce",
    target: torch.Tensor | None = None,
    eot: int = 1,
    start: torch.Tensor | None = None,
) -> torch.Tensor:
    """One APGD run from a random start (or from ``start``, projected into the ball);
    returns, per example, the first misclassified iterate found, else the highest-loss one."""
    loss_fn = LOSSES[loss]
    labels = y if target is None else torch.stack([y, target], 1)
    x = x.detach()
    x_adv = ball.random_start(x) if start is None else ball.project(start.detach().to(x), x)
    f, grad, logits = eot_loss_and_gradient(model, x_adv, labels, loss_fn, eot)
    eta = torch.full((len(x),), 2.0 * ball.eps, device=x.device)
    best_f, x_best, grad_best = f.clone(), x_adv.clone(), grad.clone()
    found = logits.argmax(1) != y
    x_found = _where(found, x_adv, x)
    x_prev, f_prev = x_adv.clone(), f.clone()
    marks = checkpoints(steps)
    last_mark, n_up = 0, torch.zeros(len(x), device=x.device)
    eta_at_mark, best_at_mark = eta.clone(), best_f.clone()
    for k in range(steps):
        z = ball.project(ball.step(x_adv, grad, _per_example(eta, x)), x)
        a = 1.0 if k == 0 else MOMENTUM
        x_next = ball.project(x_adv + a * (z - x_adv) + (1 - a) * (x_adv - x_prev), x)
        x_prev, x_adv = x_adv, x_next
        f, grad, logits = eot_loss_and_gradient(model, x_adv, labels, loss_fn, eot)
        new = (logits.argmax(1) != y) & ~found
        x_found, found = _where(new, x_adv, x_found), found | new
        n_up += (f > f_prev).float()
        f_prev = f
        better = f > best_f
        best_f = torch.where(better, f, best_f)
        x_best, grad_best = _where(better, x_adv, x_best), _where(better, grad, grad_best)
        if k + 1 in marks:
            stalled = n_up < RHO * (k + 1 - last_mark)
            stuck = (eta == eta_at_mark) & (best_f == best_at_mark)
            halve = stalled | stuck
            eta = torch.where(halve, eta / 2, eta)
            x_adv, grad = _where(halve, x_best, x_adv), _where(halve, grad_best, grad)
            f_prev = torch.where(halve, best_f, f_prev)
            last_mark, n_up = k + 1, torch.zeros_like(n_up)
            eta_at_mark, best_at_mark = eta.clone(), best_f.clone()
    return _where(found, x_found, x_best).detach()


def _until_all_fooled(model, y, x_adv, fooled, runs):
    """Call each of ``runs`` in turn until every example is fooled; keep a new
    point only where it fools the model and the current one does not."""
    for run in runs:
        if fooled.all():
            break
        x_new = run()
        with torch.no_grad():
            take = (model(x_new).argmax(1) != y) & ~fooled
        x_adv, fooled = _where(take, x_new, x_adv), fooled | take
    return x_adv


@attack
def apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    ball: NormBall,
    steps: int = 10,
    eot: int = 1,
    loss: str = "ce",
    restarts: int = 1,
    **_: object,
) -> torch.Tensor:
    """Untargeted APGD with ``loss`` (``ce`` or ``dlr``) and ``restarts`` random restarts."""
    x_adv = apgd_run(model, x, y, ball, steps, loss, eot=eot)
    with torch.no_grad():
        fooled = model(x_adv).argmax(1) != y
    restarts_left = (lambda: apgd_run(model, x, y, ball, steps, loss, eot=eot) for _ in range(restarts - 1))
    return _until_all_fooled(model, y, x_adv, fooled, restarts_left)


@register_attack("apgd-t", "APGD-T: targeted DLR towards the 3 top wrong classes", 
                 ticks=lambda steps, eot: 3 * apgd_ticks(steps, eot), records=apgd_records)
@attack
def apgd_targeted(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    ball: NormBall,
    steps: int = 10,
    eot: int = 1,
    n_targets: int = 3,
    start: torch.Tensor | None = None,
    **_: object,
) -> torch.Tensor:
    """APGD-T: targeted DLR towards each of the ``n_targets`` highest-scoring
    wrong classes of the clean input in turn (AutoAttack uses 9 on CIFAR-10).

    With ``start`` (``[B, ...]``, inside the ball, e.g. the point an untargeted
    attack left each example at), every run begins there instead of at a random
    start, and the targets are the wrong classes scoring highest *there*: the
    classes closest to the decision boundary that attack reached."""
    with torch.no_grad():
        ranked = model(x if start is None else start.to(x)).sort(1, descending=True).indices  # [B, K]
    wrong = torch.stack([row[row != label] for row, label in zip(ranked, y)])  # [B, K-1]
    targets = (
        lambda i=i: apgd_run(model, x, y, ball, steps, "dlr-targeted", target=wrong[:, i], eot=eot, start=start)
        for i in range(min(n_targets, wrong.shape[1]))
    )
    none_fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    return _until_all_fooled(model, y, x.detach().clone(), none_fooled, targets)


@register_attack("apgd-ce", "APGD (Croce & Hein 2020) on cross-entropy: step-size schedule, momentum, EOT loss and gradient", **APGD_SPEC)
@attack
def apgd_ce(model, x, y, ball, steps=10, eot=1, **kw):
    """APGD on cross-entropy."""
    return apgd(model, x, y, ball, steps=steps, eot=eot, loss="ce")


@register_attack("apgd-dlr", "APGD on the scale-invariant DLR loss", **APGD_SPEC)
@attack
def apgd_dlr(model, x, y, ball, steps=10, eot=1, **kw):
    """APGD on the DLR loss."""
    return apgd(model, x, y, ball, steps=steps, eot=eot, loss="dlr")
