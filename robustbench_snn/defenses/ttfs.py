"""Spike-timing (time-to-first-spike) coding.

The mechanism is architectural: ``ttfs-snn`` encodes each input element as
one spike whose latency falls with intensity
(:class:`robustbench_snn.core.encoders.TTFSEncoder`), integrates with
non-leaky IF neurons so a single early input spike keeps its effect, and
decodes with temporal weights that favour early output
(``readout="weighted"`` of :class:`robustbench_snn.core.classifier.SpikingClassifier`).
Latency codes have been reported as more robust than rate codes because a
small perturbation can shift a spike by at most a step (Sharmin et al.,
"Inherent adversarial robustness of deep spiking neural networks: effects of
discrete input encoding and non-linear activations", ECCV 2020;
Nomura et al., "Robustness of spiking neural networks based on time-to-first-spike encoding", 2022).
Training is ordinary BPTT through the encoder's straight-through timing
gradient, so the loss is the standard one.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from .base import Defense, register_defense, require_encoder


@register_defense("ttfs")
@dataclasses.dataclass
class TTFS(Defense):
    """Cross-entropy through the TTFS encoder and temporal-weighted readout."""

    paper = "TTFS / latency coding (Sharmin et al. ECCV 2020; Park et al. DAC 2020), temporal-weighted decoding"

    def check(self, model: nn.Module, model_name: str) -> None:
        require_encoder(self.name, model, model_name, "ttfs", "TTFS", "ttfs-snn")
