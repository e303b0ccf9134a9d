"""``sew-resnet``: spike-element-wise ResNet (Fang et al., "Deep Residual Learning in Spiking
Neural Networks", NeurIPS 2021): residual connections add (ADD) spikes after the block's neuron.
SpikingJelly's ``model.sew_resnet``, imported without torchvision (see :mod:`.spikingjelly_nets`).

The paper configurations (``sew_resnet18``, ``sew_resnet34``) are SpikingJelly's unchanged, with
ImageNet's stem (7x7 stride-2 convolution, then max pooling: a 32x32 image is 8x8 after it). The
CPU configuration ``small`` is SpikingJelly's ``SEWResNet`` and ``BasicBlock`` with one block per
stage and a small-image stem: its first convolution is 3x3 with stride 1 (SpikingJelly's
``layer.Conv2d``, initialised as ``SEWResNet`` initialises its own), as the CIFAR ResNets of He
et al. (CVPR 2016, Section 4.2) and the CIFAR SEW/MS-ResNets of later SNN papers; the max pooling
stays, so the first stage runs at 16x16 on CIFAR-10 (about 1.6x the convolution work of the
64-128-256 ``snn-cnn``), which two cores can train. With the ImageNet stem the first stage would
see 8x8. A grey image is given to it as three equal channels."""

from spikingjelly.activation_based import layer
from torch import nn

from .registry import register_model
from .spikingjelly_nets import build_spikingjelly, import_model_module, lif, three_channels


def _small_image_stem(net: nn.Module) -> nn.Module:
    """``net`` with its 7x7 stride-2 first convolution replaced by a 3x3 stride-1 one."""

    net.conv1 = layer.Conv2d(3, net.conv1.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    return net


def _resnet(layers=None, depth: int | None = None):
    def build(in_shape, num_classes, T):
        module = import_model_module("sew_resnet")
        if depth is not None:
            net = getattr(module, f"sew_resnet{depth}")(num_classes=num_classes, cnf="ADD", spiking_neuron=lif())
        else:
            net = _small_image_stem(module.SEWResNet(module.BasicBlock, layers, num_classes=num_classes, cnf="ADD", spiking_neuron=lif()))
        return three_channels(net, in_shape)

    return build


CONFIGS = {"small": _resnet(layers=[1, 1, 1, 1]), "sew_resnet18": _resnet(depth=18), "sew_resnet34": _resnet(depth=34)}


@register_model("sew-resnet", description="SEW-ResNet (NeurIPS 2021, ADD), SpikingJelly's; small: one basic block per stage, 3x3 stem",
                configs=tuple(CONFIGS))
def sew_resnet(in_shape, num_classes, T: int = 4, config: str = "small", encoder: str = "direct", **kwargs):
    return build_spikingjelly("sew-resnet", CONFIGS, "mean", in_shape, num_classes, T=T, config=config, encoder=encoder, **kwargs)
