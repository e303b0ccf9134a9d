"""Input encoders: static images ``[B, ...]`` in [0, 1] -> sequences ``[T, B, ...]``.

* :class:`DirectEncoder` — the analog image is fed as input current at every
  time step (direct / "real-valued" coding, Rathi & Roy 2021; Wu et al. 2019).
* :class:`PoissonEncoder` — rate coding: at each step each pixel fires with
  probability equal to its intensity (Bernoulli per step, the discrete-time
  Poisson process). This is the stochastic coding that RSC-SNN
  ("Towards understanding the robustness of SNNs with Poisson coding",
  i.e. randomized-smoothing coding) analyses as randomized smoothing.

Gradients through the Poisson encoder use the straight-through estimator
of the *expected* spike, ``s = x + (bernoulli(x) - x).detach()``: since
``E[s_t] = x``, averaging this gradient over draws (EOT, Athalye et al.
2018) is an unbiased estimate of the gradient of the expected input current.
Without it the encoder is a non-differentiable step and a white-box attack
sees zero gradient — the classic way stochastic SNNs over-report robustness.

Adding an encoder is one class with ``@register_encoder(name)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .errors import UnknownNameError

ENCODERS: dict[str, type["Encoder"]] = {}


def register_encoder(name: str) -> Callable[[type["Encoder"]], type["Encoder"]]:
    def deco(cls: type[Encoder]) -> type[Encoder]:
        ENCODERS[name] = cls
        cls.name = name
        return cls

    return deco


def create_encoder(name: str, T: int, **kwargs) -> "Encoder":
    if name not in ENCODERS:
        raise UnknownNameError("encoder", name, ENCODERS)
    return ENCODERS[name](T, **kwargs)


class Encoder(nn.Module):
    """Base: ``forward(x: [B, ...]) -> [T, B, ...]``."""

    name = "encoder"
    #: True when two forward passes on the same input may differ.
    stochastic = False

    def __init__(self, T: int) -> None:
        super().__init__()
        if T < 1:
            raise ValueError(f"number of time steps T must be >= 1, got {T}")
        self.T = T


@register_encoder("direct")
class DirectEncoder(Encoder):
    """Repeat the analog input over T steps."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, ...] -> [T, B, ...]
        return x.unsqueeze(0).expand(self.T, *x.shape)


@register_encoder("poisson")
class PoissonEncoder(Encoder):
    """Bernoulli rate coding: ``s_t ~ Bernoulli(clamp(x, 0, 1))`` i.i.d. over t.

    ``seed`` makes the draws reproducible independently of the global RNG
    (call :meth:`reseed` to restart the stream); with ``seed=None`` the
    global torch RNG is used, so ``torch.manual_seed`` controls it.
    """

    stochastic = True

    def __init__(self, T: int, seed: int | None = None) -> None:
        super().__init__(T)
        self.generator: torch.Generator | None = None
        if seed is not None:
            self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, ...] -> spikes [T, B, ...] in {0, 1}
        p = x.clamp(0, 1).unsqueeze(0).expand(self.T, *x.shape)
        u = torch.rand(p.shape, generator=self.generator, dtype=p.dtype)
        s = (u.to(p.device) < p.detach()).to(p.dtype)
        return p + (s - p).detach()
