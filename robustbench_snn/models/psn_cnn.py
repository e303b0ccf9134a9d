"""``psn-cnn``: the ``snn-cnn`` body with SpikingJelly's parallel spiking neuron (``PSN``, Fang et
al., "Parallel Spiking Neurons with High Efficiency and Ability to Learn Long-term
Dependencies", NeurIPS 2023) in place of LIF: each layer's membrane at every step is a learned
linear map of its inputs at all T steps, computed at once."""

from collections.abc import Sequence

from spikingjelly.activation_based import neuron, surrogate

from ..core.encoders import create_encoder
from .registry import register_model
from .snn import spiking_cnn_body
from .spikingjelly_nets import SpikingJellyClassifier


@register_model("psn-cnn", description="spiking CNN (the snn-cnn body) with SpikingJelly's PSN neurons, direct coding")
def psn_cnn(in_shape, num_classes, T: int = 4, channels: Sequence[int] = (16, 32), hidden: int = 128, encoder: str = "direct"):
    body = spiking_cnn_body(in_shape, num_classes, lambda: neuron.PSN(T=T, surrogate_function=surrogate.ATan()), channels, hidden)
    return SpikingJellyClassifier(create_encoder(encoder, T), body, "mean", in_shape=in_shape)
