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
Attack gradient modes (:func:`own_gradient_mode`): ``bptt`` (default) backprops
through the membrane recurrence with the surrogate; ``bptr`` and ``rga``
replace each neuron's backward by one factor per element, the same at every
step, computed from firing rates (no temporal credit) -- see
:class:`_RateGradient`.

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

from .errors import UnknownNameError
from .registry import Registry
from .surrogate import Surrogate, heaviside, spike, spike_with_width

GRAD_MODES = ("bptt", "bptr", "rga")
#: RGA's slope in the sub-threshold region and its upper-range extension (Bu et al. 2023).
RGA_GAMMA = 0.2
RGA_EXTENSION = 1.0


def rga_factor(current: torch.Tensor, decay: float) -> torch.Tensor:
    """RGA's approximate derivative of a leaky neuron's firing rate w.r.t. its
    mean threshold-normalised input current ``c`` (Bu, Ding, Hao & Yu, "Rate
    Gradient Approximation Attack Threats Deep Spiking Neural Networks",
    CVPR 2023): with membrane decay factor ``λ``, the rate rises from 0 at
    ``c = 1 - λ`` to 1 near ``c = 1``, so the slope is
    ``(1 - γ + γλ) / (λ + e)`` on ``[1 - λ, 1 + e]``, ``γ`` on ``[0, 1 - λ)``, 0 elsewhere.
    """
    on = ((current >= 1 - decay) & (current <= 1 + RGA_EXTENSION)).to(current.dtype)
    low = ((current >= 0) & (current < 1 - decay)).to(current.dtype)
    return on * (1 - RGA_GAMMA + RGA_GAMMA * decay) / (decay + RGA_EXTENSION) + low * RGA_GAMMA


