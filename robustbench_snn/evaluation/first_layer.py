"""The first layer once: an affine first layer carries the input gradient of all T
steps in one product when the encoder's gradient is the same at every step.

Why: every spiking zoo model starts its body with a stateless affine layer (a
3x3 convolution from the image's one channel to 16, and its eval-mode batch
norm) applied to each of the T steps of the encoder's output. Its input
gradient, a transposed convolution from 16 channels to one, is the slowest
product of an attack gradient: oneDNN runs a convolution with one input or
output channel far below the machine's rate. Measured with ``torch.profiler``
(2 threads, 250 images): 685 of 2,050 ms of the MNIST ``rsc-snn`` EOT-10
gradient, 44 of 138 ms of ``snn-cnn``'s.

When the encoder's gradient is the same at every step, the T steps' gradients
are summed before they reach the input: direct coding repeats ``x``; Poisson
coding's straight-through estimator passes the gradient of ``rate * clamp(x)``
at every step (:mod:`.encoders`). An affine layer ``h = A s + b`` commutes with
that sum, ``Σ_t Aᵀ g_t = Aᵀ Σ_t g_t``, so its backward runs on B rows instead of
T x B. With direct coding its forward does too: the T steps' inputs are equal,
so the layer runs once and its output is repeated. With Poisson coding the
layer still maps the drawn spikes (the values are unchanged); the gradient
rides on ``g - g.detach()`` with ``g = A p + b`` of the firing probability
``p``, which is zero in value.

Gradients equal the per-step products' up to rounding (the sum is taken in
another order); the compiled and eager paths' agreement tests hold it to the
tolerance of :mod:`.compiled`. It is used only in the compiled path (that
module); ``--compile off`` is the reference path, unchanged.

SpikingJelly's architectures (:class:`~.models.spikingjelly_nets.SpikingJellyClassifier`) are
networks whose forward SpikingJelly wrote, so their first layers cannot be split off as a
body's head. Behind direct coding their input's T steps are equal, and a *step-wise* module
(its output step t a function of its input step t alone, no state: a multi-step convolution,
eval-mode batch norm, pooling, ``SeqToANNContainer`` of those) maps equal steps to equal
steps, so it can run on the first step alone and repeat the result: the same values, and the
T steps' gradients summed before its backward, which then runs on B rows. A probe pass
(:func:`equal_step_modules`) follows the input through the network's modules until the first
module that is not step-wise, and the compiled path runs each step-wise module it met on
one step (:class:`StepsOnce`). The probe sees where the input goes, not whether a module found
is called again later in the pass on other inputs; the networks it runs on are the registered
SpikingJelly architectures, whose code we know (none does), and their compiled gradients are
tested against the eager ones. The stems these networks start with (a convolution from the
image's 3 channels, its batch norm, in some a pooling) are where oneDNN runs furthest below
the machine's rate; measured on the attack gradient (``make bench``: random weights, 3x32x32,
batch 32, 2 threads, compiled over eager, with the stem at every step in brackets):
``qkformer`` 2.0x (1.44x), ``sdt`` 1.96x (1.46x), ``ms-resnet`` 1.96x (1.76x), ``sew-resnet``
1.49x (1.42x); ``spikformer``, whose stem is a small share of its work, 1.45x (1.48x).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from spikingjelly.activation_based import layer
from torch import nn

from ..core.encoders import DirectEncoder
from ..interop.foreign_neurons import find_neurons
from ..models import SpikingClassifier
from ..models.layers import TimeDistributed
from ..models.spikingjelly_nets import GreyAsRGB, SpikingJellyClassifier
from .block_pooling import BlockMeanAvgPool2d

#: Layers that map each example by an affine function of it alone, in any mode (exact
#: types: a subclass may change ``forward``; the compiled path's block-mean pooling is one).
AFFINE_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, BlockMeanAvgPool2d,
                 nn.Flatten, nn.Identity)
#: Layers that are affine per example only in eval mode (batch norm with running
#: statistics; dropout).
EVAL_AFFINE_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.Dropout)
#: Layers that map each example alone but are not affine.
MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
#: SpikingJelly's multi-step layers that map each step alone (with the flattening of T into the
#: batch that ``step_mode="m"`` does): stateless in any mode ...
SPIKINGJELLY_STEPWISE = (layer.Conv1d, layer.Conv2d, layer.Conv3d, layer.Linear, layer.Flatten, layer.MaxPool1d, layer.MaxPool2d,
                         layer.MaxPool3d, layer.AvgPool1d, layer.AvgPool2d, layer.AvgPool3d, layer.AdaptiveAvgPool1d,
                         layer.AdaptiveAvgPool2d, layer.AdaptiveAvgPool3d)
#: ... and in eval mode only (batch norm with running statistics).
SPIKINGJELLY_EVAL_STEPWISE = (layer.BatchNorm1d, layer.BatchNorm2d, layer.BatchNorm3d)


def is_affine(module: nn.Module) -> bool:
    """Whether ``module``, in its current mode, maps each example by an affine function of it alone."""
    if type(module) is nn.Sequential:
        return all(is_affine(m) for m in module)
    if type(module) in EVAL_AFFINE_LAYERS:
        return not module.training and getattr(module, "running_mean", torch.empty(0)) is not None
    return type(module) in AFFINE_LAYERS


def maps_each_example_alone(module: nn.Module) -> bool:
    """Whether ``module``, in its current mode, maps each example ``[B, ...]`` by a function of it alone."""
    if type(module) is nn.Sequential:
        return all(maps_each_example_alone(m) for m in module)
    return is_affine(module) or type(module) in MAX_POOLS


def is_stepwise(module: nn.Module) -> bool:
    """Whether ``module``, in its current mode, maps a time-major ``[T, B, ...]`` input step by
    step with no state: its output's step t is a function of its input's step t alone."""
    kind = type(module)
    if kind is nn.Sequential:
        return len(module) > 0 and all(is_stepwise(m) for m in module)
    if kind is layer.SeqToANNContainer:
        return len(module) > 0 and all(maps_each_example_alone(m) for m in module)
    if kind is TimeDistributed:
        return maps_each_example_alone(module.module)
    if kind in SPIKINGJELLY_EVAL_STEPWISE:
        return module.step_mode == "m" and not module.training and module.running_mean is not None
    if kind in SPIKINGJELLY_STEPWISE:
        return module.step_mode == "m"
    return kind is GreyAsRGB


@dataclass
class StepsOnce:
    """``module``'s ``forward`` on the first step of its input alone, repeated over the T steps:
    the module's own output wherever the steps are equal and it is step-wise (:func:`is_stepwise`,
    checked at every call: a module put in training mode runs its own forward).

    ``[T, B, ...]`` -> ``[T, B', ...]`` (a view repeating one step)."""

    module: nn.Module
    forward: Callable[..., torch.Tensor]

    def __call__(self, x_seq: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if args or kwargs or not is_stepwise(self.module):
            return self.forward(x_seq, *args, **kwargs)
        h = self.forward(x_seq[:1])
        return h.expand(len(x_seq), *h.shape[1:])


class _ProbeEnd(Exception):
    """Raised by the probe's hook at the first module that is not step-wise: nothing past it runs."""


def equal_step_modules(model: nn.Module, net: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of the step-wise modules of ``net`` that a pass of ``model`` feeds
    equal steps, outermost only, in call order: ``net`` must be a
    :class:`~.models.spikingjelly_nets.SpikingJellyClassifier`'s network (inside ``model``)
    behind direct coding. Found by one probe pass on a zero image, ended before the first
    module that is not step-wise (no neuron runs, so no state changes): a step-wise module
    whose input is the network's input, or the output of a module found before it.
    Empty for any other network or encoder."""

    owner = next((m for m in model.modules() if isinstance(m, SpikingJellyClassifier) and m.net is net), None)
    if owner is None or type(owner.encoder) is not DirectEncoder or owner.in_shape is None:
        return []
    names = {id(m): name for name, m in net.named_modules()}
    neurons = {id(n.module) for n in find_neurons(net)}
    found: list[tuple[str, nn.Module]] = []
    equal: dict[int, torch.Tensor] = {}  # tensors with equal steps, kept so that their ids stay theirs
    within: set[int] = set()  # modules inside a found one (called on its flattened steps)

    def before(module: nn.Module, args: tuple) -> None:
        if id(module) in within or module is net:
            return
        if args and isinstance(args[0], torch.Tensor) and id(args[0]) in equal and is_stepwise(module):
            found.append((names[id(module)], module))
            within.update(id(m) for m in module.modules() if m is not module)
        elif id(module) in neurons or not any(True for _ in module.children()):
            raise _ProbeEnd  # a neuron, or a layer not fed equal steps or not step-wise: the stem ends here

    def after(module: nn.Module, args: tuple, out) -> None:
        if found and module is found[-1][1]:
            if isinstance(out, torch.Tensor) and out.shape[:1] == (owner.T,):
                equal[id(out)] = out
            else:
                found.pop()  # not a time-major output after all: not a step-wise module here

    param = next(net.parameters(), torch.empty(0))
    x_seq = owner.encoder(torch.zeros(1, *owner.in_shape, dtype=param.dtype, device=param.device))
    equal[id(x_seq)] = x_seq
    handles = [h for m in net.modules() for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
    try:
        with torch.no_grad():
            net(x_seq)
    except _ProbeEnd:
        pass
    finally:
        for h in handles:
            h.remove()
    return found


@dataclass
class ProjectedBody:
    """A spiking ``body`` (its first layer ``head``, then the ``rest``) run on ``stacked``: the
    encoder's gradient source ``p`` ([B, ...]) as its first row, then the T steps' values
    (:meth:`~.encoders.Encoder.straight_through`), or ``p`` alone when the steps' inputs
    are ``p`` itself (direct coding).

    With ``p`` alone ``head`` runs once and its output is repeated over the ``T`` steps.
    Otherwise ``head`` maps the values and, when ``p`` requires a gradient,
    ``head(p) - head(p).detach()`` (zero) carries it."""

    body: nn.Sequential
    T: int

    @property
    def head(self) -> TimeDistributed:
        return self.body[0]

    @property
    def rest(self) -> nn.Sequential:
        return self.body[1:]

    def reference(self, stacked: torch.Tensor) -> torch.Tensor:
        """The body as the model's own forward runs it (every step through the first layer),
        on the encoder's output rebuilt from ``stacked``: the same values, and a gradient
        equal to the own forward's to the bit (the eager path's fallback)."""
        source = stacked[:1]
        if len(stacked) == 1:
            return self.body(source.expand(self.T, *source.shape[1:]))
        return self.body(stacked[1:].detach() + (source - source.detach()))

    def __call__(self, stacked: torch.Tensor) -> torch.Tensor:
        # stacked: [1 + T, B, ...], or [1, B, ...] (p alone) -> [T, B, K]
        source = stacked[:1]
        if len(stacked) == 1:
            h = self.head(source)
            h = h.expand(self.T, *h.shape[1:])
        else:
            h = self.head(stacked[1:].detach())
            if source.requires_grad:
                g = self.head(source)
                h = h + (g - g.detach())
        return self.rest(h)


def projected_body(model: nn.Module) -> ProjectedBody | None:
    """``model``'s body with its first layer run once, or None where that is not exact: a
    model other than a :class:`~.models.SpikingClassifier` (or a subclass with its own
    forward), an encoder whose steps' gradients differ (no
    :meth:`~.encoders.Encoder.straight_through` beside its ``forward``), or a body that
    does not start with a :class:`~.layers.TimeDistributed` affine layer (:func:`is_affine`;
    checked again at each call, as a layer's mode may change)."""

    if not isinstance(model, SpikingClassifier) or type(model).forward is not SpikingClassifier.forward:
        return None  # a subclass's own forward may do more than encoder -> body -> readout
    if _defining_class(type(model.encoder), "straight_through") is not _defining_class(type(model.encoder), "forward"):
        return None  # no split, or a subclass's forward that its inherited split does not describe
    body = model.body
    if type(body) is not nn.Sequential or len(body) < 2 or type(body[0]) is not TimeDistributed or not is_affine(body[0].module):
        return None
    return ProjectedBody(body, model.T)


def _defining_class(cls: type, name: str) -> type:
    """The class of ``cls``'s MRO whose own body defines attribute ``name``."""
    return next(c for c in cls.__mro__ if name in c.__dict__)


@dataclass
class ProjectedForward:
    """``model``'s forward with its body run as ``body(stacked)`` (``projection`` itself or a
    compiled call of it); the model's own forward wherever the projection would not be exact
    (training mode, a first layer no longer affine)."""

    model: nn.Module
    projection: ProjectedBody
    body: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, ...] -> logits [B, K]
        model = self.model
        if model.training or not is_affine(self.projection.head.module):
            return type(model).forward(model, x)
        split = model.encoder.straight_through(x)
        if split is None:  # this input's steps differ after all (the encoder says so)
            return type(model).forward(model, x)
        value, source = split
        rows = source.unsqueeze(0)
        stacked = rows if value is None else torch.cat([rows, value.to(rows.dtype)])
        return model.decode(self.body(stacked))
