"""``ttfs-snn``: spike-timing coding. Each input element fires once, earlier
for stronger input (TTFS encoder); non-leaky IF neurons keep the effect of a
single input spike; average pooling (not max) keeps the timing information
of every input in a window; temporal-weighted decoding counts early output
most. Batch-normalised input currents (tdBN) replace a TTFS-specific weight
initialisation: they put every layer's currents near threshold from the
first step, which is what such initialisations aim at. See
:mod:`robustbench_snn.defenses.ttfs`."""

from .registry import register_model
from .snn import build_snn, spiking_cnn_body


@register_model(
    "ttfs-snn",
    defense="ttfs",
    description="spiking CNN, time-to-first-spike coding, IF neurons, temporal-weighted readout",
)
def ttfs_snn(in_shape, num_classes, T: int = 8, **kwargs):
    kwargs.setdefault("neuron", "if")
    kwargs.setdefault("readout", "weighted")
    return build_snn(spiking_cnn_body, in_shape, num_classes, encoder="ttfs", T=T, **kwargs)
