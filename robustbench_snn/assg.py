"""Adaptive Sharpness Surrogate Gradient (ASSG): a surrogate whose sharpness follows
the membrane potentials an attack meets.

Wang, Zhao, Chen, Zhang & Zeng, "Towards reliable evaluation of adversarial
robustness for spiking neural networks", arXiv 2512.22522 (2025), Section 4
(repository craree/Towards-Reliable-Evaluation-..., ``my_node.py``, ``ASSGrad``).
A fixed surrogate either approximates the spike badly (wide) or vanishes for
membranes far from threshold (sharp). ASSG keeps, for every neuron, time step
and element of every example, running moments of ``u = v - v_th`` over the
attack's iterations,

    M_t <- β1 M_t + (1 - β1) |u_t|,         D_t <- β2 D_t + (1 - β2) | |u_t| - M_t |

(``M = 1``, ``D = 0`` at the start of an attack run), and backpropagates the
atan surrogate (SpikingJelly's form, ``g(u) = (α/2) / (1 + (π α u / 2)²)``) with

    α_t = a / (M_t + r · D_t + 1e-4),       a = 2 tan(π A) / π,

so the expected gradient-vanishing degree stays bounded by ``A`` (their
``alpha``, default 0.425) with relaxation ``r`` (1.5) and momenta 0.9 / 0.9. The
moments move once per attack iteration, on its first EOT draw (their
``eot_flag``); the other draws of the iteration use the same sharpness.

Why our own: the paper's code lives inside braincog's neuron classes; ours
attaches the same state, for the length of one attack run
(:func:`adaptive_sharpness`), to the neurons of :mod:`.neurons` and, through
:mod:`.interop`, to SpikingJelly's and snntorch's, so any SNN whose neurons we
recognise can be attacked with it. A model without recognised neurons keeps its
own gradient.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from .surrogate import spike_with_width

#: The paper's defaults (their attack.py and README's evaluation command).
VANISHING_BOUND = 0.425  # A
RELAX = 1.5  # r
BETA_1 = BETA_2 = 0.9
EPS = 1e-4


@dataclass
class AdaptiveSharpness:
    """ASSG state for one attack run on a batch of ``rows`` examples: the moments of each
    (neuron, time step), ``[rows, ...]``. Call :meth:`next_iteration` before each of the
    attack's gradient evaluations: the first forward pass after it updates the moments."""

    rows: int
    vanishing_bound: float = VANISHING_BOUND
    relax: float = RELAX
    beta_1: float = BETA_1
    beta_2: float = BETA_2
    moments: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    _seen: set = field(default_factory=set)  # (neuron, step) keys updated since next_iteration()

    @property
    def scale(self) -> float:
        """``a = 2 tan(π A) / π``."""
        return 2 * math.tan(math.pi * self.vanishing_bound) / math.pi

    def next_iteration(self) -> None:
        """The next forward pass (the first EOT draw of a new iterate) updates the moments."""
        self._seen = set()

    def sharpness(self, neuron: nn.Module, t: int, u: torch.Tensor) -> torch.Tensor:
        """``α_t`` for ``u: [k * rows, ...]`` (``k`` EOT copies stacked), ``[rows, ...]``."""
        key = (id(neuron), t)
        first = u[: self.rows].detach().abs()
        m, d = self.moments.get(key, (torch.ones_like(first), torch.zeros_like(first)))
        if key not in self._seen:
            m = self.beta_1 * m + (1 - self.beta_1) * first
            d = self.beta_2 * d + (1 - self.beta_2) * (first - m).abs()
            self.moments[key] = (m, d)
            self._seen.add(key)
        return self.scale / (m + self.relax * d + EPS)

    def width(self, neuron: nn.Module, t: int, u: torch.Tensor) -> torch.Tensor:
        """The atan width ``2 / α_t`` for every row of ``u`` (EOT copies share their example's)."""
        alpha = self.sharpness(neuron, t, u)
        return (2.0 / alpha).repeat(u.shape[0] // self.rows, *([1] * (u.dim() - 1)))

    def spike(self, neuron: nn.Module, t: int, u: torch.Tensor) -> torch.Tensor:
        """``H(u)`` forward, atan at the adaptive sharpness backward (a neuron of ours)."""
        return spike_with_width(u, "atan", self.width(neuron, t, u))


class AdaptiveOverride(nn.Module):
    """A foreign neuron's spike function (SpikingJelly's ``surrogate_function``, snntorch's
    ``spike_grad``) with its forward kept and ASSG's backward; it counts its calls within a
    forward pass of the model for the time step (:func:`adaptive_sharpness` resets the count
    before every pass)."""

    def __init__(self, original, state: AdaptiveSharpness) -> None:
        super().__init__()
        self._original, self.state, self.step = (original,), state, 0

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        from .interop import override_backward
        from .surrogate import SURROGATES

        width = self.state.width(self, self.step, u)
        self.step += 1
        return override_backward(self._original[0], u, lambda v: SURROGATES["atan"](v, width))


@contextmanager
def adaptive_sharpness(model: nn.Module, rows: int, **settings) -> Iterator[AdaptiveSharpness | None]:
    """Within the block every recognised spiking neuron of ``model`` (ours, SpikingJelly's,
    snntorch's: :mod:`.interop`) backpropagates ASSG; yields the state (``None`` when
    ``model`` has no recognised neuron: it keeps its own gradient)."""
    from .interop import OwnNeurons, find_neurons

    neurons = find_neurons(model)
    if not neurons:
        yield None
        return
    state = AdaptiveSharpness(rows, **settings)
    own = [n.module for n in neurons if n.family.name == OwnNeurons.name]
    overrides: list[tuple[object, object, AdaptiveOverride]] = []
    for n in neurons:
        if n.family.name == OwnNeurons.name:
            n.module.sharpness = state
        else:
            original = n.family.spike_fn(n.module)
            override = AdaptiveOverride(original, state)
            n.family.set_spike_fn(n.module, override)
            overrides.append((n, original, override))

    def restart_steps(module, args) -> None:  # every pass of the model starts at step 0
        for _, _, override in overrides:
            override.step = 0

    hook = model.register_forward_pre_hook(restart_steps)
    try:
        yield state
    finally:
        hook.remove()
        for module in own:
            module.sharpness = None
        for n, original, _ in reversed(overrides):
            n.family.set_spike_fn(n.module, original)
