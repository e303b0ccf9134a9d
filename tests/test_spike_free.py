"""The standard evaluation on a network with no spike (issue 17: fewer input gradients than
``ensemble19`` on every model, the ANN baseline included): which models qualify, the
continued APGD-T, and what the ensemble runs and costs there."""

import importlib

import pandas as pd
import pytest
import torch
from torch import nn

from robustbench_snn.attacks import make_ball
from robustbench_snn.attacks.apgd import apgd_run, apgd_targeted
from robustbench_snn.evaluation.cost import counting_passes
from robustbench_snn.evaluation.harness import AttackConfig, evaluate
from robustbench_snn.interop.foreign_neurons import has_exact_gradient
from robustbench_snn.evaluation.standard import APGD_STEPS, EXACT_TARGETED_STEPS, EXACT_TARGETS, continued_from, standard_evaluation


@pytest.fixture(scope="module")
def zoo_ann_cnn():
    from robustbench_snn.models.zoo import load_checkpoint

    return load_checkpoint("ann-cnn", "digits")[0]


class _Thresholding(nn.ReLU):
    """Looks like a ReLU, spikes: a subclass can do anything in its forward."""

    def forward(self, x):
        return (x > 0.5).float()


class _Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)


def test_only_a_model_made_of_known_exact_layers_counts_as_spike_free(zoo_ann_cnn, zoo_snn_cnn):
    assert has_exact_gradient(zoo_ann_cnn)
    assert not has_exact_gradient(zoo_snn_cnn)
    assert has_exact_gradient(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3)))
    assert not has_exact_gradient(nn.Sequential(nn.Linear(4, 3), _Thresholding()))  # by exact type, not isinstance
    assert not has_exact_gradient(_Wrapper())  # a user's own forward may threshold


def _linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 5)).eval()


def test_apgd_run_starts_at_the_given_point_projected_into_the_ball():
    model, ball = _linear_model(), make_ball("linf", 0.1)
    x = torch.rand(6, 1, 4, 4) * 0.8 + 0.1
    y = model(x).argmax(1)
    start = x + 0.05 * torch.sign(torch.randn_like(x))
    assert torch.equal(apgd_run(model, x, y, ball, 0, start=start), start)  # no step: the start itself
    far = x + 0.3
    assert torch.allclose(apgd_run(model, x, y, ball, 0, start=far), (x + 0.1).clamp(0, 1))


def test_continued_apgd_t_aims_at_the_classes_highest_at_its_start(monkeypatch):
    model, ball = _linear_model(), make_ball("linf", 0.1)
    x = torch.rand(4, 1, 4, 4)
    y = model(x).argmax(1)
    start = (x + 0.1 * torch.sign(torch.randn_like(x))).clamp(0, 1)
    seen = []

    def recorder(model, x, y, ball, steps, loss, target=None, eot=1, start=None):
        seen.append((target.clone(), start))
        return x

    monkeypatch.setattr(importlib.import_module("robustbench_snn.attacks.apgd"), "apgd_run", recorder)
    apgd_targeted(model, x, y, ball, steps=3, n_targets=2, start=start)
    with torch.no_grad():
        ranked = model(start).sort(1, descending=True).indices
    wrong = torch.stack([r[r != label] for r, label in zip(ranked, y)])
    clean_ranked = model(x).sort(1, descending=True).indices
    assert not torch.equal(ranked, clean_ranked)  # the start ranks the classes otherwise: the test can tell
    assert [t.tolist() for t, _ in seen] == [wrong[:, 0].tolist(), wrong[:, 1].tolist()]
    assert all(s is start for _, s in seen)


def test_continued_from_gives_each_example_its_own_point_in_any_order_and_batch(digits_test):
    data = digits_test.head(10)
    points = (data.x + 0.05 * torch.sign(torch.randn_like(data.x))).clamp(0, 1)
    started = continued_from(lambda: points, data.example_ids, lambda model, x, y, ball, start, **_: start)
    order = torch.tensor([7, 2, 9, 0, 4])
    result = evaluate(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval(), data.subset(order), AttackConfig("pgd", eps=0.1),
                      spec=started, batch_size=2, quiet=True)
    assert torch.equal(result.x_adv, points[order])


class _Untouchable(nn.Module):
    def forward(self, x):
        raise AssertionError("a transfer source was attacked on a spike-free model")


def test_standard_on_a_spike_free_model_runs_its_small_ensemble_for_fewer_gradients_than_ensemble19(zoo_ann_cnn, digits_test):
    from robustbench_snn.evaluation.ensemble19 import ensemble19_evaluation

    data, cfg = digits_test.head(100), AttackConfig("standard", eps=0.1)
    with counting_passes(zoo_ann_cnn) as passes:
        std = standard_evaluation(zoo_ann_cnn, data, cfg, sources={"transfer-snn": _Untouchable()})
    assert list(std.per_example) == ["apgd-ce", "apgd-t", "square"]
    assert all("skipped" in std.params[m] for m in ("worst-surrogate", "assg", "apgd-surrogates", "transfer"))
    checks = std.params["masking-checks"]
    assert checks["examples"] == 100 and 0 < checks["backward"] < passes.backward
    # the attack's input gradients, counted: APGD-CE (1 + 20) on every example, then 2 x (1 + 9) per survivor
    survivors = int((std.per_example["apgd-ce"] > 0).sum())
    assert passes.backward - checks["backward"] == (APGD_STEPS + 1) * len(data) + EXACT_TARGETS * (EXACT_TARGETED_STEPS + 1) * survivors
    with counting_passes(zoo_ann_cnn) as peer_passes:
        peer = ensemble19_evaluation(zoo_ann_cnn, data, cfg)
    assert passes.backward - checks["backward"] < peer_passes.backward
    assert std.result.robust_acc <= peer.result.robust_acc
    assert std.result.robust_acc <= std.per_example["apgd-t"].mean() <= std.per_example["apgd-ce"].mean()


def test_compile_planning_counts_the_spike_free_ensemble():
    from robustbench_snn.evaluation.composite import expected_graphs, gradient_steps

    cfg, no_spike = AttackConfig(eot=1), torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    assert gradient_steps("standard", cfg, no_spike) == (APGD_STEPS + 1) + EXACT_TARGETS * (EXACT_TARGETED_STEPS + 1)
    assert gradient_steps("standard", cfg, no_spike) < gradient_steps("standard", cfg) / 5
    assert expected_graphs("standard", cfg, no_spike) == 2  # its own gradient and the inference graph


def test_the_peers_table_compares_standard_without_its_masking_checks():
    from robustbench_snn.results.report import attack_cost

    def row(attack, bwd, params):
        return pd.Series({"bwd_per_example": bwd, "params": params, "n_examples": 500}, name=attack)

    assert attack_cost(row("standard", 56.1, '{"masking-checks": {"examples": 100, "forward": 1, "backward": 14200}}')) == "27.7"
    assert attack_cost(row("standard", 385.0, "{}")) == "385.0*"  # made before the checks were counted apart
    assert attack_cost(row("ensemble19", 41.2, "{}")) == "41.2"
    assert attack_cost(row("assg", float("nan"), "{}")) == "—"
