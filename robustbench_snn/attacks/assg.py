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

from ..core.surrogate import SURROGATES, spike_with_width
from ..interop.foreign_neurons import OwnNeurons, find_neurons, override_backward

#: The paper's defaults (their attack.py and README's evaluation command).
VANISHING_BOUND = 0.425  # A
RELAX = 1.5  # r
BETA_1 = BETA_2 = 0.9
EPS = 1e-4


def updated_moments(m: torch.Tensor, d: torch.Tensor, first: torch.Tensor, beta_1: float, beta_2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(M, D)`` after one iteration's ``|u|`` (``first``)."""
    m = beta_1 * m + (1 - beta_1) * first
    return m, beta_2 * d + (1 - beta_2) * (first - m).abs()


@dataclass
class AdaptiveSharpness:
    """ASSG state for one attack run on a batch of ``rows`` examples: the moments of each
    (neuron, time step), ``[rows, ...]``. Call :meth:`next_iteration` before each of the
    attack's gradient evaluations: the next forward pass of the model updates the moments
    (:func:`adaptive_sharpness` ends :attr:`updating` after every pass).

    Where the moments live: a neuron of ours keeps them in ``assg_moments``, one ``(M, D)``
    pair per time step, allocated by the run's first pass (eager). Every later pass may run
    through the compiled path (:mod:`.compiled`), which takes the moments as graph inputs,
    their row count marked dynamic: one graph for the passes that update them (an
    iteration's first), returning the new moments as outputs that dynamo rebinds in the
    list, and one for the passes that only read them, each serving every iteration and
    batch of every run. Nothing here writes a tensor in place: an update makes new tensors
    and rebinds them. An in-place update was tried first: the moments were then graph
    inputs mutated in place, and inductor (torch 2.13) recomputed the width in the
    backward from the mutated inputs (measured: gradients 0.6% off eager; the backward
    graph multiplied the already-updated ``M`` by ``β1`` again). A foreign neuron's moments
    are kept in :attr:`moments`, keyed by (spike function, step)."""

    rows: int
    vanishing_bound: float = VANISHING_BOUND
    relax: float = RELAX
    beta_1: float = BETA_1
    beta_2: float = BETA_2
    #: whether the current pass updates the moments (the first pass of an iteration)
    updating: bool = True
    moments: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # foreign neurons

    @property
    def scale(self) -> float:
        """``a = 2 tan(π A) / π``."""
        return 2 * math.tan(math.pi * self.vanishing_bound) / math.pi

    def next_iteration(self) -> None:
        """The next forward pass (the first EOT draw of a new iterate) updates the moments."""
        self.updating = True

    def pass_done(self) -> None:
        """The model's pass is over: later passes (the iterate's other EOT draws) keep the moments."""
        self.updating = False

    def allocate(self, neuron: nn.Module, x_seq: torch.Tensor) -> None:
        """Give a neuron of ours its moments, ``M = 1`` and ``D = 0`` at each of the ``T`` steps
        of ``x_seq: [T, B, ...]``, unless it has them: the start of the run."""
        if neuron.assg_moments is None:
            shape = (self.rows, *x_seq.shape[2:])
            neuron.assg_moments = [(x_seq.new_ones(shape), x_seq.new_zeros(shape)) for _ in range(len(x_seq))]

    def width_and_moments(self, moments: tuple[torch.Tensor, torch.Tensor], u: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``(width, moments)``: the atan width ``2 / α_t`` for every row of ``u: [k * rows (+
        padding), ...]`` (``k`` EOT copies stacked; a copy shares its example's width), and
        ``moments`` (``M``, ``D``: ``[rows, ...]``) as they are after this pass: updated from the
        first copy on an updating pass (new tensors: nothing is written in place), else the
        same. The row count is read from the moments' shape, not from :attr:`rows`, so a
        compiled reading pass keeps it symbolic."""
        m, d = moments
        rows = m.shape[0]
        if self.updating:
            m, d = updated_moments(m, d, u[:rows].detach().abs(), self.beta_1, self.beta_2)
        alpha = self.scale / (m + self.relax * d + EPS)
        return (2.0 / alpha)[torch.arange(u.shape[0], device=u.device) % rows], (m, d)

    def foreign_moments(self, key: tuple[int, int], u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A foreign neuron's moments at one step, ``[rows, ...]`` each (``M = 1``, ``D = 0`` at first)."""
        if key not in self.moments:
            first = u[: self.rows].detach()
            self.moments[key] = (torch.ones_like(first), torch.zeros_like(first))
        return self.moments[key]

    def spike(self, neuron: nn.Module, t: int, u: torch.Tensor) -> torch.Tensor:
        """``H(u)`` forward, atan at the adaptive sharpness backward (a neuron of ours)."""
        width, neuron.assg_moments[t] = self.width_and_moments(neuron.assg_moments[t], u)
        return spike_with_width(u, "atan", width)


class AdaptiveOverride(nn.Module):
    """A foreign neuron's spike function (SpikingJelly's ``surrogate_function``, snntorch's
    ``spike_grad``) with its forward kept and ASSG's backward; it counts its calls within a
    forward pass of the model for the time step (:func:`adaptive_sharpness` resets the count
    before every pass)."""

    def __init__(self, original, state: AdaptiveSharpness, lift=lambda derivative: derivative) -> None:
        super().__init__()
        self._original, self.state, self.step, self.lift = (original,), state, 0, lift

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        key = (id(self), self.step)
        width, self.state.moments[key] = self.state.width_and_moments(self.state.foreign_moments(key, u), u)
        self.step += 1
        return override_backward(self._original[0], u, self.lift(lambda v: SURROGATES["atan"](v, width)))


@contextmanager
def adaptive_sharpness(model: nn.Module, rows: int, **settings) -> Iterator[AdaptiveSharpness | None]:
    """Within the block every recognised spiking neuron of ``model`` (ours, SpikingJelly's,
    snntorch's: :mod:`.interop`) backpropagates ASSG; yields the state (``None`` when
    ``model`` has no recognised neuron: it keeps its own gradient)."""

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
            override = AdaptiveOverride(original, state, n.family.lift(n.module))
            n.family.set_spike_fn(n.module, override)
            overrides.append((n, original, override))

    def restart_steps(module, args) -> None:  # every pass of the model starts at step 0
        for _, _, override in overrides:
            override.step = 0

    hooks = [model.register_forward_pre_hook(restart_steps), model.register_forward_hook(lambda *_: state.pass_done())]
    try:
        yield state
    finally:
        for hook in hooks:
            hook.remove()
        for module in own:
            module.sharpness, module.assg_moments = None, None
        for n, original, _ in reversed(overrides):
            n.family.set_spike_fn(n.module, original)
