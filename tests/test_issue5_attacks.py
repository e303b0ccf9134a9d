"""APGD, gradient modes, mixed estimators, Square/foolbox adapters and masking flags."""

import pytest
import torch

from robustbench_snn.attacks import make_ball
from robustbench_snn.attacks.apgd import checkpoints
from robustbench_snn.attacks.adapters import foolbox_attack
from robustbench_snn.attacks.blackbox import ScoreOnly
from robustbench_snn.attacks.losses import dlr, dlr_targeted
from robustbench_snn.harness import AttackConfig, evaluate, evaluate_worst_case
from robustbench_snn.masking import MaskingEvidence, masking_flags
from robustbench_snn.neurons import GRAD_MODES, LIFNode, gradient_mode
from robustbench_snn.surrogate import Surrogate


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
@pytest.mark.parametrize("name", ["apgd-ce", "apgd-dlr", "apgd-t", "square", "mixed-pgd"])
def test_new_attacks_respect_the_ball(zoo_snn_cnn, digits_test, name, norm, eps):
    from robustbench_snn.attacks import get_attack

    x, y = digits_test.x[:40], digits_test.y[:40]
    ball = make_ball(norm, eps)
    torch.manual_seed(0)
    x_adv = get_attack(name)(zoo_snn_cnn, x, y, ball, steps=5, eot=1)
    assert (ball.distance(x_adv, x) <= eps + 1e-5).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    assert torch.equal(get_attack(name)(zoo_snn_cnn, x, y, make_ball(norm, 0.0), steps=5, eot=1), x)


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


def test_masking_flags_rules():
    clean = MaskingEvidence(whitebox={"apgd": 0.5}, blackbox={"square": 0.55}, acc_by_eps={0.05: 0.8, 0.1: 0.5, 0.2: 0.1},
                            unbounded_acc=0.0, acc_base=0.5, acc_stronger=0.49, zero_grad_share=0.0, disagreement=0.0)
    assert masking_flags(clean) == []
    masked = MaskingEvidence(whitebox={"apgd": 0.9}, blackbox={"square": 0.2}, acc_by_eps={0.05: 0.8, 0.1: 0.85},
                             unbounded_acc=0.6, acc_base=0.9, acc_stronger=0.7, zero_grad_share=0.9, disagreement=0.3, eot=1)
    assert masking_flags(masked) == ["blackbox-beats-white", "non-monotone-eps", "unbounded-survives", "not-converged", "vanishing-gradient", "randomized-no-eot"]
    masked.eot = 10
    assert "randomized-no-eot" not in masking_flags(masked)


class _ZeroGradient(torch.nn.Module):
    """A deliberately masked model: same predictions, input gradient exactly zero."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x * 0 + x.detach())


@pytest.mark.slow
def test_masked_model_is_flagged_and_beaten_by_square(zoo_snn_cnn, digits_test):
    from robustbench_snn.standard import standard_evaluation

    masked = _ZeroGradient(zoo_snn_cnn).eval()
    data = digits_test.head(100)
    std = standard_evaluation(masked, data, AttackConfig("standard", eps=0.1), sources={})
    assert "vanishing-gradient" in std.flags and "blackbox-beats-white" in std.flags
    assert std.evidence.blackbox["square"] < std.evidence.whitebox["apgd-ce"] - 0.1
    honest = standard_evaluation(zoo_snn_cnn, data, AttackConfig("standard", eps=0.1), sources={})
    assert "vanishing-gradient" not in honest.flags and "blackbox-beats-white" not in honest.flags


def test_standard_counts_an_example_robust_only_if_it_survives_every_attack(zoo_snn_cnn, digits_test):
    from robustbench_snn.standard import standard_evaluation

    std = standard_evaluation(zoo_snn_cnn, digits_test.head(100), AttackConfig("standard", eps=0.1), sources={})
    accs = list(std.per_attack.values())  # robust accuracy after each member: non-increasing
    assert all(b <= a + 1e-9 for a, b in zip(accs, accs[1:])) and std.result.robust_acc == accs[-1]
    # never above its strongest peer: ASSG + SA-PGD is a member, on the same per-example streams
    from robustbench_snn.attacks.sapgd import assg_config, assg_sapgd

    alone = evaluate(zoo_snn_cnn, digits_test.head(100), assg_config(AttackConfig(eps=0.1)), attack_fn=assg_sapgd, quiet=True)
    assert (std.result.robust_per_example <= alone.robust_per_example).all()
    assert std.per_attack["assg"] < std.per_attack["worst-surrogate"]  # it breaks what the others left
    # flag (a)'s white-box side holds ASSG alone on the evidence subset (here the whole data), reused by the member
    assert std.evidence.whitebox["assg"] == alone.robust_acc


def test_eot_lowers_rsc_accuracy_under_pgd(zoo_rsc_snn, digits_test):
    """Without EOT the attack follows one Poisson draw's gradient and over-credits the model."""
    data = digits_test.head(200)
    one = evaluate(zoo_rsc_snn, data, AttackConfig("pgd", eps=0.1, eot=1), draws=10, quiet=True).robust_acc
    ten = evaluate(zoo_rsc_snn, data, AttackConfig("pgd", eps=0.1, eot=10), draws=10, quiet=True).robust_acc
    assert ten < one


