"""``ilif-cnn``: the ``snn-cnn`` body with SpikingJelly's integer-valued LIF neuron (``ILIFNode``,
Luo et al., "Integer-Valued Training and Spike-Driven Inference Spiking Neural Network for
High-performance and Energy-efficient Object Detection" (SpikeYOLO), ECCV 2024): each step emits
an integer spike count in 0..D (D = 4) instead of a binary spike."""

from collections.abc import Sequence

from spikingjelly.activation_based import neuron

from ..core.encoders import create_encoder
from .registry import register_model
from .snn import spiking_cnn_body
from .spikingjelly_nets import SpikingJellyClassifier


@register_model("ilif-cnn", description="spiking CNN (the snn-cnn body) with SpikingJelly's I-LIF neurons (integer counts 0-4), direct coding")
def ilif_cnn(in_shape, num_classes, T: int = 4, channels: Sequence[int] = (16, 32), hidden: int = 128, encoder: str = "direct"):
    body = spiking_cnn_body(in_shape, num_classes, lambda: neuron.ILIFNode(step_mode="m", detach_reset=True), channels, hidden)
    return SpikingJellyClassifier(create_encoder(encoder, T), body, "mean", in_shape=in_shape)
