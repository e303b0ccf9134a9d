"""SpikingJelly's architectures as zoo models: our encoder in front, SpikingJelly's network behind.

The layers, neurons and blocks are SpikingJelly's own (``activation_based.model``,
Fang et al., Science Advances 2023): nothing here re-implements an architecture. What the
project adds is what a benchmark needs around them -- the encoder (direct or Poisson
coding, so the same defenses apply), the time-major interface every attack uses, the
readout, and the record a card and a row carry.

Two kinds of SpikingJelly network are wrapped:

* ``own``: the network takes ``[T, B, C, H, W]`` and returns logits ``[B, K]`` itself
  (Spikformer, Spike-driven Transformer, QKFormer, MS-ResNet);
* ``mean``: a multi-step layer network returns ``[T, B, K]``; the logits are the mean
  over T (the PLIF nets, SEW-ResNet, spiking VGG), as SpikingJelly's examples decode.

``sew_resnet`` and ``spiking_vgg`` import torchvision at module level only for
``load_state_dict_from_url`` (their ImageNet checkpoints). torchvision does not import
beside the project's CPU torch build, and weights are never downloaded at run time here,
so :func:`import_model_module` imports those modules with a stand-in for that one function,
which refuses any download; the architecture code that runs is SpikingJelly's.
"""

from __future__ import annotations

import importlib
import sys
import types
from contextlib import contextmanager
from functools import partial
from typing import Any

import torch
from spikingjelly.activation_based import functional, neuron, surrogate
from torch import nn

from ..core.classifier import EncodedClassifier
from ..core.encoders import Encoder, create_encoder
from ..core.errors import UserInputError
from ..interop.foreign_neurons import _quiet_triton_probe, find_neurons

#: SpikingJelly's model package.
MODEL_PACKAGE = "spikingjelly.activation_based.model"
#: The torchvision modules SpikingJelly's ``sew_resnet`` / ``spiking_vgg`` import, for one function.
_TORCHVISION_UTILS = ("torchvision", "torchvision.models", "torchvision.models.utils")


def _no_download(url: str, *args: Any, **kwargs: Any) -> None:
    raise UserInputError(f"pretrained weights are not downloaded here ({url}); load a safetensors file instead")


@contextmanager
def _torchvision_stand_in():
    """While importing, ``torchvision.models.utils.load_state_dict_from_url`` is :func:`_no_download`
    -- only if torchvision itself cannot be imported, and removed again afterwards."""
    try:
        importlib.import_module("torchvision")
        yield
        return
    except Exception:  # noqa: BLE001 - torchvision absent, or failing at import beside this torch build
        for name in _TORCHVISION_UTILS:
            sys.modules.pop(name, None)
    added = {name: types.ModuleType(name) for name in _TORCHVISION_UTILS}
    added["torchvision.models.utils"].load_state_dict_from_url = _no_download
    sys.modules.update(added)
    try:
        yield
    finally:
        for name, module in added.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def import_model_module(name: str) -> types.ModuleType:
    """``spikingjelly.activation_based.model.<name>``, importable without torchvision."""

    _quiet_triton_probe()  # SpikingJelly's CPU kernels ask torch for Triton at import: noise on a CPU-only host
    full = f"{MODEL_PACKAGE}.{name}"
    if full in sys.modules:
        return sys.modules[full]
    try:
        with _torchvision_stand_in():
            return importlib.import_module(full)
    except ImportError as e:
        raise UserInputError(f"SpikingJelly's {full} cannot be imported ({e}); install spikingjelly 2.0 (`make install`)") from None


def multi_step(net: nn.Module) -> nn.Module:
    """``net`` with every SpikingJelly layer and neuron in multi-step mode (``[T, B, ...]`` per call)."""

    functional.set_step_mode(net, "m")
    return net


READOUTS = ("own", "mean")


