"""Spikes nobody registered: found while the model runs and given a surrogate backward (BPDA).

A plain-PyTorch SNN makes its spikes with code no neuron library knows: ``(v >= thr).float()``,
``torch.heaviside``, or a custom ``autograd.Function`` whose backward is zero. Autograd then
gives the attack no gradient (a comparison has none), and only black-box members could attack
it: measured on such a model (digits, 200 images, eps 0.1), the standard evaluation ended at 51%
while APGD-T through an atan surrogate put in by hand reached 21%.

:class:`SpikeSites` runs the model under a ``TorchFunctionMode`` that sees every tensor
operation as it executes and finds every *spike site*: a comparison (``>=``, ``>``, ``<=``,
``<``) whose boolean result is cast to a float, a ``heaviside``, or a call of an
``autograd.Function`` subclass whose backward is zero on offsets in [-2, 2]. Each site (one
per line of the model's source, so a neuron called at every time step is one site) becomes a
:class:`TracedSpike` that passes the site's value through unchanged and backpropagates a
surrogate derivative at the site's membrane offset (``a - b`` for ``a >= b``): BPDA, Athalye,
Carlini & Wagner, ICML 2018, Sec. 4.1.

Why at run time rather than on a ``torch.fx`` graph: symbolic tracing fails on what SNN code
does all the time -- ``torch.zeros(x.shape[0], n)`` for a membrane, ``for t in range(x.shape[0])``
over a time-major input, branches on the data -- while the operations that run are always
there to see. The model's own code runs as it is, so its output is its own; :func:`trace_spikes`
still checks it bit for bit.

:class:`TracedSpike` is a neuron of its own family (:mod:`.interop`), so the attack surrogates,
the surrogate sweep, ASSG and the BPDA default reach it as they reach a library's neuron. A
site first met after the checks (a branch the probe did not take) is a site from then on, with
the model's own (zero) backward until the next attack re-wires the neurons.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .foreign_neurons import backward_is_zero

_TENSOR = torch.Tensor
#: Comparisons whose float cast is a Heaviside step, with the sign of the membrane offset:
#: ``a >= b`` spikes when ``a - b >= 0``; ``a <= b`` when ``b - a >= 0``.
_COMPARISONS = {
    _TENSOR.ge: 1, _TENSOR.gt: 1, _TENSOR.__ge__: 1, _TENSOR.__gt__: 1, torch.ge: 1, torch.gt: 1,
    _TENSOR.le: -1, _TENSOR.lt: -1, _TENSOR.__le__: -1, _TENSOR.__lt__: -1, torch.le: -1, torch.lt: -1,
}
_CASTS = {_TENSOR.float, _TENSOR.to, _TENSOR.type, _TENSOR.type_as, _TENSOR.half, _TENSOR.double, _TENSOR.bfloat16}
_HEAVISIDE = {torch.heaviside, _TENSOR.heaviside}
#: Frames of these files are not a site's place in the model's source.
_SKIPPED_FILES = (os.path.dirname(torch.__file__), __file__)


class _GivenSpikes(nn.Module):
    """A :class:`TracedSpike`'s own spike function: the site's value, as the model computed it.
    Called on anything else (a probe of its backward), a Heaviside of the input with no gradient,
    which is what the site's backward is: zero."""

    def __init__(self, site: "TracedSpike") -> None:
        super().__init__()
        self._site = (site,)  # not a child module

    def forward(self, offset: torch.Tensor) -> torch.Tensor:
        value = self._site[0].value
        if value is None or value.shape != offset.shape:
            return (offset.detach() >= 0).to(offset.dtype)
        return value.detach()  # its own backward is zero, or absent (heaviside's raises): none at all


