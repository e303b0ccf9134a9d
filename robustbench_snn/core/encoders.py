"""Input encoders: static images ``[B, ...]`` in [0, 1] -> sequences ``[T, B, ...]``.

* :class:`DirectEncoder` — the analog image is fed as input current at every
  time step (direct / "real-valued" coding, Rathi & Roy 2021; Wu et al. 2019).
* :class:`PoissonEncoder` — rate coding: at each step each pixel fires with
  probability equal to its intensity (Bernoulli per step, the discrete-time
  Poisson process). This is the stochastic coding that RSC-SNN
  ("Towards understanding the robustness of SNNs with Poisson coding",
  i.e. randomized-smoothing coding) analyses as randomized smoothing.
  Its coding rate ``rate`` scales the firing probability, ``p = rate * x``.
* :class:`TTFSEncoder` -- time-to-first-spike (latency) coding: each input
  element fires at most once, earlier for larger values.

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

from . import streams
from .registry import Registry

ENCODERS: Registry[type["Encoder"]] = Registry("encoder")


def register_encoder(name: str) -> Callable[[type["Encoder"]], type["Encoder"]]:
    def deco(cls: type[Encoder]) -> type[Encoder]:
        cls.name = name
        return ENCODERS.register(name, cls)

    return deco


def encoder_name(model: nn.Module) -> str:
    """Name of ``model``'s input encoder (``"no encoder"`` for a model without one, e.g. an ANN)."""
    return getattr(getattr(model, "encoder", None), "name", "no encoder")


def create_encoder(name: str, T: int, **kwargs) -> "Encoder":
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

    @property
    def label(self) -> str:
        """Name plus non-default settings, for cards and leaderboard rows."""
        return self.name

    def straight_through(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor] | None:
        """``forward(x)`` as ``(value, source)`` when its gradient is the same at every step:
        ``forward(x)`` has the values of ``value`` (``[T, B, ...]``, no gradient; ``None``:
        ``source`` repeated over T) and the gradient of ``source`` (``[B, ...]``) repeated
        over T, so a first affine layer can carry the gradient of all T steps in one
        product (:mod:`robustbench_snn.evaluation.first_layer`). ``None`` (the default): the steps' gradients differ."""
        return None


@register_encoder("direct")
class DirectEncoder(Encoder):
    """Repeat the analog input over T steps."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, ...] -> [T, B, ...]
        return x.unsqueeze(0).expand(self.T, *x.shape)

    def straight_through(self, x: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, x


@register_encoder("poisson")
class PoissonEncoder(Encoder):
    """Bernoulli rate coding: ``s_t ~ Bernoulli(rate * clamp(x, 0, 1))`` i.i.d. over t.

    ``rate`` in (0, 1] is RSC-SNN's coding-rate knob (Wu et al., ACM MM
    2024): lowering it makes spikes sparser, so each draw carries less of
    the input and more Bernoulli noise (relative variance ``(1 - p) / p``)
    -- stronger smoothing, lower clean accuracy. ``rate=1`` is plain
    Poisson coding.

    ``seed`` makes the draws reproducible independently of the global RNG
    (call :meth:`reseed` to restart the stream); with ``seed=None`` each
    example draws from its own stream when an evaluation set them
    (:mod:`robustbench_snn.core.streams`, so its spikes do not depend on the batch),
    else from the global torch RNG, which ``torch.manual_seed`` controls.
    """

    stochastic = True

    def __init__(self, T: int, seed: int | None = None, rate: float = 1.0) -> None:
        super().__init__(T)
        if not 0 < rate <= 1:
            raise ValueError(f"Poisson coding rate must be in (0, 1], got {rate}")
        self.rate = rate
        self.generator: torch.Generator | None = None
        if seed is not None:
            self.reseed(seed)

    @property
    def label(self) -> str:
        return self.name if self.rate == 1 else f"{self.name}(rate={self.rate:g})"

    def reseed(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, ...] -> spikes [T, B, ...] in {0, 1}
        p = self._over_steps(self._probability(x))
        return p + (self._draw(p) - p).detach()

    def straight_through(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The spikes' values (the same draws and floats as :meth:`forward`) and the firing
        probability ``rate * clamp(x, 0, 1)`` ([B, ...]) whose gradient they carry at every step."""
        source = self._probability(x)
        p = self._over_steps(source.detach())
        return p + (self._draw(p) - p), source

    def _probability(self, x: torch.Tensor) -> torch.Tensor:
        """``rate * clamp(x, 0, 1)``: [B, ...]."""
        return self.rate * x.clamp(0, 1)

    def _over_steps(self, p: torch.Tensor) -> torch.Tensor:
        """``p`` repeated over T (a view): [B, ...] -> [T, B, ...]."""
        return p.unsqueeze(0).expand(self.T, *p.shape)

    def _draw(self, p: torch.Tensor) -> torch.Tensor:
        """Bernoulli(p) spikes [T, B, ...] as ``p``'s dtype, from the encoder's generator or the per-example streams."""
        if self.generator is not None:
            u = torch.rand(p.shape, generator=self.generator, dtype=p.dtype).to(p.device)
        else:
            u = streams.rand(p.shape, batch_dim=1, dtype=p.dtype).to(p.device)  # [T, B, ...]: example b's own draws
        return (u < p.detach()).to(p.dtype)


