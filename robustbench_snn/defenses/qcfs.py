"""ANN-to-SNN conversion with the QCFS activation (Bu et al., ICLR 2022).

The mechanism -- the QCFS activation and its conversion to IF neurons --
is architecture and lives with the model
(:mod:`robustbench_snn.models.qcfs_snn`); training is the source ANN's
cross-entropy (the model runs as an ANN in train mode).
"""

from __future__ import annotations

import dataclasses

from torch import nn

from ..models.qcfs_snn import QCFSClassifier
from .base import Defense, register_defense, require


@register_defense("qcfs")
@dataclasses.dataclass
class QCFSTraining(Defense):
    """Cross-entropy of the source QCFS ANN; the defense is the conversion."""

    paper = "Bu et al., Optimal ANN-SNN Conversion (QCFS), ICLR 2022"

    def check(self, model: nn.Module, model_name: str) -> None:
        require(isinstance(model, QCFSClassifier), "qcfs", "QCFS activations", model_name, f"{type(model).__name__} layers", "qcfs-snn")
