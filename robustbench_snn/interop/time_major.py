"""``TimeMajor``: the one-line adapter for SNNs written in the time-major habit.

:func:`robustbench_snn.benchmark` evaluates any ``nn.Module`` mapping images
``[B, C, H, W]`` in [0, 1] to logits ``[B, K]``. SpikingJelly multi-step
networks (and many snntorch ones) instead take an encoded sequence
``[T, B, C, H, W]`` and/or return per-step outputs ``[T, B, K]``::

    model = TimeMajor(net, T=4, encoder="poisson")   # net: [T, B, C, H, W] -> [T, B, K]
    model = TimeMajor(net)                           # net: [B, C, H, W] -> [T, B, K]

With an ``encoder`` (any registered one: ``direct``, ``poisson``, ``ttfs``)
the image is encoded to ``[T, B, ...]`` first, through the same encoders as
the zoo models (so a Poisson encoder gets straight-through gradients and
EOT); per-step outputs are averaged over T (rate / mean-membrane readout).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core.encoders import Encoder, create_encoder
from ..core.errors import UserInputError
from ..core.limits import check_count
from .foreign_neurons import require_module


class TimeMajor(nn.Module):
    """``x [B, C, H, W] --encoder--> [T, B, C, H, W] --model--> [T, B, K] --mean over T--> [B, K]``."""

    def __init__(self, model: nn.Module, T: int | None = None, encoder: str | Encoder | None = None, **encoder_kwargs: Any) -> None:
        super().__init__()

        require_module(model, "TimeMajor")
        if T is not None:
            check_count("T", T)  # no upper bound here: a converted SNN may run thousands of steps; memory is checked by benchmark()
        if encoder is not None and T is None and not isinstance(encoder, Encoder):
            raise UserInputError(f"TimeMajor needs T with encoder {encoder!r}; e.g. TimeMajor(net, T=4, encoder={encoder!r})")
        if isinstance(encoder, str):
            encoder = create_encoder(encoder, T, **encoder_kwargs)
        self.model = model
        self.encoder = encoder
        self._T = encoder.T if encoder is not None else T

    @property
    def T(self) -> int | None:
        return self._T

    @property
    def stochastic(self) -> bool:
        return bool(self.encoder is not None and self.encoder.stochastic)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, C, H, W] -> [T, B, C, H, W] (with an encoder) -> [T, B, K] or [B, K] -> [B, K]
        out = self.model(self.encoder(x) if self.encoder is not None else x)
        if isinstance(out, (tuple, list)):  # snntorch habit: (spikes, membranes); the first is the readout
            out = out[0]
        return out.mean(0) if out.dim() == 3 else out

    def describe(self) -> dict[str, Any]:
        """Fields for the leaderboard row."""
        return {"encoder": self.encoder.label if self.encoder is not None else "in-model", "T": self._T or 0}
