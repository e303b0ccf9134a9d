"""Surrogate gradients for the Heaviside spike function.

The forward pass of every spiking neuron is the Heaviside step
``s = H(v - v_th)``; its true derivative is zero almost everywhere, so training
(BPTT) and white-box attacks replace it in the backward pass by a smooth
pseudo-derivative ``g(x)`` (Neftci, Mostafa & Zenke, "Surrogate Gradient
Learning in Spiking Neural Networks", IEEE SPM 2019).

Which surrogate an *attack* uses matters as much as which one training used:
a too-narrow surrogate gives vanishing input gradients and over-credits the
model. We therefore keep a small family, selectable by name, all
parameterised by one ``width`` chosen so that every member has the same
normalisation: peak ``g(0) = 1/width`` and integral ``∫ g = 1``.

==========  ========================================================  =================================
name        g(x)                                                      literature form
==========  ========================================================  =================================
atan        (a/2) / (1 + (π a x / 2)²),  a = 2/width                   SpikingJelly ``ATan(alpha=a)``
sigmoid     k σ(kx)(1 - σ(kx)),          k = 4/width                   SpikingJelly ``Sigmoid(alpha=k)``
triangle    max(0, 1 - |x|/width) / width                             Bellec et al. 2018 (piecewise-linear)
rectangle   1[|x| < width/2] / width                                  Wu et al. 2018 (STBP rectangular)
==========  ========================================================  =================================

``width=1`` reproduces SpikingJelly's defaults for atan (alpha=2) and
sigmoid (alpha=4).  A surrogate is written ``name`` or ``name:width`` on the
command line (``atan:0.5``).

The gradient estimators of Özdenizci & Legenstein's attack ensemble ("Adversarially
robust spiking neural networks through conversion", TMLR 2024, Section 4 and their
``models/layers.py``) are here under their own names and parameter ``γ`` (written
``name:γ``), *not* normalised: the scale of ``g`` weighs BPTT paths through k neurons
by its k-th power, so EXP and EXP-D (one shape, scales 1 and 0.3) are different
estimators:

==========  ====================================  =============  ==================================
name        g(x)                                  area           literature form
==========  ====================================  =============  ==================================
pcw         max(0, γ - |x|) / γ²                  1              piecewise linear (= ``triangle:γ``)
rect        1[|x| < γ/2] / γ                      1              rectangular (= ``rectangle:γ``)
exp         exp(-γ |x|)                           2/γ            exponential (Shrestha & Orchard 2018)
exp-d       0.3 exp(-γ |x|)                       0.6/γ          dampened (Bellec et al. 2018's 0.3)
ste         1                                     unbounded      straight-through (Bengio et al. 2013)
==========  ====================================  =============  ==================================

``pcw`` and ``rect`` are the same functions as ``triangle`` and ``rectangle`` and are
parsed to them (one name per function in rows and compiled graphs); ``ste`` has no
parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .errors import UnknownNameError, UserInputError
from .registry import Registry

SurrogateGrad = Callable[[torch.Tensor, float], torch.Tensor]


def _atan(x: torch.Tensor, width: float) -> torch.Tensor:
    alpha = 2.0 / width
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


def _sigmoid(x: torch.Tensor, width: float) -> torch.Tensor:
    k = 4.0 / width
    sg = torch.sigmoid(k * x)
    return k * sg * (1 - sg)


def _triangle(x: torch.Tensor, width: float) -> torch.Tensor:
    return torch.clamp(1 - x.abs() / width, min=0) / width


def _rectangle(x: torch.Tensor, width: float) -> torch.Tensor:
    """``1[|x| < width/2] / width``, written as ``max(sign(width/2 - |x|), 0) / width``: the
    same values (0 on the edge), but the comparison form compiled to a CPU gradient 1.7-2.7x
    slower than the triangle's and slower than eager (MNIST rsc-snn EOT gradient, 1 thread;
    ``benchmarks/compile_speed.py --surrogates``), which made every RECT estimator of
    ``ensemble19`` cost 2.5x a PCW one per step."""
    return torch.clamp(torch.sign(width / 2 - x.abs()), min=0) / width


#: Widths outside this range give gradients that vanish or overflow in float32 (``atan:1e-300``
#: and ``atan:inf`` scored 100% robust accuracy): refused.
MIN_WIDTH, MAX_WIDTH = 1e-3, 1e3

def _exp(x: torch.Tensor, gamma: float) -> torch.Tensor:
    return torch.exp(-gamma * x.abs())


#: EXP-D's dampening factor (Özdenizci & Legenstein's ``(0.3, γ)``).
EXP_D_SCALE = 0.3


def _exp_d(x: torch.Tensor, gamma: float) -> torch.Tensor:
    return EXP_D_SCALE * torch.exp(-gamma * x.abs())


def _ste(x: torch.Tensor, gamma: float) -> torch.Tensor:
    return torch.ones_like(x)


#: Surrogate derivative families by name: ``grad(x, width)``.
SURROGATES: Registry[SurrogateGrad] = Registry("surrogate")
SURROGATES.register_all((
    ("atan", _atan, "arctangent (SpikingJelly's ATan; alpha = 2 / width)"),
    ("sigmoid", _sigmoid, "derivative of a sigmoid of slope 4 / width"),
    ("triangle", _triangle, "piecewise linear of half-width width (alias pcw)"),
    ("rectangle", _rectangle, "box of width width (alias rect)"),
    ("exp", _exp, "exp(-gamma |x|), gamma = width (Ozdenizci & Legenstein 2024)"),
    ("exp-d", _exp_d, "0.3 exp(-gamma |x|), the dampened EXP (Ozdenizci & Legenstein 2024)"),
    ("ste", _ste, "straight-through: gradient 1 everywhere (no width)"),
))
#: The families normalised to peak ``1/width`` and unit area (the ``--surrogate all`` sweep).
NORMALISED = ("atan", "sigmoid", "triangle", "rectangle")
#: Names that are another family's function under the same parameter.
ALIASES = {"pcw": "triangle", "rect": "rectangle"}
#: Families without a parameter (their width stays 1).
NO_WIDTH = ("ste",)


@dataclass(frozen=True)
class Surrogate:
    """A named surrogate derivative with its width (see module docstring)."""

    name: str = "atan"
    width: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in SURROGATES:
            raise UnknownNameError("surrogate", self.name, [*SURROGATES, *ALIASES])
        if not MIN_WIDTH <= self.width <= MAX_WIDTH:  # also refuses nan and inf
            raise UserInputError(
                f"surrogate width must be in [{MIN_WIDTH:g}, {MAX_WIDTH:g}], got {self.width:g} "
                f"(a width of 0 or inf makes every input gradient vanish)"
            )
        if self.name in NO_WIDTH and self.width != 1:
            raise UserInputError(f"surrogate {self.name!r} has no width, got {self.width:g}; write {self.name!r}")

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return SURROGATES[self.name](x, self.width)

    def __str__(self) -> str:
        return f"{self.name}:{self.width:g}"

    @classmethod
    def parse(cls, spec: "str | Surrogate") -> "Surrogate":
        """Parse ``'atan'`` or ``'atan:0.5'`` into a :class:`Surrogate`."""
        if isinstance(spec, Surrogate):
            return spec
        if not isinstance(spec, str):
            raise UserInputError(f"bad surrogate {spec!r}; write name or name:width, e.g. atan:0.5")
        name, colon, width = spec.partition(":")
        name = ALIASES.get(name, name)
        if not colon:
            return cls(name)
        try:
            value = float(width)
        except ValueError:
            raise UserInputError(f"bad surrogate width in {spec!r}; write name:width, e.g. atan:0.5") from None
        return cls(name, value)


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """The spike: ``H(x) = 1`` where ``x >= 0``, else 0, in ``x``'s dtype (no gradient)."""
    return (x >= 0).to(x.dtype)


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward, surrogate backward. The backward is built from
    differentiable torch ops, so double backprop (input-gradient
    regularisers) works through it."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None


