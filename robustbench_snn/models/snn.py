"""Spiking MLP and spiking CNN bodies, shared by the registered SNNs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from torch import nn

from ..core.classifier import SpikingClassifier
from ..core.encoders import create_encoder
from ..core.neurons import NEURONS
from .ann_cnn import check_widths, pooled_size
from .layers import TimeDistributed


MakeNeuron = Callable[[], nn.Module]


def make_neuron(neuron: str, surrogate: str, tau: float, T: int, **kwargs) -> nn.Module:
    """One spiking-neuron layer of kind ``neuron`` (if / lif / dlif)."""
    cls = NEURONS[neuron]
    kwargs = {"surrogate": surrogate, "detach_reset": True, **kwargs}
    if neuron == "lif":
        kwargs["tau"] = tau
    if neuron == "dlif":
        kwargs["T"] = T
    return cls(**kwargs)


def spiking_cnn_body(
    in_shape: tuple[int, ...],
    num_classes: int,
    new_neuron: MakeNeuron,
    channels: Sequence[int] = (16, 32),
    hidden: int = 128,
) -> nn.Sequential:
    """Per entry of ``channels`` a conv-BN-LIF-avgpool stage, a linear-BN-LIF hidden layer,
    linear readout (the layout of :func:`~.ann_cnn.cnn_layers` in time).

    Every spiking layer's input current is batch-normalised over T*B
    (tdBN, Zheng et al., AAAI 2021), so neurons fire from the first step of
    training instead of starting silent.

    ``[T, B, C, H, W] -> [T, B, num_classes]``.
    """
    check_widths(channels, hidden)
    layers: list[nn.Module] = []
    previous = in_shape[0]
    for width in channels:
        layers += [TimeDistributed(nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)), new_neuron(),
                   TimeDistributed(nn.AvgPool2d(2))]
        previous = width
    flat = previous * pooled_size(in_shape, len(channels))
    layers[-1] = TimeDistributed(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(flat, hidden, bias=False), nn.BatchNorm1d(hidden))
    return nn.Sequential(*layers, new_neuron(), TimeDistributed(nn.Linear(hidden, num_classes)))


def spiking_mlp_body(
    in_shape: tuple[int, ...],
    num_classes: int,
    new_neuron: MakeNeuron,
    hidden: int = 256,
) -> nn.Sequential:
    """Flatten, linear-BN-LIF hidden layer (tdBN), linear readout: ``[T, B, ...] -> [T, B, K]``."""
    n_in = 1
    for d in in_shape:
        n_in *= d
    return nn.Sequential(
        TimeDistributed(nn.Flatten(), nn.Linear(n_in, hidden, bias=False), nn.BatchNorm1d(hidden)),
        new_neuron(),
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
    encoder_kwargs: dict | None = None,
    neuron_kwargs: dict | None = None,
    **body_kwargs,
) -> SpikingClassifier:
    """``encoder -> body -> readout`` (see :class:`SpikingClassifier` for the
    readouts). With ``readout="rate"`` the body's linear output layer drives
    spiking output neurons whose scaled firing rates are the logits."""
    if len(in_shape) == 4:  # event frames [T, 2, H, W] (robustbench_snn.data.events): the data set T and the encoder
        encoder, T, in_shape = "events", in_shape[0], tuple(in_shape[1:])
        encoder_kwargs = {k: v for k, v in (encoder_kwargs or {}).items() if k == "denoise"}
    new_neuron = partial(make_neuron, neuron, surrogate, tau, T, **(neuron_kwargs or {}))
    body = body_fn(in_shape, num_classes, new_neuron, **body_kwargs)
    if readout == "rate":
        body.append(new_neuron())
    return SpikingClassifier(create_encoder(encoder, T, **(encoder_kwargs or {})), body, readout=readout)