class SpikingJellyClassifier(EncodedClassifier):
    """``encoder -> SpikingJelly network -> logits``: ``x [B, C, H, W]`` -> ``[T, B, C, H, W]``
    -> ``[B, K]`` (``readout="own"``) or ``[T, B, K]`` averaged over T (``"mean"``).

    The network's neurons keep membrane state across calls, as SpikingJelly's do; every
    pass the benchmark makes resets them first (``interop.ResetEachPass``), and so does
    :meth:`forward` here, so a training step and an evaluation see the same function."""

    def __init__(self, encoder: Encoder, net: nn.Module, readout: str, config: str = "", in_shape: tuple[int, ...] | None = None) -> None:
        super().__init__(encoder)
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        self.net = net
        self.readout = readout
        self.config_name = config
        #: the image shape ``[C, H, W]`` the network was built for (None: not known)
        self.in_shape = tuple(in_shape) if in_shape is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(self.net)
        out = self.net(self.encoder(x))  # [T, B, C, H, W] -> [B, K] or [T, B, K]
        return out.mean(0) if self.readout == "mean" else out

    def config(self) -> dict[str, Any]:
        neurons = find_neurons(self)
        first = neurons[0].module if neurons else None
        surrogate = getattr(first, "surrogate_function", None)
        return {
            "encoder": self.encoder.label,
            "T": self.T,
            "neuron": type(first).__name__ if first is not None else "none",
            "surrogate": type(surrogate).__name__ if surrogate is not None else "none",
            "readout": self.readout,
            **({"config": self.config_name} if self.config_name else {}),
        }


#: A configuration: ``(in_shape, num_classes, T) -> SpikingJelly network``.
NetBuilder = Any


def lif(**kwargs: Any):
    """SpikingJelly's multi-step LIF neuron class with the project's defaults for the small
    configurations (tau 2, detached reset, arctan surrogate), as a ``spiking_neuron`` argument."""

    return partial(neuron.LIFNode, **{"tau": 2.0, "detach_reset": True, "surrogate_function": surrogate.ATan(), "step_mode": "m", **kwargs})


def build_spikingjelly(label: str, configs: dict[str, NetBuilder], readout: str, in_shape: tuple[int, ...], num_classes: int,
                       *, T: int, config: str, encoder: str, encoder_kwargs: dict | None = None) -> SpikingJellyClassifier:
    """The zoo model ``label`` in configuration ``config`` (a key of ``configs``: ``small``, the
    CPU configuration trained here, or a paper's name), behind ``encoder`` with T steps."""

    if config not in configs:
        raise UserInputError(f"unknown config {config!r} of model {label!r}; valid: {', '.join(configs)}")
    if len(in_shape) != 3:
        raise UserInputError(f"model {label!r} takes images [C, H, W], got inputs of shape {list(in_shape)}")
    net = multi_step(configs[config](tuple(in_shape), num_classes, T))
    return SpikingJellyClassifier(create_encoder(encoder, T, **(encoder_kwargs or {})), net, readout, config, in_shape)


def needs_input(in_shape: tuple[int, ...], channels: int, size: tuple[int, int], config: str) -> None:
    """Refuse, in one line, inputs a paper configuration was not built for."""
    if tuple(in_shape) != (channels, *size):
        raise UserInputError(f"config {config!r} takes {channels}x{size[0]}x{size[1]} images (its paper's), got {'x'.join(map(str, in_shape))}; "
                             "use config=small for other inputs")


class GreyAsRGB(nn.Module):
    """``[T, B, 1, H, W]`` -> ``[T, B, 3, H, W]`` (the grey channel three times), for a network whose stem takes RGB."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(*x.shape[:-3], 3, *x.shape[-2:])


def three_channels(net: nn.Module, in_shape: tuple[int, ...]) -> nn.Module:
    """``net`` (an RGB stem) behind :class:`GreyAsRGB` when the images are grey."""
    if in_shape[0] == 3:
        return net
    if in_shape[0] != 1:
        raise UserInputError(f"this network takes 1 or 3 image channels, got {in_shape[0]}")
    return nn.Sequential(GreyAsRGB(), net)
