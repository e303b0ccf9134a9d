"""APGD and its losses, gradient modes, mixed estimators, Square and the foolbox adapter."""

import pytest
import torch

from robustbench_snn.attacks import make_ball
from robustbench_snn.attacks.apgd import checkpoints
from robustbench_snn.attacks.adapters import foolbox_attack
from robustbench_snn.attacks.blackbox import ScoreOnly
from robustbench_snn.attacks.losses import dlr, dlr_targeted
from robustbench_snn.evaluation.harness import AttackConfig, evaluate, evaluate_worst_case
from robustbench_snn.core.neurons import GRAD_MODES, LIFNode, own_gradient_mode as gradient_mode
from robustbench_snn.core.surrogate import Surrogate


def test_apgd_checkpoints_match_the_paper_schedule():
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]


def test_dlr_is_shift_and_scale_invariant():
    torch.manual_seed(0)
    z, y = torch.randn(8, 10), torch.randint(0, 10, (8,))
    assert torch.allclose(dlr(z, y), dlr(3 * z + 7, y), atol=1e-5)
    t = (y + 1) % 10
    lab = torch.stack([y, t], 1)
    assert torch.allclose(dlr_targeted(z, lab), dlr_targeted(2 * z - 1, lab), atol=1e-5)


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("l2", 0.5)])
@pytest.mark.parametrize("name", ["apgd-ce", "apgd-dlr", "apgd-t", pytest.param("square", marks=pytest.mark.slow), "mixed-pgd"])
def test_new_attacks_respect_the_ball(zoo_snn_cnn, digits_test, name, norm, eps):
    from robustbench_snn.attacks import ATTACKS

    x, y = digits_test.x[:40], digits_test.y[:40]
    ball = make_ball(norm, eps)
    torch.manual_seed(0)
    x_adv = ATTACKS[name](zoo_snn_cnn, x, y, ball, steps=5, eot=1)
    assert (ball.distance(x_adv, x) <= eps + 1e-5).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    assert torch.equal(ATTACKS[name](zoo_snn_cnn, x, y, make_ball(norm, 0.0), steps=5, eot=1), x)


def test_apgd_at_least_as_strong_as_pgd(zoo_snn_cnn, digits_test):
    data = digits_test.head(200)
    pgd = evaluate(zoo_snn_cnn, data, AttackConfig("pgd", eps=0.1, steps=20), quiet=True).robust_acc
    ap = evaluate(zoo_snn_cnn, data, AttackConfig("apgd-ce", eps=0.1, steps=20), quiet=True).robust_acc
    assert ap <= pgd + 0.01


@pytest.mark.parametrize("mode", GRAD_MODES)
def test_gradient_modes_keep_the_forward_pass_and_give_nonzero_gradients(zoo_snn_cnn, digits_test, mode):
    x = digits_test.x[:16].clone().requires_grad_(True)
    with torch.no_grad():
        ref = zoo_snn_cnn(x)
    with gradient_mode(zoo_snn_cnn, mode):
        out = zoo_snn_cnn(x)
        out.sum().backward()
    assert torch.equal(out.detach(), ref)
    assert x.grad.abs().sum() > 0


def test_bptr_has_no_temporal_credit():
    """Under bptr every step of a neuron gets the same gradient factor."""
    n = LIFNode(tau=2.0)
    x = torch.rand(4, 3, 5).mul(3).requires_grad_(True)
    n.grad_mode = "bptr"
    n(x).sum().backward()
    assert torch.allclose(x.grad, x.grad[:1].expand_as(x.grad))


def test_surrogate_sweep_worst_case_is_below_every_single_surrogate(zoo_snn_cnn, digits_test):
    data = digits_test.head(100)
    sgs = [Surrogate("atan", 1.0), Surrogate("triangle", 0.5), Surrogate("sigmoid", 0.25)]
    worst, each = evaluate_worst_case(zoo_snn_cnn, data, AttackConfig("pgd", eps=0.1), sgs, quiet=True)
    assert all((worst.robust_per_example <= scores).all() for scores in each.values())
    assert all(worst.robust_acc <= scores.mean().item() for scores in each.values())


def test_score_only_view_has_no_gradient(zoo_snn_cnn, digits_test):
    x = digits_test.x[:4].clone().requires_grad_(True)
    assert not ScoreOnly(zoo_snn_cnn)(x).requires_grad


def test_foolbox_linf_pgd_runs_through_the_adapter(zoo_snn_cnn, digits_test):
    x, y = digits_test.x[:20], digits_test.y[:20]
    ball = make_ball("linf", 0.1)
    x_adv = foolbox_attack("LinfPGD")(zoo_snn_cnn, x, y, ball, steps=5)
    assert (ball.distance(x_adv, x) <= 0.1 + 1e-5).all()
    with torch.no_grad():
        assert (zoo_snn_cnn(x_adv).argmax(1) == y).float().mean() < (zoo_snn_cnn(x).argmax(1) == y).float().mean()


@pytest.mark.slow  # 16 s of EOT-10 PGD on rsc-snn
def test_eot_lowers_rsc_accuracy_under_pgd(zoo_rsc_snn, digits_test):
    """Without EOT the attack follows one Poisson draw's gradient and over-credits the model."""
    data = digits_test.head(200)
    one = evaluate(zoo_rsc_snn, data, AttackConfig("pgd", eps=0.1, eot=1), draws=10, quiet=True).robust_acc
    ten = evaluate(zoo_rsc_snn, data, AttackConfig("pgd", eps=0.1, eot=10), draws=10, quiet=True).robust_acc
    assert ten < one


def test_square_budget_is_fixed_in_model_evaluations():
    from robustbench_snn.attacks.blackbox import SQUARE_EVALS, square_queries

    assert square_queries(1) == (SQUARE_EVALS, 1)  # deterministic: every evaluation is a query
    for eot in (2, 10, 20):
        queries, draws = square_queries(eot)
        assert 1 < draws <= eot and queries * draws <= SQUARE_EVALS


def test_eot_gradient_leaves_parameter_gradients_alone(zoo_snn_cnn, digits_test):
    from robustbench_snn.attacks.gradient import eot_gradient

    for p in zoo_snn_cnn.parameters():  # the shared fixture may carry other tests' gradients
        p.grad = None
    grad = eot_gradient(zoo_snn_cnn, digits_test.x[:8], digits_test.y[:8])
    assert grad.abs().sum() > 0
    assert all(p.grad is None for p in zoo_snn_cnn.parameters())
