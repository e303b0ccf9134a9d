"""``sdt``: the Spike-driven Transformer (Yao et al., NeurIPS 2023): spike-driven self-attention
(SDSA) with only masks and additions. SpikingJelly's ``model.spike_driven_transformer``."""

from .registry import register_model
from .spikingjelly_nets import build_spikingjelly, import_model_module, lif, needs_input


def _small(in_shape, num_classes, T):
    c, h, w = in_shape
    return import_model_module("spike_driven_transformer").SpikeDrivenTransformer(
        T=T, in_channels=c, num_classes=num_classes, embed_dims=128, num_heads=4, depths=2, mlp_ratio=4.0,
        pooling_stat="1111" if min(h, w) >= 32 else "0011", spiking_neuron=lif())


def _paper(in_shape, num_classes, T):
    needs_input(in_shape, 3, (32, 32), "sdt_8_384")
    return import_model_module("spike_driven_transformer").sdt_8_384(T=T, num_classes=num_classes)


CONFIGS = {"small": _small, "sdt_8_384": _paper}


@register_model("sdt", description="Spike-driven Transformer (NeurIPS 2023), SpikingJelly's; small: 2 blocks, width 128",
                configs=tuple(CONFIGS))
def sdt(in_shape, num_classes, T: int = 4, config: str = "small", encoder: str = "direct", **kwargs):
    return build_spikingjelly("sdt", CONFIGS, "own", in_shape, num_classes, T=T, config=config, encoder=encoder, **kwargs)