class _RateGradient(torch.autograd.Function):
    """Forward: the neuron's spikes unchanged. Backward: ``∂s_t/∂c_t`` is replaced by
    one factor per element, shared by all steps (no backprop through the membrane):

    * ``bptr`` (backward pass through rate, as used against SNN-RAT; Ding et
      al., NeurIPS 2022): ``1[mean_t s_t > 0]`` -- a ReLU on the rate;
    * ``rga``: :func:`rga_factor` of the mean normalised current.

    The factor ``[1, B, ...]`` is computed in the forward and saved alone (it depends only
    on the forward's values): the backward is one product, and a compiled graph keeps one
    tensor per neuron instead of the ``[T, B, ...]`` current and spikes.
    """

    @staticmethod
    def forward(ctx, current, spikes, mode: str, decay: float | torch.Tensor):  # type: ignore[override]
        if mode == "bptr":
            factor = (spikes.mean(0, keepdim=True) > 0).to(current.dtype)
        else:
            factor = rga_factor(current.mean(0, keepdim=True), decay)
        ctx.save_for_backward(factor)
        return spikes.clone()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (factor,) = ctx.saved_tensors
        return grad * factor, None, None, None


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
        # the surrogate's width also as a tensor, read by compiled graphs (surrogate.spike_with_width);
        # not persistent: checkpoints are unchanged
        self.register_buffer("surrogate_width", torch.tensor(1.0), persistent=False)
        self.surrogate = Surrogate.parse(surrogate)
        self.detach_reset = detach_reset
        self.init_fraction = init_fraction
        #: set by :func:`own_gradient_mode`: how an attack's backward pass crosses this neuron
        self.grad_mode = "bptt"
        #: set by :func:`.assg.adaptive_sharpness`: an attack's per-element surrogate sharpness,
        #: whose moments (``M``, ``D``: ``[rows, ...]`` per time step) this list holds during the
        #: attack. Plain tensors, not buffers: dynamo keeps a buffer's shape static even when
        #: marked dynamic (``force_parameter_static_shapes``), and the rows change from batch to batch
        self.sharpness = None
        self.assg_moments: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        #: set by :func:`record_membranes`; then ``membrane`` is the last call's ``h: [T, B, ...]``
        self.record = False
        self.membrane: torch.Tensor | None = None

    @property
    def surrogate(self) -> Surrogate:
        """The derivative this neuron's spikes backpropagate (see :mod:`.surrogate`)."""
        return self._surrogate

    @surrogate.setter
    def surrogate(self, value: Surrogate) -> None:
        self._surrogate = value
        # in place: a compiled graph holding this buffer sees the new width without recompiling
        self.surrogate_width.fill_(value.width)

    def _spike(self, x: torch.Tensor, t: int) -> torch.Tensor:
        if self.sharpness is not None:  # an attack's adaptive surrogate (eager, or compiled once it has moments)
            return self.sharpness.spike(self, t, x)
        if torch.compiler.is_compiling():
            # without gradients the surrogate is never used: not reading it keeps one
            # inference graph for every surrogate (the compiler guards on what a graph
            # reads; measured: 2 of the 8 graphs of a digits rsc-snn standard evaluation)
            if not torch.is_grad_enabled():
                return heaviside(x)
            # compiled graphs read the width as data (one gradient graph per surrogate family)
            return spike_with_width(x, self._surrogate.name, self.surrogate_width)
        return spike(x, self.surrogate)

    def charge(self, v: torch.Tensor, x: torch.Tensor, t: int) -> torch.Tensor:
        """Membrane after integrating input ``x`` at step ``t`` (before the spike)."""
        raise NotImplementedError

    @property
    def decay_factor(self) -> float | torch.Tensor:
        """``λ`` in ``h_t = λ v_{t-1} + (input)``: 1 for IF; a 0-d tensor where it is computed
        from a tensor (PLIF), so a compiled graph reads it as data instead of breaking on ``.item()``."""
        return 1.0

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        # x_seq: [T, B, ...] -> spikes [T, B, ...]
        if self.grad_mode == "bptt":
            return self._simulate(x_seq)
        with torch.no_grad():
            spikes = self._simulate(x_seq)
        zero = torch.zeros_like(x_seq[0])
        current = torch.stack([self.charge(zero, x, t) for t, x in enumerate(x_seq)]) / self.v_threshold
        return _RateGradient.apply(current, spikes, self.grad_mode, self.decay_factor)

    def _simulate(self, x_seq: torch.Tensor) -> torch.Tensor:
        """BPTT forward: membrane recurrence, surrogate spike, reset."""
        if self.sharpness is not None and not torch.compiler.is_compiling():
            self.sharpness.allocate(self, x_seq)  # the attack run's first pass (eager): M = 1, D = 0
        v = torch.zeros_like(x_seq[0]) + (self.v_reset or 0.0) + self.init_fraction * self.v_threshold
        spikes, membrane = [], []
        # unbind, not iteration: one backward node for all T slices instead of
        # T full-size zero-filled gradients (measured: an eighth of the backward)
        for t, x in enumerate(x_seq.unbind(0)):
            h = self.charge(v, x, t)
            if self.record:
                membrane.append(h)
            s = self._spike(h - self.v_threshold, t)
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
        return f"v_threshold={float(torch.as_tensor(self.v_threshold).detach()):g}, reset={reset}, surrogate={self.surrogate}"


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

    def _tau(self) -> torch.Tensor:
        """``tau = 1 / sigmoid(w)``, a 0-d float32 tensor."""
        return 1.0 / torch.sigmoid(self.w.detach())

    @property
    def tau(self) -> float:
        return float(self._tau())

    @property
    def decay_factor(self) -> torch.Tensor:
        # float64, as ``1 - 1 / self.tau`` in Python arithmetic (the same value), without the host sync
        return 1.0 - 1.0 / self._tau().double()

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

    @property
    def decay_factor(self) -> float:
        return self.decay

    def charge(self, v: torch.Tensor, x: torch.Tensor, t: int) -> torch.Tensor:
        return self.decay * v + self.p[t] * x

    def extra_repr(self) -> str:
        return f"decay={self.decay:g}, T={len(self.p)}, " + super().extra_repr()


#: Spiking neuron kinds by the name a model's ``neuron=`` build argument takes.
NEURONS: Registry[type[_SpikingNeuron]] = Registry("neuron")
NEURONS.register("if", IFNode)
NEURONS.register("lif", LIFNode)
NEURONS.register("dlif", DLIFNode)


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


@contextmanager
def own_gradient_mode(model: nn.Module, mode: str) -> Iterator[None]:
    """Within the block every neuron of this package in ``model`` backpropagates in ``mode``
    (:data:`GRAD_MODES`); :func:`~robustbench_snn.interop.foreign_neurons.gradient_mode` covers
    every recognised neuron."""
    if mode not in GRAD_MODES:
        raise UnknownNameError("gradient mode", mode, GRAD_MODES)
    neurons = spiking_neurons(model)
    saved = [n.grad_mode for n in neurons]
    for n in neurons:
        n.grad_mode = mode
    try:
        yield
    finally:
        for n, m in zip(neurons, saved):
            n.grad_mode = m