@register_encoder("events")
class EventEncoder(Encoder):
    """Event frames (:mod:`robustbench_snn.data.events`): the input already is a sequence,
    ``[B, T, 2, H, W] -> [T, B, 2, H, W]``. With ``denoise`` it first applies a
    background-activity filter, the event-specific defence of DVS-Attacks
    (Marchisio et al., IJCNN 2021; the spatio-temporal filter of Delbruck 2008):
    an event survives only if an event of either polarity fell in its 3x3
    neighbourhood (itself excluded) in the same or the previous bin. The filter's
    mask is a hard threshold; gradients pass through the surviving events
    (``x * mask``, the mask held constant), so attacks see the filter (BPDA:
    Athalye et al. 2018) rather than a zero gradient."""

    def __init__(self, T: int, denoise: bool = False) -> None:
        super().__init__(T)
        self.denoise = denoise

    @property
    def label(self) -> str:
        return f"{self.name}(denoise)" if self.denoise else self.name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != self.T:
            raise ValueError(f"event frames must be [B, T={self.T}, 2, H, W], got {list(x.shape)}")
        frames = x.transpose(0, 1)  # [T, B, 2, H, W]
        if not self.denoise:
            return frames
        return frames * support(frames.detach())


def support(frames: torch.Tensor) -> torch.Tensor:
    """``[T, B, 2, H, W]`` in {0, 1}: 1 where another event fell in the 3x3 neighbourhood
    (either polarity) in the same or the previous bin (:class:`EventEncoder` ``denoise``)."""
    active = (frames > 0.5).float().amax(2, keepdim=True)  # [T, B, 1, H, W], either polarity
    recent = torch.maximum(active, torch.cat([torch.zeros_like(active[:1]), active[:-1]]))  # this bin or the last
    t, b = recent.shape[:2]
    flat = recent.flatten(0, 1)  # [T*B, 1, H, W]
    neighbours = torch.nn.functional.conv2d(flat, torch.ones(1, 1, 3, 3, dtype=flat.dtype, device=flat.device), padding=1)
    own = active.flatten(0, 1)  # an event is not its own support (within its bin)
    return ((neighbours - own) > 0.5).float().view(t, b, 1, *flat.shape[2:])


@register_encoder("ttfs")
class TTFSEncoder(Encoder):
    """Time-to-first-spike (latency) coding: element ``x`` fires once, at step
    ``t(x) = round((1 - x) (T - 1))``, so larger values fire earlier; values
    ``<= threshold`` never fire (Thorpe's rank/latency code; as used for
    deep SNNs by e.g. Rueckauer & Liu 2018, Park et al. 2020).

    Forward: exactly one-hot in time (at most one spike per element). The
    hard step has zero derivative in ``x``, which would mask every
    white-box attack; the backward pass therefore uses the derivative of the
    linear interpolation between the two steps around the continuous spike
    time ``tau(x) = (1 - x)(T - 1)``: ``s~_t = max(0, 1 - |t - tau(x)|)``
    (a straight-through estimator written for this encoder -- no library
    has one).
    """

    def __init__(self, T: int, threshold: float = 0.0) -> None:
        super().__init__(T)
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, ...] -> spikes [T, B, ...], one-hot along T (or all zero)
        x = x.clamp(0, 1)
        active = (x > self.threshold).to(x.dtype).unsqueeze(0)
        tau = (1 - x) * (self.T - 1)  # continuous spike time
        t = torch.arange(self.T, dtype=x.dtype, device=x.device).view(-1, *([1] * x.dim()))
        soft = (1 - (t - tau.unsqueeze(0)).abs()).clamp(min=0) * active
        hard = (t == tau.detach().round().unsqueeze(0)).to(x.dtype) * active
        return soft + (hard - soft).detach()
