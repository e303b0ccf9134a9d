"""``spikformer``: Spikformer (Zhou et al., "Spikformer: When Spiking Neural Network Meets
Transformer", ICLR 2023): spiking self-attention on binary Q, K, V without softmax.
SpikingJelly's ``model.spikformer``; its head returns ``[T, B, K]``, averaged over T."""

from .registry import register_model
from .spikingjelly_nets import build_spikingjelly, import_model_module, lif, needs_input


def _small(in_shape, num_classes, T):
    c, h, w = in_shape
    return import_model_module("spikformer").Spikformer(
        T=T, in_channels=c, img_size_h=h, img_size_w=w, patch_size=4, num_classes=num_classes,
        embed_dims=128, num_heads=4, mlp_ratio=4.0, depths=2, spiking_neuron=lif())


def _paper(in_shape, num_classes, T):
    needs_input(in_shape, 3, (32, 32), "spikformer_cifar10")
    return import_model_module("spikformer").spikformer_cifar10(T=T, num_classes=num_classes)


CONFIGS = {"small": _small, "spikformer_cifar10": _paper}


@register_model("spikformer", description="Spikformer (ICLR 2023), SpikingJelly's; small: 2 blocks, width 128, 4x4 patches",
                configs=tuple(CONFIGS))
def spikformer(in_shape, num_classes, T: int = 4, config: str = "small", encoder: str = "direct", **kwargs):
    return build_spikingjelly("spikformer", CONFIGS, "mean", in_shape, num_classes, T=T, config=config, encoder=encoder, **kwargs)
