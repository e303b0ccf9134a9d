"""``denoise-snn``: the spiking CNN behind DVS-Attacks' background-activity filter on
event frames -- an architecture (the filter is part of its encoder), not a recipe."""

from ..core.errors import UserInputError
from .registry import register_model
from .snn import build_snn, spiking_cnn_body


@register_model(
    "denoise-snn", defense="denoise",
    description="spiking CNN behind a background-activity filter on event frames (DVS-Attacks' defence); event datasets only",
)
def denoise_snn(in_shape, num_classes, **kwargs):
    if len(in_shape) != 4:
        raise UserInputError(f"denoise-snn filters event frames [T, 2, H, W]; got inputs {list(in_shape)}: use an event dataset (digits-events, mnist-events)")
    return build_snn(spiking_cnn_body, in_shape, num_classes, encoder="events", T=in_shape[0], encoder_kwargs={"denoise": True}, **kwargs)
