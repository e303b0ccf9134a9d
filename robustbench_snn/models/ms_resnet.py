"""``ms-resnet``: the membrane-shortcut ResNet (Hu et al., "Advancing Spiking Neural Networks
Toward Deep Residual Learning", IEEE TNNLS 2024): the shortcut adds membrane potentials, not
spikes. SpikingJelly's ``model.ms_resnet``."""

from .registry import register_model
from .spikingjelly_nets import build_spikingjelly, import_model_module, lif


def _small(in_shape, num_classes, T):
    return import_model_module("ms_resnet").MSResNet(
        T=T, in_channels=in_shape[0], num_classes=num_classes, layers=(1, 1, 1), stem_kernel_size=3, stem_stride=1,
        stage_channels=(32, 64, 128), base_channels=32, spiking_neuron=lif())


def _paper(depth: int):
    def build(in_shape, num_classes, T):
        module = import_model_module("ms_resnet")
        return getattr(module, f"ms_resnet{depth}")(T=T, num_classes=num_classes, in_channels=in_shape[0])

    return build


CONFIGS = {"small": _small, "ms_resnet18": _paper(18), "ms_resnet34": _paper(34)}


@register_model("ms-resnet", description="MS-ResNet (membrane shortcut), SpikingJelly's; small: 3 stages of 1 block, 32-64-128",
                configs=tuple(CONFIGS))
def ms_resnet(in_shape, num_classes, T: int = 4, config: str = "small", encoder: str = "direct", **kwargs):
    return build_spikingjelly("ms-resnet", CONFIGS, "own", in_shape, num_classes, T=T, config=config, encoder=encoder, **kwargs)
