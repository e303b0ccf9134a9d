"""``spiking-vgg``: SpikingJelly's ``model.spiking_vgg`` (VGG with spiking neurons after each
batch-normalised convolution), imported without torchvision (see :mod:`.spikingjelly_nets`).

SpikingJelly's ``SpikingVGG`` carries ImageNet's head (7x7 average pooling into two 4,096-wide
layers: 103 M weights on VGG-11). CIFAR VGGs (e.g. the SNN-RAT and HoSNN evaluations) put one
linear layer on the pooled features instead; both configurations here keep SpikingJelly's
feature layers and replace only the head by a 1x1 pooling and a linear layer."""

from spikingjelly.activation_based import layer
from torch import nn

from .registry import register_model
from .spikingjelly_nets import build_spikingjelly, import_model_module, lif, three_channels


def _vgg(cfg):
    def build(in_shape, num_classes, T):
        module = import_model_module("spiking_vgg")
        net = module.SpikingVGG(cfg=cfg, batch_norm=True, norm_layer=layer.BatchNorm2d, num_classes=num_classes, spiking_neuron=lif())
        widest = max(c for c in cfg if c != "M")
        net.avgpool = layer.AdaptiveAvgPool2d((1, 1))
        net.classifier = nn.Sequential(layer.Linear(widest, num_classes))
        return three_channels(net, in_shape)

    return build


#: VGG-11's layers (``cfgs["A"]`` of SpikingJelly's module) and a CPU-sized one at 1/4 the width.
VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
SMALL = [32, "M", 64, "M", 128, 128, "M"]
CONFIGS = {"small": _vgg(SMALL), "spiking_vgg11_bn": _vgg(VGG11)}


@register_model("spiking-vgg", description="spiking VGG (batch-normalised), SpikingJelly's layers with a CIFAR head; small: 32-64-128-128",
                configs=tuple(CONFIGS))
def spiking_vgg(in_shape, num_classes, T: int = 4, config: str = "small", encoder: str = "direct", **kwargs):
    return build_spikingjelly("spiking-vgg", CONFIGS, "mean", in_shape, num_classes, T=T, config=config, encoder=encoder, **kwargs)
