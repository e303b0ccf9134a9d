"""Progress counts an attack's own work -- gradient steps, score queries -- per member."""

import pytest

from robustbench_snn.attacks import ATTACKS, make_ball
from robustbench_snn.attacks.apgd import apgd_ce
from robustbench_snn.attacks.blackbox import square
from robustbench_snn.attacks.pgd import pgd
from robustbench_snn.evaluation.harness import AttackConfig, evaluate
from robustbench_snn.core.progress import counting


@pytest.mark.parametrize(("attack", "fn", "steps"), [("pgd", pgd, 4), ("apgd-ce", apgd_ce, 5)])
def test_gradient_attacks_tick_once_per_step_as_expected(zoo_snn_cnn, digits_test, attack, fn, steps):
    ticks = []
    x, y = digits_test.x[:6], digits_test.y[:6]
    with counting(ticks.append):
        fn(zoo_snn_cnn, x, y, make_ball("linf", 0.1), steps=steps, eot=3)  # EOT copies are one step
    assert sum(ticks) == ATTACKS[attack].ticks(steps, 3)


def test_square_ticks_once_per_query_and_never_above_its_budget(zoo_snn_cnn, digits_test):
    ticks = []
    with counting(ticks.append):
        square(zoo_snn_cnn, digits_test.x[:4], digits_test.y[:4], make_ball("linf", 8 / 255), evals=20)
    assert 1 <= sum(ticks) <= 20 + 3  # the budget plus torchattacks' three checks


def test_the_bar_names_the_member_and_counts_steps(zoo_snn_cnn, digits_test, capsys):
    evaluate(zoo_snn_cnn, digits_test.head(10), AttackConfig("pgd", steps=3), batch_size=4, label="worst-surrogate", quiet=False)
    err = capsys.readouterr().err
    assert "worst-surrogate digits" in err and "9/9 [" in err and "step" in err  # 3 batches x 3 steps


def test_the_event_attack_ticks_once_per_flip_step_within_its_expected_total():
    """sparse-flip's bar counts its flip steps (it stops early once every example is broken
    or out of budget), so a --norm events run shows movement and an ETA too."""
    from robustbench_snn.attacks.event_flips import sparse_flip
    from robustbench_snn.data.catalog import load_dataset
    from robustbench_snn.models.zoo import load_checkpoint

    model = load_checkpoint("snn-cnn", "digits-events")[0]
    data = load_dataset("digits-events", "test").head(8)
    ticks = []
    with counting(ticks.append):
        sparse_flip(model, data.x, data.y, make_ball("events", 6), steps=6)
    assert 1 <= sum(ticks) <= ATTACKS["sparse-flip"].ticks(6, 1) == 6


def test_the_continued_targeted_member_bar_counts_all_its_runs(digits_test, capsys):
    """The spike-free standard's APGD-T (a continued spec, two runs) ticks once per
    gradient of each run, and its bar's total says so rather than one run's steps."""
    import torch

    from robustbench_snn.attacks.apgd import apgd_targeted
    from robustbench_snn.evaluation.standard import EXACT_TARGETED_STEPS, EXACT_TARGETS, continued_from

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    data = digits_test.head(4)
    ticks, expected = [], EXACT_TARGETS * (EXACT_TARGETED_STEPS + 1)
    run = continued_from(lambda: data.x, data.example_ids, apgd_targeted, n_targets=EXACT_TARGETS, ticks=lambda steps, eot: expected)
    with counting(ticks.append):
        own = model(data.x).argmax(1)  # labels the model gets right, a ball too small to fool it: both runs go on
        run(model, data.x, own, make_ball("linf", 1e-4), example_ids=data.example_ids, steps=EXACT_TARGETED_STEPS)
    assert sum(ticks) == expected
    evaluate(model, data, AttackConfig("apgd-t", eps=1e-4, steps=EXACT_TARGETED_STEPS), spec=run, label="apgd-t", quiet=False)
    assert f"{expected}/{expected} [" in capsys.readouterr().err
