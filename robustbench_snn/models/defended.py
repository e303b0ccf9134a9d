"""``snn-cnn`` trained with a loss-level defense: the architecture is the
undefended spiking CNN (direct coding, T=4, LIF), the defense is in the
training objective (:mod:`robustbench_snn.defenses`). Each is also what
``rbsnn train --model snn-cnn --defense NAME`` trains."""

from ..errors import UserInputError
from ..registry import register_model
from .snn import build_snn, spiking_cnn_body


def _snn_cnn(in_shape, num_classes, T: int = 4, **kwargs):
    return build_snn(spiking_cnn_body, in_shape, num_classes, encoder="direct", T=T, **kwargs)


register_model("sr-snn", defense="sr", description="spiking CNN + gradient sparsity regularisation (finite-difference l1)")(_snn_cnn)
register_model("gnr-snn", defense="gnr", description="spiking CNN + l1 input-gradient-norm regularisation (double backprop)")(_snn_cnn)
register_model("at-snn", defense="pgd-at", description="spiking CNN + PGD adversarial training through BPTT")(_snn_cnn)
register_model("rat-snn", defense="rat", description="spiking CNN + PGD-AT + Parseval orthogonality (SNN-RAT)")(_snn_cnn)

#: Noise levels of the registered Gaussian-smoothing SNNs (Cohen et al. use 0.12-1.0).
SMOOTHING_SIGMAS = (0.25, 0.5, 1.0)
for _sigma in SMOOTHING_SIGMAS:
    register_model(
        f"smooth-snn-s{_sigma:g}", defense="gaussian", defense_params={"sigma": _sigma},
        description=f"spiking CNN trained with Gaussian noise sigma={_sigma:g}, for randomized smoothing (rbsnn certify)",
    )(_snn_cnn)


@register_model(
    "denoise-snn", defense="denoise",
    description="spiking CNN behind a background-activity filter on event frames (DVS-Attacks' defence); event datasets only",
)
def denoise_snn(in_shape, num_classes, **kwargs):
    if len(in_shape) != 4:
        raise UserInputError(f"denoise-snn filters event frames [T, 2, H, W]; got inputs {list(in_shape)}: use an event dataset (digits-events, mnist-events)")
    return build_snn(spiking_cnn_body, in_shape, num_classes, encoder="events", T=in_shape[0], encoder_kwargs={"denoise": True}, **kwargs)
