"""RSC: Poisson (Bernoulli rate) coding as randomized smoothing.

Wu et al., "RSC-SNN: Exploring the Trade-off Between Adversarial Robustness
and Accuracy in Spiking Neural Networks via Randomized Smoothing Coding"
(ACM MM 2024): the Poisson encoder turns the SNN into a smoothed classifier
``g(x) = argmax_c P_r[f(Enc_r(x)) = c]`` (Cohen et al. 2019, eq. 1, with the
encoder's Bernoulli draws ``r`` as the noise). Training is ordinary BPTT
through the stochastic encoder (the mechanism lives in ``rsc-snn``'s encoder,
whose coding rate trades accuracy for robustness); prediction is the
majority vote over draws, :func:`majority_vote`.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..core import streams
from .base import Defense, register_defense, require_encoder


@register_defense("rsc")
@dataclasses.dataclass
class RSC(Defense):
    """Cross-entropy through the Poisson encoder (one draw per step)."""

    paper = "Wu et al., RSC-SNN, ACM MM 2024 (Poisson coding = randomized smoothing)"

    def check(self, model: nn.Module, model_name: str) -> None:
        require_encoder(self.name, model, model_name, "poisson", "Poisson", "rsc-snn")


@torch.no_grad()
def vote_counts(
    model: nn.Module, x: torch.Tensor, draws: int, seed: int, num_classes: int | None = None, ids: torch.Tensor | None = None,
    batch_size: int = 250,
) -> torch.Tensor:
    """How many of ``draws`` encoder draws predict each class: ``[B, K]``.

    Example ``i`` draws from its own stream for ``(seed, ids[i])``
    (:mod:`robustbench_snn.core.streams`; ``ids`` default ``0..B-1``), so its
    counts do not depend on which examples share the batch: ``x`` is run
    ``batch_size`` examples at a time, without autograd (the whole MNIST test
    set at once held 12 GB and was killed).
    """
    model.eval()
    ids = torch.arange(len(x)) if ids is None else ids
    parts = []
    for lo in range(0, len(x), batch_size):
        counts = None
        with streams.per_example(seed, ids[lo:lo + batch_size], "vote"):
            for _ in range(draws):
                logits = model(x[lo:lo + batch_size])
                c = torch.nn.functional.one_hot(logits.argmax(1), num_classes or logits.shape[1])
                counts = c if counts is None else counts + c
        parts.append(counts)
    return torch.cat(parts)


def majority_vote(model: nn.Module, x: torch.Tensor, draws: int = 32, seed: int = 0, ids: torch.Tensor | None = None) -> torch.Tensor:
    """The smoothed prediction ``argmax_c #{draws predicting c}``: ``[B]`` (ties -> lowest class)."""
    return vote_counts(model, x, draws, seed, ids=ids).argmax(1)
