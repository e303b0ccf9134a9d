"""Each defense does what its paper describes, measurably (fast mechanism checks)."""

import pytest
import torch

from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.defenses import (
    DEFENSES, Defense, get_defense, input_gradient, majority_vote, membrane_perturbation_of,
    orthogonality_gap, parseval_retraction, true_class_probability, vote_counts,
)
from robustbench_snn.core.errors import UnknownNameError, UserInputError
from robustbench_snn.evaluation.harness import clean_scores
from robustbench_snn.models.registry import create_model, get_model_entry, list_models
from robustbench_snn.training.trainer import TrainConfig, fit, recalibrate_batchnorm
from robustbench_snn.models.zoo import DEFAULT_ZOO, load_checkpoint, zoo_models

#: Models that only take event frames (their zoo is on digits-events).
EVENT_ONLY = {"denoise-snn"}


@pytest.fixture(scope="module")
def train_subset():
    return load_dataset("digits", "train").head(384)


def test_every_defense_has_a_registered_model_and_a_paper():
    defenses_of_models = {get_model_entry(m).defense for m in list_models()}
    assert set(DEFENSES) <= defenses_of_models
    assert all(cls.paper for name, cls in DEFENSES.items() if name != "none")


def test_defense_parameters_are_typed_and_checked():
    assert get_defense("pgd-at", {"eps": "0.05", "steps": "3"}).params() == {"eps": 0.05, "steps": 3}
    with pytest.raises(UnknownNameError, match="'epsilon'; valid: eps, steps"):
        get_defense("pgd-at", {"epsilon": "0.1"})
    with pytest.raises(UserInputError, match="bad value 'many'"):
        get_defense("pgd-at", {"steps": "many"})
    with pytest.raises(UserInputError, match="valid: gaussian, fgsm"):
        get_defense("mps", {"perturb": "uniform"})


# --- RSC ---------------------------------------------------------------------------------

def test_rsc_vote_is_stable_across_seeds(digits_test):
    """The smoothed (majority-vote) prediction barely depends on which draws were taken:
    with 32 draws, any two seeds agree on >= 97% of test images, while single draws
    disagree more often (the vote is what removes the encoder noise)."""
    model, _ = load_checkpoint("rsc-snn", "digits")
    x = digits_test.x[:300]
    votes = [majority_vote(model, x, draws=32, seed=s) for s in (0, 1, 2)]
    agreement = min((votes[i] == votes[j]).float().mean().item() for i in range(3) for j in range(i + 1, 3))
    singles = [vote_counts(model, x, draws=1, seed=s).argmax(1) for s in (0, 1)]
    assert agreement >= 0.97
    assert (singles[0] == singles[1]).float().mean().item() < agreement


def test_rsc_coding_rate_trades_accuracy(digits_test):
    """A lower coding rate is more smoothing: the committed rate-0.5 model is less accurate clean."""
    full = load_checkpoint("rsc-snn", "digits")[1]
    half = load_checkpoint("rsc-snn-r0.5", "digits")[1]
    assert half["encoder"] == "poisson(rate=0.5)" and half["build_kwargs"] == {"rate": 0.5}
    assert half["clean_acc"] < full["clean_acc"]


# --- MPS ---------------------------------------------------------------------------------

def test_mps_regulariser_is_zero_for_identical_inputs_and_positive_otherwise(digits_test):
    torch.manual_seed(0)
    model = create_model("mps-snn", (1, 8, 8), 10).eval()
    x = digits_test.x[:32]
    assert membrane_perturbation_of(model, x, x.clone()).item() == 0.0
    noisy = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    small = membrane_perturbation_of(model, x, noisy).item()
    large = membrane_perturbation_of(model, x, (x + 0.3 * torch.randn_like(x)).clamp(0, 1)).item()
    assert 0 < small < large  # it measures the perturbation's strength


def test_dlif_dynamics_and_per_step_gain():
    from robustbench_snn.core.neurons import DLIFNode

    n = DLIFNode(T=3, decay=0.5, v_threshold=10.0)
    with torch.no_grad():
        n.p.copy_(torch.tensor([1.0, 2.0, 3.0]))
    from robustbench_snn.core.neurons import record_membranes

    with record_membranes(n):
        n(torch.ones(3, 1))
        h = n.membrane.flatten().tolist()
    assert h == [1.0, 0.5 * 1 + 2, 0.5 * 2.5 + 3]  # h_t = decay * v_{t-1} + p_t x_t


# --- SR and GNR ------------------------------------------------------------------------

def _train_steps(defense: Defense, data, steps_epochs: int = 3):
    torch.manual_seed(0)
    model = create_model("snn-cnn", data.in_shape, 10, T=2)
    fit(model, data, TrainConfig(epochs=steps_epochs, batch_size=64, seed=0), defense, quiet=True)
    recalibrate_batchnorm(model, data)  # as train_model does; eval-mode BN is stale after a few steps
    return model.eval()


def _mean_l1(grad: torch.Tensor) -> float:
    return grad.flatten(1).abs().sum(1).mean().item()


def test_sr_lowers_the_l1_input_gradient_of_the_true_class_probability(train_subset, digits_test):
    """SR targets ||∇_x ρ_y||_1; after 18 steps it is clearly below the unregularised model's."""
    x, y = digits_test.x[:200], digits_test.y[:200]

    def statistic(model):
        x_req = x.clone().requires_grad_(True)
        rho = true_class_probability(model(x_req), y)
        (g,) = torch.autograd.grad(rho.sum(), x_req)
        return _mean_l1(g)

    plain = statistic(_train_steps(Defense(), train_subset))
    sparse = statistic(_train_steps(get_defense("sr", {"lam": 0.5}), train_subset))
    assert sparse < 0.8 * plain