def test_cli_standard_row_has_per_attack_columns_and_flags(capsys, tmp_path):
    import pandas as pd

    from robustbench_snn.cli import main

    out = tmp_path / "lb.csv"
    assert main(["eval", "--model", "snn-mlp", "--attack", "standard", "--eps", "0.1", "--n-examples", "60", "--out", str(out), "--quiet"]) == 0
    row = pd.read_csv(out).iloc[0]
    assert row["attack"] == "standard" and row["attacks"].split(",")[:2] == ["apgd-ce", "apgd-t"]
    assert row["robust_acc"] <= min(row[c] for c in row.index if c.startswith("acc_"))
    assert "transfer-ann" in row["attacks"]  # the digits zoo's ann-cnn is the source
    assert main(["leaderboard", "--file", str(out)]) == 0


def test_flagged_rows_are_marked_on_the_leaderboard(tmp_path):
    from robustbench_snn.leaderboard import format_table, read, upsert

    base = {"model": "m", "dataset": "digits", "T": 4, "norm": "linf", "eps": 0.1, "surrogate_attack": "atan:1", "clean_acc": 99.0}
    path = tmp_path / "lb.csv"
    upsert(path, {**base, "attack": "standard", "robust_acc": 80.0, "flags": "vanishing-gradient"})
    upsert(path, {**base, "attack": "pgd", "robust_acc": 50.0})
    lines = format_table(read(path)).splitlines()
    assert "FLAGGED: vanishing-gradient" in lines[1] and "FLAGGED" not in lines[2]


def test_square_budget_is_fixed_in_model_evaluations():
    from robustbench_snn.attacks.blackbox import SQUARE_EVALS, square_queries

    assert square_queries(1) == (SQUARE_EVALS, 1)  # deterministic: every evaluation is a query
    for eot in (2, 10, 20):
        queries, draws = square_queries(eot)
        assert 1 < draws <= eot and queries * draws <= SQUARE_EVALS


def test_survivors_only_reuses_known_scores_and_skips_broken_examples(digits_test):
    from robustbench_snn.standard import _on_survivors

    data = digits_test.head(6)
    robust = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    seen = []

    def run(subset):
        seen.append(subset.y.tolist())
        return torch.full((len(subset),), 0.5)

    out = _on_survivors(robust, data, run, known=torch.tensor([0.0, 1.0]))
    assert seen == [[data.y[2].item(), data.y[3].item(), data.y[5].item()]]  # not 0-1 (known), not 4 (broken)
    assert out.tolist() == [0.0, 0.0, 0.5, 0.5, 0.0, 0.5]


def test_eot_gradient_leaves_parameter_gradients_alone(zoo_snn_cnn, digits_test):
    from robustbench_snn.attacks.gradient import eot_gradient

    for p in zoo_snn_cnn.parameters():  # the shared fixture may carry other tests' gradients
        p.grad = None
    grad = eot_gradient(zoo_snn_cnn, digits_test.x[:8], digits_test.y[:8])
    assert grad.abs().sum() > 0
    assert all(p.grad is None for p in zoo_snn_cnn.parameters())
