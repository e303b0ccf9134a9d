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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..models import SpikingClassifier
from ..models.layers import TimeDistributed
from .block_pooling import BlockMeanAvgPool2d

#: Layers that map each example by an affine function of it alone, in any mode (exact
#: types: a subclass may change ``forward``; the compiled path's block-mean pooling is one).
AFFINE_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, BlockMeanAvgPool2d,
                 nn.Flatten, nn.Identity)
#: Layers that are affine per example only in eval mode (batch norm with running
#: statistics; dropout).
EVAL_AFFINE_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.Dropout)


def is_affine(module: nn.Module) -> bool:
    """Whether ``module``, in its current mode, maps each example by an affine function of it alone."""
    if type(module) is nn.Sequential:
        return all(is_affine(m) for m in module)
    if type(module) in EVAL_AFFINE_LAYERS:
        return not module.training and getattr(module, "running_mean", torch.empty(0)) is not None
    return type(module) in AFFINE_LAYERS


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
