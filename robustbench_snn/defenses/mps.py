"""Membrane-potential-perturbation stability training (stable-SNN).

Ding, Pan, Liu, Yu & Huang, "Robust Stable Spiking Neural Networks"
(ICML 2024). For an input perturbation, the membrane-potential perturbation
``Δh_t^l = h_t^l(x') - h_t^l(x)`` of layer ``l`` at step ``t`` follows
dynamics whose input-output stability bounds how far the perturbation can
travel; the paper trains with modified neurons (DLIF,
:class:`robustbench_snn.core.neurons.DLIFNode`) and minimises the mean square of
the membrane-potential perturbation (MS-MPPD):

    L = ½ [CE(f(x), y) + CE(f(x'), y)] + λ · (1/L) Σ_l mean_{t,b,i} (Δh_{t,i}^l)²

with ``x'`` a noisy (Gaussian, sigma) or adversarial (FGSM, eps) copy of
``x``. Both copies go through the network in one batch (one BatchNorm
statistic), and the membranes are read with
:func:`robustbench_snn.core.neurons.record_membranes`.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import UserInputError
from ..core.neurons import record_membranes, spiking_neurons
from .base import Defense, register_defense, require

PERTURBATIONS = ("gaussian", "fgsm")


def membrane_perturbation(neurons, batch: int) -> torch.Tensor:
    """MS-MPPD from neurons that recorded one forward of ``cat([x, x'])``: a scalar.

    Each neuron's membrane is ``[T, 2B, ...]``; the first B are clean, the
    rest perturbed. Averages ``(Δh)²`` over steps, examples and units, then over layers.
    """
    terms = []
    for n in neurons:
        h = n.membrane
        terms.append((h[:, batch:] - h[:, :batch]).pow(2).mean())
    return torch.stack(terms).mean()


def membrane_perturbation_of(model: nn.Module, x: torch.Tensor, x_pert: torch.Tensor) -> torch.Tensor:
    """MS-MPPD between ``x`` and ``x_pert`` for ``model`` (a scalar; 0 iff every membrane agrees)."""
    with record_membranes(model) as neurons:
        model(torch.cat([x, x_pert]))
        return membrane_perturbation(neurons, len(x))


@register_defense("mps")
@dataclasses.dataclass
class MembranePerturbationStability(Defense):
    """Clean + perturbed cross-entropy plus λ · MS-MPPD."""

    paper = "Ding et al., Robust Stable Spiking Neural Networks, ICML 2024 (MS-MPPD regulariser, DLIF neurons)"
    lam: float = 1.0
    perturb: str = "gaussian"
    sigma: float = 0.1
    eps: float = 0.1

    def __post_init__(self) -> None:
        if self.perturb not in PERTURBATIONS:
            raise UserInputError(f"unknown mps perturb {self.perturb!r}; valid: {', '.join(PERTURBATIONS)}")

    def check(self, model: nn.Module, model_name: str) -> None:
        require(bool(spiking_neurons(model)), "mps", "spiking neurons", model_name, "none", "mps-snn or another SNN")

    def perturbed(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.perturb == "gaussian":
            return (x + self.sigma * torch.randn_like(x)).clamp(0, 1)
        x_req = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(x_req), y), x_req)
        return (x + self.eps * g.sign()).clamp(0, 1).detach()

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x_pert = self.perturbed(model, x, y)
        with record_membranes(model) as neurons:
            logits = model(torch.cat([x, x_pert]))
            reg = membrane_perturbation(neurons, len(x))
        ce = F.cross_entropy(logits, torch.cat([y, y]))
        return ce + self.lam * reg
