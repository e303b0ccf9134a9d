"""``snn-cnn``: the undefended spiking CNN (direct coding, standard BPTT)."""

from .registry import register_model
from .snn import build_snn, spiking_cnn_body


@register_model(
    "snn-cnn",
    description="spiking CNN, direct coding, LIF, standard BPTT training",
)
def snn_cnn(in_shape, num_classes, T: int = 4, **kwargs):
    return build_snn(spiking_cnn_body, in_shape, num_classes, encoder="direct", T=T, **kwargs)
