"""A spiking MLP in plain PyTorch: a hand-written LIF loop and a hand-written
spike function (Heaviside forward, fast-sigmoid derivative backward; Zenke &
Ganguli, "SuperSpike", Neural Computation 2018). No SNN library: the
benchmark finds no neurons it recognises, so it attacks through the model's
own surrogate and says so in the row (no surrogate sweep is possible).

``[B, 1, 8, 8]`` in [0, 1] (direct coding) -> mean output membrane ``[B, 10]``.
"""

import torch
from torch import nn


class FastSigmoidSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad / (1 + 10 * v.abs()) ** 2


class PlainSNN(nn.Module):
    def __init__(self, T: int = 6, hidden: int = 128, decay: float = 0.8) -> None:
        super().__init__()
        self.T, self.decay = T, decay
        self.fc1 = nn.Linear(64, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, 1, 8, 8] -> logits [B, 10]
        current = self.fc1(x.flatten(1))
        v = torch.zeros_like(current)
        out = 0
        for _ in range(self.T):
            v = self.decay * v + current
            s = FastSigmoidSpike.apply(v - 1.0)
            v = v - s.detach()  # soft reset
            out = out + self.fc2(s)
        return out / self.T


def build() -> nn.Module:
    return PlainSNN()
