"""Neuron interop: find, reset and re-wire the spiking neurons of *any* model.

A white-box attack on an SNN is only as strong as the control it has over the
spiking neurons: which surrogate derivative their Heaviside backpropagates
(Neftci et al., IEEE SPM 2019), whether gradients cross them through time
(BPTT) or through rates (BPTR / RGA), and whether their membrane state is
cleared between forward passes. Our own neurons expose all of that; users
bring neurons from SpikingJelly (``activation_based``: ``BaseNode`` with a
``surrogate_function`` module and ``functional.reset_net``) and snntorch
(``SpikingNeuron``: a ``spike_grad`` callable, hidden state in non-persistent
buffers such as ``mem`` when ``init_hidden=True``, ``utils.reset``).

One small :class:`NeuronFamily` per library knows how to recognise its
neurons, reset their state and swap the function that makes their spikes.
The swap keeps the library's forward value *exactly* and replaces only the
backward (:class:`SurrogateOverride`): predictions never change, only the
gradients an attack sees. The same device is BPDA (Athalye, Carlini & Wagner,
ICML 2018, Sec. 4.1) when a neuron's own backward is zero or absent.

Why our own rather than the libraries' helpers: ``snntorch.utils.reset``
only looks at a network's top-level children and resets *every* instance of
a class in the process (class-level ``instances`` lists), and neither
library can put another library's surrogate on its neurons.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from spikingjelly.activation_based import functional
from spikingjelly.activation_based.neuron import IFNode, LIFNode
from spikingjelly.activation_based.surrogate import MultiLevelSpikeCount
from torch import nn

from ..core.classifier import ANNClassifier
from ..core.errors import UserInputError
from ..core.neurons import _RateGradient, own_gradient_mode
from ..core.registry import Registry
from ..core.surrogate import Surrogate

#: Real surrogate put on neurons whose own backward is zero or absent (BPDA).
BPDA_SURROGATE = Surrogate("atan", 1.0)


class NeuronFamily:
    """How one neuron library's neurons are found, reset and re-wired."""

    name = "?"
    #: ``(module, class)`` every neuron of the family derives from; None if the library is absent
    base_class: tuple[str, str] = ("", "")

    def owns(self, module: nn.Module) -> bool:
        cls = _library_class(*self.base_class)
        return cls is not None and isinstance(module, cls)

    def rate_terms(self, neuron: nn.Module) -> tuple[Callable[[torch.Tensor], torch.Tensor], float] | None:
        """For ``bptr`` / ``rga``: ``(current, decay)`` where ``current(x_seq)`` is the
        neuron's threshold-normalised input current ``[T, B, ...]`` (its charge from
        rest, as :meth:`robustbench_snn.core.neurons._SpikingNeuron.forward` computes it)
        and ``decay`` its membrane decay factor; ``None`` where the neuron does not
        see its whole input sequence in one call, so a rate gradient cannot be built."""
        return None

    def reset(self, neuron: nn.Module) -> None:
        """Clear the neuron's state so the next forward pass starts fresh."""

    def spike_fn(self, neuron: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        """The function mapping ``v - v_threshold`` to spikes, as the neuron calls it."""
        raise NotImplementedError

    def set_spike_fn(self, neuron: nn.Module, fn) -> None:
        raise NotImplementedError

    def lift(self, neuron: nn.Module) -> Callable[[Derivative], Derivative]:
        """How the derivative of one binary spike (a surrogate's) becomes this neuron's: the
        identity for a neuron that emits 0 or 1, :func:`multi_level` for one that emits counts."""
        return _identity


#: A surrogate derivative: membrane offset -> dspike/doffset, element-wise.
Derivative = Callable[[torch.Tensor], torch.Tensor]


def _identity(derivative: Derivative) -> Derivative:
    return derivative


def multi_level(derivative: Derivative, levels: int) -> Derivative:
    """The surrogate derivative of a multi-level spike ``round(clip(x, 0, D))`` (I-LIF's
    integer spike count, Luo et al., "Integer-Valued Training and Spike-Driven Inference
    Spiking Neural Network", ECCV 2024, eq. 4; SpikingJelly's ``MultiLevelSpikeCount``).
    The staircase is a sum of D Heavisides, ``Σ_{k=1..D} H(x - (k - 1/2))``, so with each
    Heaviside's derivative replaced by a one-spike surrogate ``s'`` its derivative is
    ``Σ_k s'(x - (k - 1/2))``: a surrogate bump at every level's rounding edge, where the
    count changes. (The library's own backward is the straight-through rectangle on
    ``[0, D]``; this is what a named attack surrogate means for such a neuron.)"""

    def derivative_of_count(x: torch.Tensor) -> torch.Tensor:
        return sum(derivative(x - (k - 0.5)) for k in range(1, levels + 1))

    return derivative_of_count


@functools.cache
def _library_class(module: str, name: str):
    """``module.name`` if that library is installed, else None (the neuron libraries are optional)."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        return None


@functools.cache
def _quiet_triton_probe() -> None:
    """SpikingJelly's CPU kernels ask torch for Triton on first use; on a CPU-only host torch
    logs "Triton not available" to stderr on every run -- noise, not a problem. Once."""
    logging.getLogger("torch._library.triton").setLevel(logging.ERROR)


#: The neuron libraries whose neurons we recognise, by family name.
FAMILIES: Registry[NeuronFamily] = Registry("neuron family")


def register_family(cls: type[NeuronFamily]) -> type[NeuronFamily]:
    FAMILIES.register(cls.name, cls())
    return cls


@register_family
class OwnNeurons(NeuronFamily):
    """robustbench_snn's neurons: stateless across calls, surrogate a :class:`Surrogate` attribute."""

    name = "robustbench_snn"

    base_class = ("robustbench_snn.core.neurons", "_SpikingNeuron")


@register_family
class SpikingJellyNeurons(NeuronFamily):
    """SpikingJelly ``activation_based.neuron.BaseNode`` (single- and multi-step)."""

    name = "spikingjelly"

    base_class = ("spikingjelly.activation_based.neuron", "BaseNode")

    def owns(self, module):
        _quiet_triton_probe()
        return super().owns(module)

    def reset(self, neuron):
        neuron.reset()

    def spike_fn(self, neuron):
        return neuron.surrogate_function

    def set_spike_fn(self, neuron, fn):
        neuron.surrogate_function = fn
        ilif = _library_class("spikingjelly.activation_based.neuron", "ILIFNode")
        if ilif is not None and isinstance(neuron, ilif):
            _route_ilif_through(neuron, fn)

    def lift(self, neuron):
        levels = spike_levels(self.spike_fn(neuron))
        return _identity if levels is None else functools.partial(multi_level, levels=levels)

    def rate_terms(self, neuron):
        """Multi-step ``IFNode`` (``H = V + X``) and ``LIFNode`` (``H = V + (X - (V - V_reset)) / tau``
        with ``decay_input``, else ``H = V - (V - V_reset) / tau + X``), charged from ``V = 0``."""

        if getattr(neuron, "step_mode", "s") != "m" or type(neuron) not in (IFNode, LIFNode):
            return None
        v_th, v_reset = float(neuron.v_threshold), float(neuron.v_reset or 0.0)
        if type(neuron) is IFNode:
            return (lambda x_seq: x_seq / v_th), 1.0
        tau = float(neuron.tau)
        if neuron.decay_input:
            return (lambda x_seq: (x_seq + v_reset) / tau / v_th), 1.0 - 1.0 / tau
        return (lambda x_seq: (x_seq + v_reset / tau) / v_th), 1.0 - 1.0 / tau


def _route_ilif_through(neuron: nn.Module, fn) -> None:
    """Make an I-LIF neuron's multi-step forward call ``fn`` as its spike function.

    SpikingJelly's multi-step I-LIF runs one fused operator that accepts only its own
    ``MultiLevelSpikeCount`` and never calls ``surrogate_function``, so a swapped spike
    function would be silently ignored. While ``fn`` is another function, the neuron's
    multi-step forward iterates SpikingJelly's own single-step ``ilif_step`` (charge, spike
    ``fn(H / V_th)``, soft reset) over T; with its ``MultiLevelSpikeCount`` back, the fused
    operator runs again."""

    if type(fn) is MultiLevelSpikeCount:
        neuron.__dict__.pop("multi_step_forward", None)
        return

    def multi_step_forward(x_seq: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        # x_seq: [T, B, ...] -> spike counts [T, B, ...]
        (v,) = neuron.materialize_states((x_seq, *args), tuple(neuron._memories.values()), "m")[:1]
        spikes = []
        for x in x_seq:
            spike, v = functional.ilif_step(x, v, neuron.tau, neuron.v_threshold, neuron.surrogate_function, neuron.detach_reset)
            spikes.append(spike)
        neuron.v = v
        return torch.stack(spikes)

    neuron.multi_step_forward = multi_step_forward


def spike_levels(fn) -> int | None:
    """D of a SpikingJelly multi-level spike function (``MultiLevelSpikeCount``: counts 0..D,
    as I-LIF fires), None for a binary one."""
    levels = getattr(fn, "max_spike_count", None)
    return int(levels) if getattr(fn, "spiking", False) and isinstance(levels, int) else None


@register_family
class SpikingJellyParallelNeurons(SpikingJellyNeurons):
    """SpikingJelly's parallel spiking neurons (Fang et al., "Parallel Spiking Neurons with
    High Efficiency and Ability to Learn Long-term Dependencies", NeurIPS 2023): ``PSN``,
    ``MaskedPSN`` and ``SlidingPSN`` compute every step's membrane at once as a learnable
    linear map over time and spike through ``surrogate_function``; they are not ``BaseNode``s.
    ``PSN`` keeps no state; the masked and sliding ones are memory modules with ``reset()``.
    No rate gradient: their charge is not a leaky integration (``bptr``/``rga`` are refused)."""

    name = "spikingjelly-psn"
    base_classes = (("spikingjelly.activation_based.neuron", "PSN"), ("spikingjelly.activation_based.neuron", "MaskedPSN"),
                    ("spikingjelly.activation_based.neuron", "SlidingPSN"))

    def owns(self, module):
        _quiet_triton_probe()
        return any(cls is not None and isinstance(module, cls) for cls in (_library_class(*c) for c in self.base_classes))

    def reset(self, neuron):
        if hasattr(neuron, "reset"):
            neuron.reset()

    def rate_terms(self, neuron):
        return None


@register_family
class TracedSpikes(NeuronFamily):
    """Spike sites found in a plain-PyTorch model's traced graph (:mod:`.spike_tracing`): the
    model's own value forward, a surrogate derivative at the site's membrane offset backward."""

    name = "traced"

    base_class = ("robustbench_snn.interop.spike_tracing", "TracedSpike")

    def spike_fn(self, neuron):
        return neuron.spike_function

    def set_spike_fn(self, neuron, fn):
        neuron.spike_function = fn


@register_family
class SnntorchNeurons(NeuronFamily):
    """snntorch ``SpikingNeuron`` family (Leaky, Synaptic, Alpha, RLeaky, ...)."""

    name = "snntorch"

    base_class = ("snntorch._neurons.neurons", "SpikingNeuron")

    def reset(self, neuron):
        # hidden state (mem, syn, spk...) lives in non-persistent buffers; zeros as reset_hidden() does
        for name in neuron._non_persistent_buffers_set:
            value = getattr(neuron, name)
            if isinstance(value, torch.Tensor):
                setattr(neuron, name, torch.zeros_like(value))

    def spike_fn(self, neuron):
        return neuron.spike_grad

    def set_spike_fn(self, neuron, fn):
        if "spike_grad" in neuron._modules:  # the user passed a module as spike_grad
            setattr(neuron, "spike_grad", fn)
        else:  # a plain callable: keep it a plain attribute (nn.Module would register a module as a child)
            neuron.__dict__["spike_grad"] = fn


@dataclass(frozen=True)
class Neuron:
    module: nn.Module
    family: NeuronFamily


def require_module(model: object, what: str) -> None:
    """Refuse, in one line, a ``model`` that is not a ``torch.nn.Module`` (``what`` names the call)."""
    if not isinstance(model, nn.Module):
        raise UserInputError(f"{what} needs a torch.nn.Module, got {type(model).__name__}")


def find_neurons(model: nn.Module) -> list[Neuron]:
    """Every recognised spiking neuron inside ``model``, in module order."""
    require_module(model, "find_neurons")
    found = []
    for m in model.modules():
        for fam in FAMILIES.values():
            if fam.owns(m):
                found.append(Neuron(m, fam))
                break
    return found


def measured_time_steps(model: nn.Module, x: torch.Tensor) -> int | None:
    """Time steps one forward pass of ``model`` on ``x`` runs, read off its recognised neurons:
    the calls of a single-step neuron, or the leading (time) dimension of a multi-step one's
    input (SpikingJelly's ``step_mode='m'``), the most over the neurons; None without any."""
    neurons = find_neurons(model)
    counts: dict[int, int] = {}

    def hook(module, inputs, output):
        multi = getattr(module, "step_mode", "s") == "m" and inputs and isinstance(inputs[0], torch.Tensor)
        counts[id(module)] = counts.get(id(module), 0) + (int(inputs[0].shape[0]) if multi else 1)

    handles = [n.module.register_forward_hook(hook) for n in neurons]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return max(counts.values()) if counts else None


#: Layers whose forward is a fixed piecewise-smooth function that autograd differentiates
#: exactly: no threshold, no state, no surrogate.
EXACT_GRADIENT_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Sequential, nn.Conv2d, nn.Linear, nn.ReLU, nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool2d, nn.MaxPool2d,
    nn.AdaptiveAvgPool2d, nn.Flatten, nn.Dropout, nn.Identity,
)


def has_exact_gradient(model: nn.Module) -> bool:
    """Whether ``model`` provably has no spike anywhere, so autograd's input gradient is
    the true one: every module is, by its exact type, one of :data:`EXACT_GRADIENT_LAYERS`
    or our ``ANNClassifier`` (whose forward is its ``net``). Exact types, because a
    subclass (or any class of a user's own) may threshold inside its forward; a model
    that is not provably spike-free is treated as an SNN, which costs more and never less."""

    require_module(model, "has_exact_gradient")
    allowed = (*EXACT_GRADIENT_LAYERS, ANNClassifier)
    return all(type(m) in allowed for m in model.modules())


def neuron_summary(model: nn.Module) -> str:
    """``'snntorch:Leaky x3'``-style description of the model's neurons (``'none'`` if none)."""
    counts: dict[str, int] = {}
    for n in find_neurons(model):
        key = f"{n.family.name}:{type(n.module).__name__}"
        counts[key] = counts.get(key, 0) + 1
    return ";".join(f"{k} x{v}" for k, v in counts.items()) or "none"


def state_resets(model: nn.Module) -> list[Callable[[], None]]:
    """One call per piece of state in ``model`` that may carry across forward passes: each
    foreign neuron's reset, and each other SpikingJelly memory module's (ours keep none)."""
    neurons = find_neurons(model)
    resets = [functools.partial(n.family.reset, n.module) for n in neurons if n.family.name != OwnNeurons.name]
    memory = _library_class("spikingjelly.activation_based.base", "MemoryModule")
    if memory is not None:
        owned = {id(n.module) for n in neurons}
        resets += [m.reset for m in model.modules() if isinstance(m, memory) and id(m) not in owned]
    return resets


def reset_states(model: nn.Module) -> None:
    """Reset every stateful neuron (and SpikingJelly memory module) of ``model``."""
    for reset in state_resets(model):
        reset()


class _OverrideBackward(torch.autograd.Function):
    """Forward: a given value (the library's own spikes). Backward: ``grad * g(x)``,
    ``g`` a callable (a :class:`Surrogate`'s ``grad``, or ASSG's atan at a per-element
    sharpness, :mod:`.assg`)."""

    @staticmethod
    def forward(ctx, x, value, derivative):  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.derivative = derivative
        return value.clone()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * ctx.derivative(x), None, None


def override_backward(original, x: torch.Tensor, derivative) -> torch.Tensor:
    """``original(x)`` (a library's spike function) forward, ``derivative(x)`` backward."""
    with torch.no_grad():
        value = original(x.detach())
    return _OverrideBackward.apply(x, value.to(x.dtype), derivative)


class SurrogateOverride(nn.Module):
    """A neuron's spike function with its forward kept and its backward replaced by ``surrogate``.

    An ``nn.Module`` so that it can stand where SpikingJelly keeps its
    surrogate submodule; callable like snntorch's ``spike_grad`` closures.
    """

    def __init__(self, original, surrogate: Surrogate, lift: Callable[[Derivative], Derivative] = _identity) -> None:
        super().__init__()
        self._original = (original,)  # in a tuple: a module original is not registered as a child
        self.surrogate = surrogate
        self._derivative = lift(surrogate.grad)  # one spike's derivative, made the neuron's (multi-level: summed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return override_backward(self._original[0], x, self._derivative)

    def extra_repr(self) -> str:
        return f"backward={self.surrogate}"


def backward_is_zero(fn) -> bool:
    """True when ``fn`` (a spike function) gives no input gradient or an all-zero one
    on membrane offsets in [-2, 2] (where every published surrogate is non-zero)."""
    probe = torch.linspace(-2.0, 2.0, 401, requires_grad=True)
    try:
        out = fn(probe)
    except Exception:  # noqa: BLE001 - a spike function we cannot probe is treated as opaque
        return False
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return True
    (grad,) = torch.autograd.grad(out.sum(), probe, allow_unused=True)
    return grad is None or not bool(grad.abs().sum() > 0)


def zero_backward_neurons(model: nn.Module) -> list[Neuron]:
    """Recognised foreign neurons whose own surrogate is zero or absent: BPDA candidates."""
    return [n for n in find_neurons(model) if n.family.name != OwnNeurons.name and backward_is_zero(n.family.spike_fn(n.module))]


@contextmanager
def attack_surrogate(model: nn.Module, surrogate: Surrogate | str | None, *, bpda: bool = True) -> Iterator[None]:
    """Within the block every recognised neuron of ``model`` backpropagates ``surrogate``
    (``None``: each keeps its own, except that with ``bpda`` a foreign neuron whose
    own backward is zero gets :data:`BPDA_SURROGATE`); restored afterwards."""
    sg = Surrogate.parse(surrogate) if surrogate is not None else None
    saved: list[tuple[Neuron, object]] = []
    try:
        for n in find_neurons(model):
            if n.family.name == OwnNeurons.name:
                saved.append((n, n.module.surrogate))
                if sg is not None:
                    n.module.surrogate = sg
                continue
            current = n.family.spike_fn(n.module)
            use = sg if sg is not None else (BPDA_SURROGATE if bpda and backward_is_zero(current) else None)
            if use is not None:
                saved.append((n, current))
                n.family.set_spike_fn(n.module, SurrogateOverride(current, use, n.family.lift(n.module)))
        yield
    finally:
        for n, old in reversed(saved):
            if n.family.name == OwnNeurons.name:
                n.module.surrogate = old
            else:
                n.family.set_spike_fn(n.module, old)


def supports_rate_gradients(model: nn.Module) -> bool:
    """True when every recognised neuron of ``model`` can take ``bptr`` / ``rga`` (and there is one)."""
    neurons = find_neurons(model)
    return bool(neurons) and all(n.family.name == OwnNeurons.name or n.family.rate_terms(n.module) for n in neurons)


def _rate_forward(neuron: nn.Module, current, decay: float, mode: str):
    """``neuron``'s own multi-step forward for the spikes, :class:`~.neurons._RateGradient` for the backward."""

    forward = type(neuron).forward

    def rate_forward(x_seq, *args, **kwargs):
        # x_seq: [T, B, ...] -> spikes [T, B, ...]
        with torch.no_grad():
            spikes = forward(neuron, x_seq, *args, **kwargs)
        return _RateGradient.apply(current(x_seq), spikes, mode, decay)

    return rate_forward


@contextmanager
def gradient_mode(model: nn.Module, mode: str) -> Iterator[None]:
    """Within the block every neuron backpropagates in ``mode`` (bptt, bptr, rga).

    ``bptr`` and ``rga`` replace each neuron's backward by one factor per element
    computed from its firing rate or mean input current (:mod:`.neurons`); that
    needs the whole current sequence in one call. Our neurons and SpikingJelly's
    multi-step IF / LIF nodes have it; for any other neuron (snntorch's are
    called once per step) the mode is refused with an error instead of silently
    running BPTT.
    """

    patched: list[nn.Module] = []
    if mode != "bptt":
        foreign = [n for n in find_neurons(model) if n.family.name != OwnNeurons.name]
        unsupported = sorted({f"{n.family.name} {type(n.module).__name__}" for n in foreign if n.family.rate_terms(n.module) is None})
        if unsupported:
            raise UserInputError(
                f"gradient mode {mode!r} cannot be applied to {', '.join(unsupported)} neurons "
                f"(it needs each neuron's whole current sequence in one call); valid for this model: bptt"
            )
        for n in foreign:
            current, decay = n.family.rate_terms(n.module)
            n.module.forward = _rate_forward(n.module, current, decay, mode)  # an instance attribute shadows the method
            patched.append(n.module)
    try:
        with own_gradient_mode(model, mode):
            yield
    finally:
        for m in patched:
            del m.forward


def require_neurons(model: nn.Module, what: str) -> None:
    """Raise unless ``model`` has recognised spiking neurons for ``what`` to act on."""
    if not find_neurons(model):
        raise UserInputError(
            f"{what} cannot be applied: the model has no recognised spiking neurons "
            f"(valid neuron families: {', '.join(FAMILIES)}); leave it unset for this model"
        )


class ResetEachPass(nn.Module):
    """``model`` with every recognised neuron's state reset before each forward pass.

    Every pass the harness, the attacks, the masking checks, certification and
    the torchattacks / foolbox adapters make goes through this wrapper, so a
    stateful (snntorch ``init_hidden=True``, SpikingJelly) model is scored as
    the same function on every call and for any batch size.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        require_module(model, "ResetEachPass")
        self.model = model
        # found once: every attack step passes through forward(), and the modules do not change
        # while the model is evaluated (surrogate and gradient-mode swaps keep the neurons)
        self._resets = state_resets(model)

    @property
    def stochastic(self) -> bool:
        return bool(getattr(self.model, "stochastic", False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for reset in self._resets:
            reset()
        return self.model(x)


def needs_reset(model: nn.Module) -> bool:
    """True when ``model`` holds neurons (or memory modules) whose state may carry across calls."""
    return bool(state_resets(model))


def with_reset(model: nn.Module) -> nn.Module:
    """``model`` wrapped in :class:`ResetEachPass` if it holds state that may carry across calls."""
    return ResetEachPass(model).train(model.training) if needs_reset(model) and not isinstance(model, ResetEachPass) else model


class StatefulModelError(UserInputError):
    """The model's output depends on earlier calls even after its neurons were reset."""


def check_stateless(model: nn.Module, x: torch.Tensor, other: torch.Tensor) -> None:
    """Raise :class:`StatefulModelError` unless ``model(x)`` is the same before and after
    a call on ``other``, with the global RNG reseeded identically for both calls of
    ``x`` (so a stochastic model drawing from it passes)."""
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        first = model(x)
        model(other)
        torch.manual_seed(0)
        second = model(x)
    if not torch.equal(first, second):
        diff = (first - second).abs().max().item()
        unknown = "" if find_neurons(model) else " and none of its neurons is recognised"
        raise StatefulModelError(
            f"the model keeps state across forward passes{unknown}: the same input gave outputs differing by "
            f"{diff:.3g} after a call on another batch, with the same random seed; reset the state in its "
            f"forward() or build it from robustbench_snn, SpikingJelly or snntorch neurons"
        )
