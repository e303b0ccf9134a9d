"""Multi-step spiking neurons in time-major layout.

Every neuron takes the whole input-current sequence ``x_seq: [T, B, ...]``
and returns the spike sequence of the same shape (SpikingJelly's multi-step
mode). The membrane potential starts at ``v_reset`` (0 for soft reset) at the
start of *every* call and is never carried across calls, so there is no
hidden state to reset between forward passes: an attack's 10th forward pass
sees exactly the network its 1st did.

Dynamics (discrete-time, SpikingJelly convention with ``decay_input=True``):

* IF:  ``h_t = v_{t-1} + x_t``
* LIF: ``h_t = v_{t-1} + (x_t - (v_{t-1} - v_reset)) / tau``
* DLIF (dynamic LIF of stable-SNN, Ding et al., ICML 2024):
  ``h_t = lambda v_{t-1} + p_t x_t`` with a learnable input gain ``p_t`` per step
* spike ``s_t = H(h_t - v_th)`` (surrogate gradient in the backward pass)
* hard reset ``v_t = h_t (1 - s_t) + v_reset s_t``;
  soft reset (reset by subtraction) ``v_t = h_t - v_th s_t``.

Learnable decay follows PLIF (Fang et al., ICCV 2021): ``1/tau = sigmoid(w)``.

``v_0 = v_reset + init_fraction * v_th`` (0 by default); QCFS conversion
starts IF neurons half-charged (``init_fraction=0.5``, Bu et al. ICLR 2022).
Inside :func:`record_membranes` each neuron keeps its last pre-spike
membrane sequence ``h: [T, B, ...]`` in ``.membrane`` (for the MPS
regulariser of :mod:`robustbench_snn.defenses.mps`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .surrogate import Surrogate, spike


class _SpikingNeuron(nn.Module):
    """Shared threshold / reset / surrogate handling for IF and LIF."""

    def __init__(
        self,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        surrogate: Surrogate | str = "atan",
        learnable_threshold: bool = False,
        detach_reset: bool = False,
        init_fraction: float = 0.0,
    ) -> None:
        super().__init__()
        threshold = torch.tensor(float(v_threshold))
        if learnable_threshold:
            self.v_threshold = nn.Parameter(threshold)
        else:
            self.register_buffer("v_threshold", threshold)
        self.v_reset = v_reset
        self.surrogate = Surrogate.parse(surrogate)
        self.detach_reset = detach_reset
        self.init_fraction = init_fraction
        #: set by :func:`record_membranes`; then ``membrane`` is the last call's ``h: [T, B, ...]``
        self.record = False
        self.membrane: torch.Tensor | None = None

    def charge(self, v: torch.Tensor, x: torch.Tensor, t: int) -> torch.Tensor:
        """Membrane after integrating input ``x`` at step ``t`` (before the spike)."""
        raise NotImplementedError

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        # x_seq: [T, B, ...] -> spikes [T, B, ...]
        v = torch.zeros_like(x_seq[0]) + (self.v_reset or 0.0) + self.init_fraction * self.v_threshold
        spikes, membrane = [], []
        for t, x in enumerate(x_seq):
            h = self.charge(v, x, t)
            if self.record:
                membrane.append(h)
            s = spike(h - self.v_threshold, self.surrogate)
            s_reset = s.detach() if self.detach_reset else s
            if self.v_reset is None:
                v = h - self.v_threshold * s_reset
            else:
                v = h * (1 - s_reset) + self.v_reset * s_reset
            spikes.append(s)
        if self.record:
            self.membrane = torch.stack(membrane)
        return torch.stack(spikes)

    def extra_repr(self) -> str:
        reset = "soft" if self.v_reset is None else f"hard({self.v_reset:g})"
        return f"v_threshold={float(self.v_threshold):g}, reset={reset}, surrogate={self.surrogate}"


class IFNode(_SpikingNeuron):
    """Integrate-and-fire neuron: ``h_t = v_{t-1} + x_t``."""

    def charge(self, v: torch.Tensor, x: torch.Tensor, t: int) -> torch.Tensor:
        return v + x


class LIFNode(_SpikingNeuron):
    """Leaky integrate-and-fire neuron with time constant ``tau`` (> 1).

    ``learnable_tau=True`` makes the decay a parameter (PLIF); it is stored
    as ``w`` with ``1/tau = sigmoid(w)`` so tau stays above 1.
    """

    def __init__(self, tau: float = 2.0, learnable_tau: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        if not tau > 1:
            raise ValueError(f"LIF tau must be > 1, got {tau}")
        w = torch.tensor(-math.log(tau - 1.0))  # sigmoid(w) = 1/tau
        if learnable_tau:
            self.w = nn.Parameter(w)
        else:
            self.register_buffer("w", w)

    @property
    def tau(self) -> float:
        return float(1.0 / torch.sigmoid(self.w))

    def charge(self, v: torch.Tensor, x: torch.Tensor, t: int) -> torch.Tensor:
        v_rest = self.v_reset or 0.0
        return v + (x - (v - v_rest)) * torch.sigmoid(self.w)

    def extra_repr(self) -> str:
        return f"tau={self.tau:.3g}, " + super().extra_repr()


class DLIFNode(_SpikingNeuron):
    """Dynamic LIF of stable-SNN (Ding et al., "Robust Stable Spiking Neural
    Networks", ICML 2024): ``h_t = decay * v_{t-1} + p_t * x_t``.

    ``p_t`` (one learnable gain per time step, initialised to 1) lets training
    reshape how strongly each step's input current -- and hence an input
    perturbation -- drives the membrane; the paper's stability analysis of
    the membrane-perturbation dynamics is for this neuron. Reference setting:
    threshold 1.0, decay 0.99, hard reset to 0.
    """

    def __init__(self, T: int, decay: float = 0.99, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 < decay <= 1:
            raise ValueError(f"DLIF decay must be in (0, 1], got {decay}")
        self.decay = decay
        self.p = nn.Parameter(torch.ones(T))

    def charge(self, v: torch.Tensor, x: torch.Tensor, t: int) -> torch.Tensor:
        return self.decay * v + self.p[t] * x

    def extra_repr(self) -> str:
        return f"decay={self.decay:g}, T={len(self.p)}, " + super().extra_repr()


NEURONS: dict[str, type[_SpikingNeuron]] = {"if": IFNode, "lif": LIFNode, "dlif": DLIFNode}


def spiking_neurons(model: nn.Module) -> list[_SpikingNeuron]:
    """All spiking neurons inside ``model``."""
    return [m for m in model.modules() if isinstance(m, _SpikingNeuron)]


def set_surrogate(model: nn.Module, surrogate: Surrogate | str) -> None:
    """Use ``surrogate`` in the backward pass of every neuron of ``model``.

    The forward pass (Heaviside) is unchanged, so predictions do not change;
    only the gradients an attack or a training step sees do.
    """
    sg = Surrogate.parse(surrogate)
    for neuron in spiking_neurons(model):
        neuron.surrogate = sg


@contextmanager
def record_membranes(model: nn.Module) -> Iterator[list[_SpikingNeuron]]:
    """Within the block every neuron of ``model`` stores its last pre-spike
    membrane sequence in ``.membrane``; yields the neurons in forward order."""
    neurons = spiking_neurons(model)
    for n in neurons:
        n.record = True
    try:
        yield neurons
    finally:
        for n in neurons:
            n.record = False
            n.membrane = None
