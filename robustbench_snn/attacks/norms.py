"""Threat models as norm balls around the clean input, intersected with the
valid input range [0, 1].

Each ball supplies the three pieces a first-order attack varies by norm: a
random start inside the ball, the steepest-ascent step for that norm, and the
projection back onto ball ∩ [0, 1] (Madry et al., ICLR 2018, Sec. 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core import streams
from ..core.registry import Registry

_TINY = 1e-12


def _per_example_norm(t: torch.Tensor, p: float) -> torch.Tensor:
    """``||t_i||_p`` for each example, shaped to broadcast against ``t``."""
    n = t.flatten(1).norm(p=p, dim=1)
    return n.view(-1, *([1] * (t.dim() - 1)))


@dataclass(frozen=True)
class NormBall:
    eps: float
    name = "?"

    def __post_init__(self) -> None:
        if self.eps < 0:
            raise ValueError(f"eps must be >= 0, got {self.eps}")

    def random_start(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def step(self, x_adv: torch.Tensor, grad: torch.Tensor, alpha: float) -> torch.Tensor:
        raise NotImplementedError

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def distance(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-example distance ``||x_adv - x||`` in this norm, shape [B]."""
        raise NotImplementedError


@dataclass(frozen=True)
class LinfBall(NormBall):
    name = "linf"

    def random_start(self, x: torch.Tensor) -> torch.Tensor:
        # Outside an evaluation's per-example streams, the same draw as torchattacks'
        # PGD, so a shared seed gives a shared start.
        return (x + streams.uniform_like(x, -self.eps, self.eps)).clamp(0, 1)

    def step(self, x_adv: torch.Tensor, grad: torch.Tensor, alpha: float) -> torch.Tensor:
        return x_adv + alpha * grad.sign()

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (x + (x_adv - x).clamp(-self.eps, self.eps)).clamp(0, 1)

    def distance(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (x_adv - x).flatten(1).abs().amax(1)


@dataclass(frozen=True)
class L2Ball(NormBall):
    name = "l2"

    def random_start(self, x: torch.Tensor) -> torch.Tensor:
        # Uniform direction, radius eps * U(0, 1) (torchattacks' PGDL2 start).
        d = streams.randn_like(x)
        d = d / (_per_example_norm(d, 2) + _TINY)
        r = streams.uniform_like(x[(...,) + (slice(0, 1),) * (x.dim() - 1)], 0.0, 1.0)  # [B, 1, ...]
        return self.project(x + d * r * self.eps, x)

    def step(self, x_adv: torch.Tensor, grad: torch.Tensor, alpha: float) -> torch.Tensor:
        return x_adv + alpha * grad / (_per_example_norm(grad, 2) + _TINY)

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        delta = x_adv - x
        scale = torch.clamp(self.eps / (_per_example_norm(delta, 2) + _TINY), max=1.0)
        return (x + delta * scale).clamp(0, 1)

    def distance(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (x_adv - x).flatten(1).norm(p=2, dim=1)


def flipped(x: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Binary ``x`` with the ``cells`` (a bool mask, ``x``'s shape or ``[B, -1]``) flipped: events added or removed."""
    return torch.where(cells.view_as(x), 1 - x, x)


@dataclass(frozen=True)
class EventBall(NormBall):
    """Event threat model: at most ``eps`` (an integer K) events added or removed on
    binary event frames ``[B, T, 2, H, W]`` (:mod:`robustbench_snn.data.events`): an
    L0 ball on {0, 1} cells. Unlike a frame-space Linf ball it is what a sensor
    (or an attacker injecting events into its stream) can produce. No gradient
    step: its attacks (``sparse-flip``, ``random-flip``) choose cells to flip."""

    name = "events"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.eps != int(self.eps):
            raise ValueError(f"the events budget is a number of events, got {self.eps}")

    def random_start(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    def step(self, x_adv: torch.Tensor, grad: torch.Tensor, alpha: float) -> torch.Tensor:
        raise TypeError("the events threat model has no gradient step: use sparse-flip or random-flip")

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Binary cells, at most K of them changed: the K largest changes are kept."""
        change = (x_adv - x).abs().flatten(1)
        k = min(int(self.eps), change.shape[1])
        keep = torch.zeros_like(change, dtype=torch.bool)
        if k:
            top = change.topk(k, dim=1)
            keep.scatter_(1, top.indices, top.values > 0.5)
        return flipped(x, keep)

    def distance(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return ((x_adv - x).abs() > 0.5).flatten(1).sum(1).float()


#: Threat models by ``--norm`` name.
NORMS: Registry[type[NormBall]] = Registry("norm")
NORMS.register("linf", LinfBall, "max per-pixel change eps (inputs in [0, 1])")
NORMS.register("l2", L2Ball, "Euclidean norm of the change at most eps")
NORMS.register("events", EventBall, "at most K (= eps) events added or removed on binary event frames")


def make_ball(norm: str, eps: float) -> NormBall:
    return NORMS[norm](eps)
