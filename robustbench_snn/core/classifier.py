"""Classifier interface shared by SNNs and ANN baselines.

Every model maps a batch of static inputs ``x: [B, C, H, W]`` in [0, 1] to
logits ``[B, num_classes]``, so the same attacks (ours, torchattacks,
foolbox) run on SNNs and ANNs alike. A spiking model is
``encoder -> body -> readout``::

    x [B, C, H, W] --encoder--> [T, B, C, H, W] --body--> [T, B, K] --mean over T--> logits [B, K]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .encoders import Encoder
from .neurons import spiking_neurons


class Classifier(nn.Module):
    """Base class: subclasses implement ``forward`` and ``config``."""

    @property
    def stochastic(self) -> bool:
        """True when repeated forward passes on one input may differ."""
        return False

    def config(self) -> dict[str, Any]:
        """Descriptive fields for cards and leaderboard rows."""
        raise NotImplementedError


READOUTS = ("membrane", "rate", "weighted")


class EncodedClassifier(Classifier):
    """A classifier behind an input :class:`~..encoders.Encoder` (``x [B, ...] -> [T, B, ...]``):
    its ``T`` and whether it is stochastic are the encoder's."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    @property
    def T(self) -> int:
        return self.encoder.T

    @property
    def stochastic(self) -> bool:
        return self.encoder.stochastic


def temporal_weights(T: int) -> torch.Tensor:
    """``w_t = (T - t) / Σ_s (T - s)`` for t = 0..T-1: linearly decaying, sums to 1."""
    w = torch.arange(T, 0, -1, dtype=torch.float32)
    return w / w.sum()


class SpikingClassifier(EncodedClassifier):
    """``encoder -> body -> readout over T``.

    ``body`` maps ``[T, B, ...] -> [T, B, K]``. Readouts:

    * ``membrane``: the body ends in a non-spiking linear layer; logits are
      its mean output over T.
    * ``rate``: the body ends in spiking neurons; logits are ``rate_scale *``
      their firing rates.
    * ``weighted``: temporal-weighted decoding for latency (TTFS) coding:
      ``logits = Σ_t w_t o_t`` with ``w_t ∝ T - t`` (t = 0..T-1), so evidence
      that arrives early -- from the strongest inputs, which fire first --
      counts most (the linearly decaying kernel of temporal-coding readouts,
      e.g. Park et al., "T2FSNN", DAC 2020).
    """

    def __init__(self, encoder: Encoder, body: nn.Module, readout: str = "membrane", rate_scale: float = 10.0) -> None:
        super().__init__(encoder)
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        self.body = body
        self.readout = readout
        self.rate_scale = rate_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, C, H, W] -> [T, B, C, H, W] -> [T, B, K] -> [B, K]
        return self.decode(self.body(self.encoder(x)))

    def decode(self, out: torch.Tensor) -> torch.Tensor:
        """The readout: the body's output [T, B, K] -> logits [B, K]."""
        if self.readout == "weighted":
            return torch.einsum("t,tbk->bk", temporal_weights(len(out)).to(out), out)
        out = out.mean(0)
        return out * self.rate_scale if self.readout == "rate" else out

    def config(self) -> dict[str, Any]:
        neurons = spiking_neurons(self)
        first = neurons[0]
        return {
            "encoder": self.encoder.label,
            "T": self.T,
            "neuron": type(first).__name__,
            "surrogate": str(first.surrogate),
            "readout": self.readout,
        }


class ANNClassifier(Classifier):
    """A conventional network; reported with T=0 and no encoder."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def config(self) -> dict[str, Any]:
        return {"encoder": "none", "T": 0, "neuron": "ReLU", "surrogate": "none", "readout": "logits"}
