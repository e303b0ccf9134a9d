"""An snntorch CNN in the library's tutorial style: ``init_hidden=True`` neurons
that keep their membrane between calls, and a forward pass that loops over T
steps without resetting them (the benchmark resets them before every pass).

``[B, 1, 8, 8]`` in [0, 1] (direct coding: the image is the input current at
every step) -> mean output membrane over T ``[B, 10]``.
"""

import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn


class SnntorchCNN(nn.Module):
    def __init__(self, T: int = 4, beta: float = 0.9) -> None:
        super().__init__()
        self.T = T
        grad = surrogate.atan()
        self.net = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), snn.Leaky(beta=beta, spike_grad=grad, init_hidden=True), nn.AvgPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), snn.Leaky(beta=beta, spike_grad=grad, init_hidden=True), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(16 * 2 * 2, 10), snn.Leaky(beta=beta, spike_grad=grad, init_hidden=True, output=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, 1, 8, 8] -> logits [B, 10]
        membranes = []
        for _ in range(self.T):
            _, mem = self.net(x)
            membranes.append(mem)
        return torch.stack(membranes).mean(0)


def build() -> nn.Module:
    return SnntorchCNN()
