"""``mps-snn``: stable-SNN (Ding et al., ICML 2024): the spiking CNN with
DLIF neurons (decay 0.99, threshold 1, learnable per-step input gain, T=8,
the paper's reference setting), trained with the mean-square
membrane-perturbation regulariser (:mod:`robustbench_snn.defenses.mps`)."""

from .registry import register_model
from .snn import build_snn, spiking_cnn_body


@register_model(
    "mps-snn",
    defense="mps",
    description="spiking CNN, DLIF neurons, membrane-perturbation stability training (stable-SNN)",
)
def mps_snn(in_shape, num_classes, T: int = 8, **kwargs):
    kwargs.setdefault("neuron", "dlif")
    return build_snn(spiking_cnn_body, in_shape, num_classes, encoder="direct", T=T, **kwargs)
