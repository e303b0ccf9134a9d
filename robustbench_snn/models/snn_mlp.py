"""``snn-mlp``: a one-hidden-layer spiking MLP (direct coding)."""

from .registry import register_model
from .snn import build_snn, spiking_mlp_body


@register_model(
    "snn-mlp",
    description="spiking MLP (1 hidden LIF layer), direct coding",
)
def snn_mlp(in_shape, num_classes, T: int = 4, **kwargs):
    return build_snn(spiking_mlp_body, in_shape, num_classes, encoder="direct", T=T, **kwargs)
