"""Small models with the defects users' SNNs have, shared by the interop and API tests."""

import torch
from torch import nn


class _ZeroBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        return torch.zeros_like(grad)


class ZeroSurrogate(nn.Module):
    """A SpikingJelly-style surrogate module: Heaviside forward, a backward of zeros."""

    def forward(self, x):
        return _ZeroBackward.apply(x)


def zero_surrogates(model: nn.Module) -> nn.Module:
    """``model`` with every recognised neuron's surrogate replaced by :class:`ZeroSurrogate` (SpikingJelly)."""
    from robustbench_snn.interop.foreign_neurons import find_neurons

    for n in find_neurons(model):
        n.module.surrogate_function = ZeroSurrogate()
    return model
