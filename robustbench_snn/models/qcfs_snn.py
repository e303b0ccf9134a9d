"""ANN-to-SNN conversion with the QCFS activation.

Bu, Fang, Ding, Dai, Yu & Huang, "Optimal ANN-SNN Conversion for
High-accuracy and Low-latency Spiking Neural Networks" (ICLR 2022). The
source ANN uses the quantization-clip-floor-shift activation (eq. 15)

    h(z) = (λ / L) · clip(floor(z L / λ + φ), 0, L),   φ = 1/2,

with a trainable threshold ``λ`` per layer and ``L`` quantisation levels
(the floor passes gradients straight through). Conversion replaces each
activation by IF neurons with threshold ``λ``, reset by subtraction and an
initial membrane of ``λ/2`` (the shift φ), whose spikes carry ``λ`` each.
With direct (analog) input the expected conversion error is then zero for
every T (the paper's Theorem 2, under its uniform-residual assumption); the
remaining error (unevenly timed spikes) shrinks as T grows.

One module, :class:`QCFSNeuron`, plays both roles so the ANN and the
converted SNN share every parameter: ``spiking=False`` is the activation on
``[N, ...]``, ``spiking=True`` the IF neuron on ``[T, B, ...]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..core.classifier import Classifier
from ..core.neurons import IFNode, spiking_neurons
from .ann_cnn import cnn_layers
from .registry import register_model


class _FloorSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return x.floor()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad


class QCFSNeuron(IFNode):
    """QCFS activation (ANN mode) / converted IF neuron (SNN mode) sharing threshold ``λ``."""

    def __init__(self, levels: int = 4, threshold: float = 2.0, surrogate: str = "atan") -> None:
        super().__init__(v_threshold=threshold, v_reset=None, surrogate=surrogate, learnable_threshold=True, init_fraction=0.5)
        self.levels = levels
        self.spiking = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lam = self.v_threshold
        if not self.spiking:  # x: [N, ...] -> quantised activation [N, ...]
            q = _FloorSTE.apply(x * self.levels / lam + 0.5).clamp(0, self.levels)
            return q * lam / self.levels
        return super().forward(x) * lam  # x_seq: [T, B, ...] -> spikes * λ

    def extra_repr(self) -> str:
        return f"levels={self.levels}, " + super().extra_repr()


class QCFSClassifier(Classifier):
    """A QCFS ANN that runs as its converted SNN for ``T > 0`` steps in eval mode.

    Training (``model.train()``) and ``T == 0`` run the ANN; otherwise the
    input is fed as current at every step (direct coding) and each layer of
    ``net`` is applied per step (``[T, B, ...]`` merged to ``[T*B, ...]``),
    QCFS neurons integrating over time; the logits are the mean output.
    """

    def __init__(self, net: nn.Sequential, T: int) -> None:
        super().__init__()
        if T < 0:
            raise ValueError(f"T must be >= 0, got {T}")
        self.net = net
        self.T = T

    def _set_spiking(self, on: bool) -> None:
        for n in spiking_neurons(self):
            n.spiking = on

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.T == 0:
            self._set_spiking(False)
            return self.net(x)  # [B, C, H, W] -> [B, K]
        self._set_spiking(True)
        h = x.unsqueeze(0).expand(self.T, *x.shape)  # [T, B, C, H, W]
        for layer in self.net:
            if isinstance(layer, QCFSNeuron):
                h = layer(h)
            else:
                h = layer(h.flatten(0, 1)).unflatten(0, (self.T, len(x)))
        return h.mean(0)  # [T, B, K] -> [B, K]

    def config(self) -> dict[str, Any]:
        first = spiking_neurons(self)[0]
        return {
            "encoder": "direct", "T": self.T, "neuron": f"IFNode(QCFS L={first.levels})",
            "surrogate": str(first.surrogate), "readout": "membrane",
        }



@register_model(
    "qcfs-snn",
    defense="qcfs",
    description="QCFS ANN (L=4) converted to an IF SNN, direct coding; T settable (eval --T)",
)
def qcfs_snn(in_shape, num_classes, T: int = 16, levels: int = 4, channels: Sequence[int] = (16, 32), hidden: int = 128, surrogate: str = "atan"):
    """The ``ann-cnn`` layout with QCFS activations; runs as its converted SNN with ``T`` steps."""
    return QCFSClassifier(cnn_layers(in_shape, num_classes, lambda: QCFSNeuron(levels, surrogate=surrogate), channels, hidden), T)
