"""``qkformer``: QKFormer (Zhou et al., NeurIPS 2024): hierarchical spiking transformer with
Q-K token/channel attention. SpikingJelly's ``model.qkformer``."""

from .registry import register_model
from .spikingjelly_nets import build_spikingjelly, import_model_module, lif, needs_input


def _small(in_shape, num_classes, T):
    return import_model_module("qkformer").QKFormer(
        T=T, in_channels=in_shape[0], num_classes=num_classes, embed_dims=128, num_heads=(2, 4, 4), depths=(1, 1, 1),
        mlp_ratio=4.0, spiking_neuron=lif())


def _paper(in_shape, num_classes, T):
    needs_input(in_shape, 3, (32, 32), "qkformer_10_384")
    return import_model_module("qkformer").qkformer_10_384(T=T, num_classes=num_classes)


CONFIGS = {"small": _small, "qkformer_10_384": _paper}


@register_model("qkformer", description="QKFormer (NeurIPS 2024), SpikingJelly's; small: 3 stages of 1 block, width 128",
                configs=tuple(CONFIGS))
def qkformer(in_shape, num_classes, T: int = 4, config: str = "small", encoder: str = "direct", **kwargs):
    return build_spikingjelly("qkformer", CONFIGS, "own", in_shape, num_classes, T=T, config=config, encoder=encoder, **kwargs)
