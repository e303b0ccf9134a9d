"""``sew-resnet``: spike-element-wise ResNet (Fang et al., "Deep Residual Learning in Spiking
Neural Networks", NeurIPS 2021): residual connections add (ADD) spikes after the block's neuron.
SpikingJelly's ``model.sew_resnet``, imported without torchvision (see :mod:`.spikingjelly_nets`).

Its stem is ImageNet's (3 input channels, 7x7 stride-2 convolution, max pooling); the CPU
configuration keeps SpikingJelly's ``SEWResNet`` and its ``BasicBlock`` with one block per stage
(``sew_resnet18`` has two). A grey image is given to it as three equal channels."""

from ..registry import register_model
from .spikingjelly_nets import build_spikingjelly, import_model_module, lif, three_channels


def _resnet(layers=None, depth: int | None = None):
    def build(in_shape, num_classes, T):
        module = import_model_module("sew_resnet")
        if depth is not None:
            net = getattr(module, f"sew_resnet{depth}")(num_classes=num_classes, cnf="ADD", spiking_neuron=lif())
        else:
            net = module.SEWResNet(module.BasicBlock, layers, num_classes=num_classes, cnf="ADD", spiking_neuron=lif())
        return three_channels(net, in_shape)

    return build


CONFIGS = {"small": _resnet(layers=[1, 1, 1, 1]), "sew_resnet18": _resnet(depth=18), "sew_resnet34": _resnet(depth=34)}


@register_model("sew-resnet", description="SEW-ResNet (NeurIPS 2021, ADD), SpikingJelly's; small: one basic block per stage",
                configs=tuple(CONFIGS))
def sew_resnet(in_shape, num_classes, T: int = 4, config: str = "small", encoder: str = "direct", **kwargs):
    return build_spikingjelly("sew-resnet", CONFIGS, "mean", in_shape, num_classes, T=T, config=config, encoder=encoder, **kwargs)
