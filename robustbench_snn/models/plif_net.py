"""``plif-net``: the parametric-LIF networks (Fang et al., "Incorporating Learnable Membrane Time
Constant to Enhance Learning of Spiking Neural Networks", ICCV 2021): every neuron learns its
membrane time constant. SpikingJelly's ``model.parametric_lif_net`` (``CIFAR10Net`` for 32x32
colour images, ``MNISTNet`` for 28x28 grey ones) with its ``ParametricLIFNode``; the readout is
the nets' own voting layer, averaged over T."""


from functools import partial

from spikingjelly.activation_based import neuron, surrogate

from ..core.errors import UserInputError
from .registry import register_model
from .spikingjelly_nets import build_spikingjelly, import_model_module


def _net(channels: int):
    def build(in_shape, num_classes, T):
        module = import_model_module("parametric_lif_net")
        plif = partial(neuron.ParametricLIFNode, detach_reset=True, surrogate_function=surrogate.ATan(), step_mode="m")
        if num_classes != 10:
            raise UserInputError(f"plif-net votes over 10 classes (its paper's), got {num_classes}")
        if tuple(in_shape) == (3, 32, 32):
            return module.CIFAR10Net(channels=channels, spiking_neuron=plif)
        if tuple(in_shape) == (1, 28, 28):
            return module.MNISTNet(channels=channels, spiking_neuron=plif)
        raise UserInputError(f"plif-net is built for 3x32x32 (CIFAR10Net) or 1x28x28 (MNISTNet) images, got {'x'.join(map(str, in_shape))}")

    return build


CONFIGS = {"small": _net(64), "paper": _net(256)}


@register_model("plif-net", description="PLIF net (ICCV 2021), SpikingJelly's CIFAR10Net / MNISTNet; small: 64 channels, paper: 256 (MNIST 128 in the paper)",
                configs=tuple(CONFIGS))
def plif_net(in_shape, num_classes, T: int = 4, config: str = "small", encoder: str = "direct", **kwargs):
    return build_spikingjelly("plif-net", CONFIGS, "mean", in_shape, num_classes, T=T, config=config, encoder=encoder, **kwargs)
