"""Training-time defenses, importable as ``robustbench_snn.defenses``.

A defense is a :class:`Defense`: a per-batch loss plus an optional hook after
each optimizer step (see :mod:`.base`). ``rbsnn train`` uses the model's
registered defense, or ``--defense NAME`` on any registered architecture.

==========  ==========================================================  ========
name        mechanism                                                    model
==========  ==========================================================  ========
none        cross-entropy, BPTT                                          snn-cnn
rsc         Poisson coding as randomized smoothing (encoder), vote        rsc-snn
mps         DLIF neurons + mean-square membrane perturbation penalty      mps-snn
sr          finite-difference l1 input-gradient (sparsity) penalty        sr-snn
gnr         l1 input-gradient-norm penalty, double backprop               gnr-snn
ttfs        time-to-first-spike coding + temporal-weighted readout        ttfs-snn
pgd-at      PGD adversarial training through BPTT                        at-snn
rat         PGD-AT + Parseval orthogonality retraction (SNN-RAT)          rat-snn
qcfs        QCFS ANN, converted to IF neurons                             qcfs-snn
gaussian    Gaussian data augmentation for randomized smoothing           smooth-snn-s{sigma}
denoise     background-activity filter on event frames (encoder)         denoise-snn
==========  ==========================================================  ========
"""

from __future__ import annotations

from .adversarial import AdversarialTraining, RegularizedAdversarialTraining, orthogonality_gap, parseval_retraction
from .base import DEFENSES, Defense, get_defense, register_defense
from .denoise import Denoise
from .gaussian import GaussianAugmentation
from .gradnorm import InputGradientNorm, input_gradient
from .mps import MembranePerturbationStability, membrane_perturbation_of
from .qcfs import QCFSTraining
from .rsc import RSC, majority_vote, vote_counts
from .sparsity import SparseGradient, finite_difference_l1, true_class_probability
from .ttfs import TTFS

__all__ = [
    "DEFENSES", "AdversarialTraining", "Defense", "GaussianAugmentation", "InputGradientNorm", "MembranePerturbationStability",
    "QCFSTraining", "RSC", "RegularizedAdversarialTraining", "SparseGradient",
    "TTFS", "finite_difference_l1", "get_defense", "input_gradient", "majority_vote", "membrane_perturbation_of",
    "orthogonality_gap", "parseval_retraction", "register_defense", "true_class_probability", "vote_counts",
]
