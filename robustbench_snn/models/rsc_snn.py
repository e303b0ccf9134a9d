"""``rsc-snn``: spiking CNN with Poisson (Bernoulli rate) coding, trained
through the stochastic encoder, as in RSC-SNN ("Towards understanding the
robustness of SNNs with Poisson coding": rate coding acts as randomized
smoothing of the input). ``rate`` is the coding rate (firing probability
``rate * x``): lower rates smooth more and cost clean accuracy. The smoothed
prediction is the majority vote over draws,
:func:`robustbench_snn.defenses.majority_vote`.
"""

from .registry import register_model
from .snn import build_snn, spiking_cnn_body


@register_model(
    "rsc-snn",
    defense="rsc",
    description="spiking CNN, Poisson rate coding (randomized-smoothing coding), LIF",
)
def rsc_snn(in_shape, num_classes, T: int = 8, rate: float = 1.0, **kwargs):
    return build_snn(spiking_cnn_body, in_shape, num_classes, encoder="poisson", T=T, encoder_kwargs={"rate": rate}, **kwargs)