def spike(x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
    """``H(x)`` with the given surrogate derivative in the backward pass."""
    return _SpikeFunction.apply(x, surrogate)


# --- the width as data, for compiled graphs ---------------------------------------------
# A compiled graph specialises on every Python constant it reads. With the surrogate's
# width a float, each surrogate of an evaluation compiled its own graph (about a minute
# each on 2 cores); with the width a tensor, one graph per family serves every width (the
# standard evaluation's five surrogates are three families). The family stays a constant:
# a graph computing every family and selecting one by data ran 30% slower (measured on
# the rsc-snn MNIST gradient). The custom autograd.Function makes AOTAutograd bypass its
# on-disk cache; a straight-through form without one, ``H(x) + (x - x.detach()) * g(x).detach()``,
# is cached (a warm compile of the digits rsc-snn gradient graph: 9 s instead of 19 s) but
# its gradient pass ran 4-10% slower on the rsc-snn digits and MNIST gradients (1 thread,
# 160 images) and it drops the second derivative: an evaluation's time is in the passes.


class _SpikeWithWidth(torch.autograd.Function):
    """:class:`_SpikeFunction` with the width given as a tensor."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, family: str, width: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, width)
        ctx.family = family
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        x, width = ctx.saved_tensors
        return grad_out * SURROGATES[ctx.family](x, width), None, None


def spike_with_width(x: torch.Tensor, family: str, width: torch.Tensor) -> torch.Tensor:
    """``H(x)`` with surrogate ``family`` at ``width`` (a 0-d tensor) in the backward pass."""
    return _SpikeWithWidth.apply(x, family, width)

#: The ``surrogate`` choice that attacks with the worst case over every registered surrogate.
EVERY = "all"


@dataclass(frozen=True)
class SurrogateChoice:
    """What an evaluation's gradient attacks backpropagate through the spikes, parsed once from
    ``--surrogate`` / ``benchmark(surrogate=...)``: the neurons' own surrogates (``None``), one
    :class:`Surrogate` (``'atan:0.5'``), or the worst case per example over every registered
    surrogate (``'all'``). ``text`` is the choice as given, which the row's parameters record."""

    text: str | None = None
    surrogate: Surrogate | None = None

    @property
    def every(self) -> bool:
        """The worst case over every surrogate: the attack runs once per surrogate."""
        return self.text == EVERY

    @property
    def replaces_own(self) -> bool:
        """The neurons' backward is replaced (one surrogate, or each in turn)."""
        return self.text is not None

    @classmethod
    def parse(cls, value: "SurrogateChoice | Surrogate | str | None") -> "SurrogateChoice":
        if isinstance(value, SurrogateChoice):
            return value
        if value is None or value == EVERY:
            return cls(value)
        one = Surrogate.parse(value)
        return cls(value if isinstance(value, str) else str(one), one)