def test_gnr_lowers_the_l1_input_gradient_of_the_loss(train_subset, digits_test):
    """GNR targets ||∇_x CE||_1 (double backprop through BPTT)."""
    x, y = digits_test.x[:200], digits_test.y[:200]
    plain = _mean_l1(input_gradient(_train_steps(Defense(), train_subset), x, y)[1])
    regular = _mean_l1(input_gradient(_train_steps(get_defense("gnr", {"lam": 0.5}), train_subset), x, y)[1])
    assert regular < 0.8 * plain


# --- adversarial training ----------------------------------------------------------------

def test_pgd_at_trains_on_higher_loss_points_than_clean(digits_test, zoo_snn_cnn):
    torch.manual_seed(0)
    model = zoo_snn_cnn
    x, y = digits_test.x[:64], digits_test.y[:64]
    clean = Defense().loss(model, x, y).item()
    adversarial = get_defense("pgd-at", {"eps": 0.1, "steps": 2}).loss(model, x, y).item()
    assert adversarial > clean


def test_rat_retraction_drives_weights_towards_orthogonal():
    torch.manual_seed(0)
    model = create_model("rat-snn", (1, 8, 8), 10)
    before = orthogonality_gap(model)
    for _ in range(50):
        parseval_retraction(model, beta=0.05)
    assert orthogonality_gap(model) < 0.5 * before


# --- QCFS ---------------------------------------------------------------------------------

def test_qcfs_conversion_at_large_T_matches_the_source_ann(digits_test):
    ann, _ = load_checkpoint("qcfs-snn", "digits", T=0)
    snn, card = load_checkpoint("qcfs-snn", "digits", T=128)
    assert snn.config()["T"] == 128 and ann.config()["T"] == 0
    ann_acc = clean_scores(ann, digits_test).mean().item()
    snn_acc = clean_scores(snn, digits_test).mean().item()
    assert abs(ann_acc - snn_acc) <= 0.01


def test_qcfs_snn_at_tiny_T_is_a_different_network(digits_test):
    """The SNN path is really spiking: at T=1 IF neurons emit at most one spike and outputs differ from the ANN's."""
    ann, _ = load_checkpoint("qcfs-snn", "digits", T=0)
    snn, _ = load_checkpoint("qcfs-snn", "digits", T=1)
    with torch.no_grad():
        assert not torch.allclose(ann(digits_test.x[:50]), snn(digits_test.x[:50]))


# --- zoo -----------------------------------------------------------------------------------

#: Architectures that cannot take 8x8 digits: SpikingJelly's PLIF nets have fixed fully connected
#: sizes for 28x28 (MNISTNet) and 32x32 (CIFAR10Net) inputs (README, Model zoo).
NOT_ON_DIGITS = {"plif-net"}
#: Architectures registered for the natural-image track whose MNIST checkpoints are not trained
#: yet (README, Status: issue 41). A checkpoint of one, once committed, is checked as every other
#: model's; each name must stay a registered model.
NOT_YET_ON_MNIST = {"spikformer", "sdt", "qkformer", "ms-resnet", "sew-resnet", "spiking-vgg", "plif-net", "psn-cnn", "ilif-cnn"}


@pytest.mark.artifacts
def test_every_defended_model_is_in_the_digits_zoo_above_80_percent():
    from robustbench_snn.models.zoo import read_card

    assert NOT_ON_DIGITS | NOT_YET_ON_MNIST <= set(list_models())
    zoo, events_zoo = zoo_models("digits", DEFAULT_ZOO), zoo_models("digits-events", DEFAULT_ZOO)
    for name in list_models():
        if name in EVENT_ONLY:
            assert name in events_zoo, f"{name} has no digits-events checkpoint"
            continue
        if name in NOT_ON_DIGITS:
            assert name not in zoo
            continue
        assert name in zoo, f"{name} has no digits checkpoint"
        card = read_card(name, "digits", DEFAULT_ZOO)
        assert card["clean_acc"] >= 80 and card["defense"] == get_model_entry(name).defense


@pytest.mark.artifacts
def test_mnist_zoo_has_every_defense():
    """The MNIST track carries the same zoo (cards only: runs without the MNIST files)."""
    from robustbench_snn.models.zoo import read_card

    from robustbench_snn.models.registry import get_model_entry

    zoo = zoo_models("mnist", DEFAULT_ZOO)
    # the other two noise levels of the gaussian family are digits-only (README, Certified robustness)
    digits_only = {"snn-mlp", "smooth-snn-s0.5", "smooth-snn-s1", *EVENT_ONLY}  # EVENT_ONLY: on the event zoos (test_events)
    missing = [m for m in list_models() if m not in digits_only | NOT_YET_ON_MNIST and m not in zoo]
    assert not missing, f"no MNIST checkpoint for {missing}"
    families = {get_model_entry(m).defense for m in list_models() if m not in EVENT_ONLY and m not in NOT_YET_ON_MNIST}
    assert families == {read_card(m, "mnist")["defense"] for m in zoo}, "a defense family has no MNIST checkpoint"
    assert read_card("snn-cnn", "mnist")["clean_acc"] >= 95
    assert all(read_card(m, "mnist")["clean_acc"] >= 90 for m in zoo)  # qcfs-snn at T=16: 94.03


def test_vote_counts_do_not_depend_on_the_batch_size(zoo_rsc_snn, digits_test):
    """Per-example streams: the counts of 40 examples voted 7 at a time equal those voted at once."""
    x = digits_test.x[:40]
    whole = vote_counts(zoo_rsc_snn, x, draws=6, seed=3, batch_size=40)
    assert torch.equal(whole, vote_counts(zoo_rsc_snn, x, draws=6, seed=3, batch_size=7)) and (whole.sum(1) == 6).all()
