"""Spiking MLP and spiking CNN bodies, shared by the registered SNNs."""

from __future__ import annotations

from torch import nn

from ..encoders import create_encoder
from ..errors import UnknownNameError
from ..layers import TimeDistributed
from ..neurons import NEURONS
from .base import SpikingClassifier


def _neuron(neuron: str, surrogate: str, tau: float):
    if neuron not in NEURONS:
        raise UnknownNameError("neuron", neuron, NEURONS)
    kwargs = {"surrogate": surrogate, "detach_reset": True}
    if neuron == "lif":
        kwargs["tau"] = tau
    return NEURONS[neuron](**kwargs)


def spiking_cnn_body(
    in_shape: tuple[int, ...],
    num_classes: int,
    channels: tuple[int, int] = (16, 32),
    hidden: int = 128,
    neuron: str = "lif",
    surrogate: str = "atan",
    tau: float = 2.0,
) -> nn.Sequential:
    """Two conv-BN-LIF-avgpool blocks, a linear-BN-LIF hidden layer, linear readout.

    Every spiking layer's input current is batch-normalised over T*B
    (tdBN, Zheng et al., AAAI 2021), so neurons fire from the first step of
    training instead of starting silent.

    ``[T, B, C, H, W] -> [T, B, num_classes]``.
    """
    c, h, w = in_shape
    c1, c2 = channels
    flat = c2 * (h // 4) * (w // 4)
    return nn.Sequential(
        TimeDistributed(nn.Conv2d(c, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1)),
        _neuron(neuron, surrogate, tau),
        TimeDistributed(nn.AvgPool2d(2)),
        TimeDistributed(nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2)),
        _neuron(neuron, surrogate, tau),
        TimeDistributed(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(flat, hidden, bias=False), nn.BatchNorm1d(hidden)),
        _neuron(neuron, surrogate, tau),
        TimeDistributed(nn.Linear(hidden, num_classes)),
    )


def spiking_mlp_body(
    in_shape: tuple[int, ...],
    num_classes: int,
    hidden: int = 256,
    neuron: str = "lif",
    surrogate: str = "atan",
    tau: float = 2.0,
) -> nn.Sequential:
    """Flatten, linear-BN-LIF hidden layer (tdBN), linear readout: ``[T, B, ...] -> [T, B, K]``."""
    n_in = 1
    for d in in_shape:
        n_in *= d
    return nn.Sequential(
        TimeDistributed(nn.Flatten(), nn.Linear(n_in, hidden, bias=False), nn.BatchNorm1d(hidden)),
        _neuron(neuron, surrogate, tau),
        TimeDistributed(nn.Linear(hidden, num_classes)),
    )


def build_snn(
    body_fn,
    in_shape,
    num_classes,
    *,
    encoder: str,
    T: int,
    readout: str = "membrane",
    neuron: str = "lif",
    surrogate: str = "atan",
    tau: float = 2.0,
    **body_kwargs,
) -> SpikingClassifier:
    """``encoder -> body -> readout``. With ``readout="rate"`` the body's linear
    output layer drives spiking output neurons and the logits are their
    (scaled) firing rates; with ``"membrane"`` the logits are the mean
    output current over T."""
    body = body_fn(in_shape, num_classes, neuron=neuron, surrogate=surrogate, tau=tau, **body_kwargs)
    if readout == "rate":
        body.append(_neuron(neuron, surrogate, tau))
    return SpikingClassifier(create_encoder(encoder, T), body, readout=readout)
