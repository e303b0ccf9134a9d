"""Average pooling written as a mean over blocks inside compiled graphs.

Why: inductor (torch 2.13, CPU) lowers the backward of ``avg_pool2d`` -- every
pixel's gradient is its block's gradient divided by k² -- to a gather with an
integer division per element, which it does not vectorise, and fuses that
gather into the LIF backward kernel before the pooling. Pooling written as a
view of k x k blocks and a mean over them has a broadcast for its backward,
which vectorises. Only gradient graphs use it (an inference graph has no
backward to gain). Measured with ``benchmarks/compile_speed.py --pooling``
(both in one run; see docs/speed.md, "The compiled path"). The values are a
mean of the same k² numbers; on spikes (every pooling of the zoo models
follows spiking neurons) they are equal to the bit, on other inputs equal up
to the order of the sum.

Only a compiled graph sees it: outside ``torch.compile`` the layer runs
PyTorch's ``avg_pool2d``, so the eager path and the compiled path's eager
fallback keep the reference numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ..interop.foreign_neurons import find_neurons


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def pools_in_blocks(module: nn.AvgPool2d) -> bool:
    """Whether ``module`` averages disjoint k x k blocks: stride equal to the kernel, no
    padding, no ceil mode, no divisor override (the shape's divisibility is checked per call)."""
    return (type(module) in (nn.AvgPool2d, BlockMeanAvgPool2d) and _pair(module.stride or module.kernel_size) == _pair(module.kernel_size)
            and _pair(module.padding) == (0, 0) and not module.ceil_mode and module.divisor_override is None)


def block_mean(x: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """Mean over disjoint ``kernel`` blocks of the last two dimensions: [..., H, W] -> [..., H/kh, W/kw]."""
    kh, kw = kernel
    H, W = x.shape[-2:]
    return x.unflatten(-1, (W // kw, kw)).unflatten(-3, (H // kh, kh)).mean((-3, -1))


class BlockMeanAvgPool2d(nn.AvgPool2d):
    """An :class:`~torch.nn.AvgPool2d` of disjoint blocks that compiles as :func:`block_mean` in
    a gradient graph (a frozen inference graph, which has no backward, keeps ``avg_pool2d``:
    measured, the block mean there gave 0.88-1.14x its time)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = _pair(self.kernel_size)
        if torch.compiler.is_compiling() and torch.is_grad_enabled() and x.shape[-2] % kernel[0] == 0 and x.shape[-1] % kernel[1] == 0:
            return block_mean(x, kernel)
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad, self.divisor_override)


def swappable_pools(model: nn.Module) -> list[nn.AvgPool2d]:
    """The :class:`~torch.nn.AvgPool2d` layers of ``model`` that pool disjoint blocks, if
    ``model`` has spiking neurons (an ANN's channels-last graph was slower with block means:
    2.1x the gradient's time, ``benchmarks/compile_speed.py --pooling``)."""

    if not find_neurons(model):
        return []
    return [m for m in model.modules() if type(m) is nn.AvgPool2d and pools_in_blocks(m)]


@contextmanager
def block_mean_pooling(model: nn.Module) -> Iterator[list[nn.Module]]:
    """Within the block, every pool of :func:`swappable_pools` is a :class:`BlockMeanAvgPool2d`
    (the same object, its class swapped back after)."""
    pools = swappable_pools(model)
    for m in pools:
        m.__class__ = BlockMeanAvgPool2d
    try:
        yield pools
    finally:
        for m in pools:
            m.__class__ = nn.AvgPool2d
