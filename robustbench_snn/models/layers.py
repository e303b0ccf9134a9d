"""Building blocks for time-major spiking networks."""

from __future__ import annotations

import torch
from torch import nn


class TimeDistributed(nn.Module):
    """Apply stateless layers to every time step at once.

    ``[T, B, ...] -> merge to [T*B, ...] -> module -> split to [T, B, ...]``
    (SpikingJelly's ``SeqToANNContainer``). Batch norm inside sees all T*B
    samples, i.e. statistics shared over time (tdBN-style, Zheng et al. 2021).
    """

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()
        self.module = modules[0] if len(modules) == 1 else nn.Sequential(*modules)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        T, B = x_seq.shape[:2]
        y = self.module(x_seq.flatten(0, 1))
        return y.unflatten(0, (T, B))