class TracedSpike(nn.Module):
    """One spike site of a model: ``forward(offset, value)`` returns ``value`` (the model's own
    spikes) through ``spike_function``, which an attack may replace by a surrogate override
    (forward kept, backward a surrogate derivative at ``offset``)."""

    def __init__(self, site: str) -> None:
        super().__init__()
        self.site = site
        self.value: torch.Tensor | None = None
        self.spike_function: nn.Module = _GivenSpikes(self)

    def forward(self, offset: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        self.value = value
        try:
            offset = offset if isinstance(offset, torch.Tensor) else torch.as_tensor(offset)
            return self.spike_function(offset.to(value.dtype).expand_as(value))
        finally:
            self.value = None

    def extra_repr(self) -> str:
        return self.site


def _place() -> str:
    """``file:line`` of the innermost frame of the model's own code (outside torch and this module)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_SKIPPED_FILES):
        frame = frame.f_back
    if frame is None:
        return "?"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


@functools.cache
def _zero_backward(function: type, arity: int) -> bool:
    """Whether ``function.apply`` (an ``autograd.Function``) gives a zero input gradient on offsets in [-2, 2]."""

    apply = functools.partial(_ORIGINAL_APPLY, function)
    with torch.enable_grad():  # the model may be observed under no_grad: the probe needs autograd
        return backward_is_zero(lambda x: apply(x) if arity == 1 else apply(x, torch.zeros(())))


_ORIGINAL_APPLY = torch.autograd.function.Function.__dict__["apply"].__func__


class _SiteMode(TorchFunctionMode):
    """Sees each operation of one forward pass; hands spike sites' values to ``sites``."""

    def __init__(self, sites: "SpikeSites") -> None:
        super().__init__()
        self.sites = sites
        self.comparisons: dict[int, tuple[torch.Tensor, object, object, int, str]] = {}
        self.inside_function = 0

    @contextlib.contextmanager
    def unobserved(self):
        """Operations run inside are not the model's own (an ``autograd.Function``'s body, a probe)."""
        self.inside_function += 1
        try:
            yield
        finally:
            self.inside_function -= 1

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.inside_function or not isinstance(out, torch.Tensor):
            return out
        if func in _COMPARISONS and len(args) == 2 and out.dtype == torch.bool:
            a, b = args
            self.comparisons[id(out)] = (out, a, b, _COMPARISONS[func], getattr(func, "__name__", "compare"))
        elif func in _CASTS and args and out.is_floating_point() and (hit := self.comparisons.get(id(args[0]))) is not None and hit[0] is args[0]:
            _, a, b, sign, name = hit
            offset = (a - b) if sign > 0 else (b - a)
            return self.sites.site(f"{name.strip('_')}->{func.__name__}", _place())(offset, out)
        elif func in _HEAVISIDE and out.is_floating_point():
            return self.sites.site("heaviside", _place())(args[0], out)
        return out


@dataclass
class Tracing:
    """What :func:`trace_spikes` found: the wrapped model (None if no site), its sites, or why not."""

    model: nn.Module | None = None
    sites: list[str] = field(default_factory=list)
    reason: str = ""

    def record(self) -> dict:
        """The row's account (``params["spike-tracing"]``)."""
        return {"sites": self.sites} if self.sites else {"not traced": self.reason}


class SpikeSites(nn.Module):
    """``model`` run under :class:`_SiteMode`: every spike site of its forward through a
    :class:`TracedSpike` (``self.sites``, one per source line), everything else unchanged."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.sites = nn.ModuleDict()

    def site(self, kind: str, place: str) -> TracedSpike:
        key = re.sub(r"[^A-Za-z0-9_]", "_", f"{kind}@{place}")
        if key not in self.sites:
            self.sites[key] = TracedSpike(f"{kind}@{place}")
        return self.sites[key]

    @property
    def stochastic(self) -> bool:
        return bool(getattr(self.model, "stochastic", False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = _SiteMode(self)
        function = torch.autograd.function.Function
        saved = function.__dict__["apply"]

        def apply(cls, *args, **kwargs):
            with mode.unobserved():
                value = _ORIGINAL_APPLY(cls, *args, **kwargs)
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            if mode.inside_function or kwargs or not tensors or len(args) not in (1, 2) or not isinstance(value, torch.Tensor) \
                    or not value.is_floating_point() or not _zero_backward_guarded(cls, len(args), mode):
                return value
            offset = args[0] if len(args) == 1 else args[0] - args[1]
            return self.site(cls.__name__, _place())(offset, value)

        function.apply = classmethod(apply)
        try:
            with mode:
                return self.model(x)
        finally:
            function.apply = saved


def _zero_backward_guarded(cls: type, arity: int, mode: _SiteMode) -> bool:
    with mode.unobserved():  # the probe's own operations are not the model's
        return _zero_backward(cls, arity)


def trace_spikes(model: nn.Module, probe: torch.Tensor) -> Tracing:
    """``model`` in :class:`SpikeSites`, checked to give ``model``'s output bit for bit on
    ``probe`` and to have at least one spike site; or the reason it is left as it is."""
    wrapped = SpikeSites(model).train(model.training)
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            expected = model(probe)
            torch.manual_seed(0)
            got = wrapped(probe)
    except Exception as error:  # noqa: BLE001 - a model that cannot run observed keeps its own path
        text = str(error).strip().splitlines()
        return Tracing(reason=f"the model failed when observed ({type(error).__name__}: {text[0] if text else ''})")
    if not wrapped.sites:
        return Tracing(reason="no comparison cast to float, heaviside or zero-backward autograd.Function ran in its forward")
    if not (isinstance(got, torch.Tensor) and got.shape == expected.shape and torch.equal(got, expected)):
        return Tracing(reason="observed, its output differs from the model's")
    for method in ("config", "describe"):  # what the row says of the model is the model's own
        if callable(getattr(model, method, None)):
            setattr(wrapped, method, getattr(model, method))
    return Tracing(wrapped, [s.site for s in wrapped.sites.values()])
