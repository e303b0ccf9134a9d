"""ASSG + SA-PGD (``--attack assg``; robustbench_snn.attacks.assg, robustbench_snn.attacks.sapgd),
as Wang et al. (arXiv 2512.22522) define them."""

import math

import pytest
import torch

from robustbench_snn.attacks.assg import RELAX, VANISHING_BOUND, adaptive_sharpness
from robustbench_snn.attacks import make_ball
from robustbench_snn.attacks.sapgd import ASSG, assg_sapgd, halving_steps, sapgd
from robustbench_snn.attacks.spec import AttackSpec
from robustbench_snn.core.errors import UserInputError
from robustbench_snn.evaluation.harness import AttackConfig, evaluate
from robustbench_snn.core.neurons import IFNode
from robustbench_snn.core.surrogate import SurrogateChoice


def paper_halvings(steps):
    """The authors' step-size loop, written out: a counter that halves at k, k shrinking."""
    k, shrink, floor = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    counter, out = 0, []
    for i in range(steps):
        counter += 1
        if counter == k:
            out.append(i + 1)
            counter, k = 0, max(k - shrink, floor)
    return out


@pytest.mark.parametrize("steps", [5, 20, 100, 1000])
def test_step_size_halves_where_the_paper_does(steps):
    assert halving_steps(steps) == paper_halvings(steps)
    assert halving_steps(100) == [22, 41, 57, 70, 80, 87, 93, 99]


def test_assg_moments_sharpness_and_gradient_follow_the_equations():
    """One IF neuron, T=1, threshold 1: u = x - 1. Two iterations with EOT 2 (the second
    copy must not move the moments); the backward is atan at α = a / (M + r·D + 1e-4)."""
    neuron = IFNode(v_threshold=1.0)
    a = 2 * math.tan(math.pi * VANISHING_BOUND) / math.pi
    m, d = torch.ones(3), torch.zeros(3)
    with adaptive_sharpness(neuron, rows=3) as state:
        for x0 in ([0.2, 1.5, 3.0], [0.9, 0.0, 1.1]):
            x = torch.tensor(x0)
            u = (x - 1).abs()
            m = 0.9 * m + 0.1 * u
            d = 0.9 * d + 0.1 * (u - m).abs()
            alpha = a / (m + RELAX * d + 1e-4)
            state.next_iteration()
            x_seq = torch.cat([x, x + 5]).view(1, 6).requires_grad_(True)  # [T=1, B=2 copies x 3]
            spikes = neuron(x_seq)
            (grad,) = torch.autograd.grad(spikes.sum(), x_seq)
            u_all = x_seq.detach() - 1
            expected = (alpha.repeat(2) / 2) / (1 + (math.pi / 2 * alpha.repeat(2) * u_all) ** 2)
            assert torch.allclose(grad, expected, rtol=1e-6)
            assert spikes.tolist() == (u_all >= 0).float().tolist()
    assert neuron.sharpness is None  # detached after the attack


def test_sapgd_stays_in_the_ball_and_eps_zero_changes_nothing(zoo_snn_cnn, digits_test):
    x, y = digits_test.x[:32], digits_test.y[:32]
    ball = make_ball("linf", 0.1)
    x_adv = assg_sapgd(zoo_snn_cnn, x, y, ball, steps=10)
    assert ((x_adv - x).abs().amax((1, 2, 3)) <= 0.1 + 1e-6).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv != x).any()
    assert torch.equal(assg_sapgd(zoo_snn_cnn, x, y, make_ball("linf", 0.0), steps=10), x)
    with pytest.raises(UserInputError, match="linf ball"):
        sapgd(zoo_snn_cnn, x, y, make_ball("l2", 0.5), steps=3)


@pytest.mark.slow
def test_assg_breaks_more_than_sapgd_with_the_training_surrogate(zoo_snn_cnn, digits_test):
    """The paper's claim, measured on our snn-cnn (digits, eps 0.1, 200 images): the adaptive
    sharpness, not the optimiser, breaks the examples a fixed atan surrogate cannot."""
    data, cfg = digits_test.head(200), AttackConfig(eps=0.1, steps=100)
    fixed = evaluate(zoo_snn_cnn, data, cfg, spec=AttackSpec(sapgd), quiet=True)
    adaptive = evaluate(zoo_snn_cnn, data, cfg, spec=ASSG, quiet=True)
    assert adaptive.robust_acc < fixed.robust_acc - 0.1


@pytest.mark.parametrize("example", ["spikingjelly-cnn", "snntorch-cnn"])
def test_assg_reaches_library_neurons_and_leaves_them_as_they_were(example):
    """Through the interop layer: one moment pair per (neuron, time step) -- the step count
    restarts with every pass -- a gradient other than the library's own surrogate's, and
    the library's spike functions restored after the attack."""
    from pathlib import Path

    from robustbench_snn.evaluation.model_checks import prepare_model
    from robustbench_snn.data.catalog import load_dataset
    from robustbench_snn.interop.foreign_neurons import find_neurons
    from robustbench_snn.submission.card import load_submission

    pytest.importorskip("spikingjelly")
    pytest.importorskip("snntorch")
    data = load_dataset("digits", "test").head(6)
    model, _ = prepare_model(load_submission(Path(__file__).resolve().parent.parent / "examples" / example).model, data, "cpu", SurrogateChoice())
    neurons = find_neurons(model)
    before = [n.family.spike_fn(n.module) for n in neurons]

    def input_gradient():
        x = data.x.clone().requires_grad_(True)
        return torch.autograd.grad(model(x).logsumexp(1).sum(), x)[0]

    own = input_gradient()
    with adaptive_sharpness(model, rows=len(data)) as state:
        for _ in range(2):  # two iterations of an attack
            state.next_iteration()
            adaptive = input_gradient()
        steps = {t for (_, t) in state.moments}
        assert len(state.moments) == len(neurons) * len(steps) and len(steps) > 1
    assert adaptive.abs().sum() > 0 and not torch.allclose(adaptive, own)
    assert [n.family.spike_fn(n.module) for n in neurons] == before
