"""Zoo recipes: registered architectures trained with a loss-level defense.

As timm registers architectures and keeps pretrained variants as data, the
architecture here is the undefended spiking CNN (``snn-cnn``: direct coding,
T=4, LIF) and each recipe is data: the zoo name, the architecture, the defense
and its parameters (:mod:`robustbench_snn.defenses`). The zoo card records the
same three, so a checkpoint is the architecture's weights plus what trained
them. Each is also what ``rbsnn train --model snn-cnn --defense NAME`` trains;
the recipe names (``at-snn``, ``smooth-snn-s0.25``...) are the zoo's and the
leaderboard's.
"""

from .registry import register_recipe

register_recipe("sr-snn", "snn-cnn", "sr", "spiking CNN + gradient sparsity regularisation (finite-difference l1)")
register_recipe("gnr-snn", "snn-cnn", "gnr", "spiking CNN + l1 input-gradient-norm regularisation (double backprop)")
register_recipe("at-snn", "snn-cnn", "pgd-at", "spiking CNN + PGD adversarial training through BPTT")
register_recipe("rat-snn", "snn-cnn", "rat", "spiking CNN + PGD-AT + Parseval orthogonality (SNN-RAT)")

#: Noise levels of the Gaussian-smoothing recipes (Cohen et al. use 0.12-1.0).
SMOOTHING_SIGMAS = (0.25, 0.5, 1.0)
for _sigma in SMOOTHING_SIGMAS:
    register_recipe(f"smooth-snn-s{_sigma:g}", "snn-cnn", "gaussian",
                    f"spiking CNN trained with Gaussian noise sigma={_sigma:g}, for randomized smoothing (rbsnn certify)",
                    defense_params={"sigma": _sigma})
