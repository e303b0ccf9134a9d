"""``--attack ensemble19`` (robustbench_snn.evaluation.ensemble19): Özdenizci & Legenstein's 19 estimators."""

import dataclasses

import pytest
import torch

from robustbench_snn.evaluation.ensemble19 import ensemble19_evaluation, estimators
from robustbench_snn.evaluation.harness import AttackConfig, evaluate
from robustbench_snn.models.registry import create_model
from robustbench_snn.evaluation.standard import APGD_STEPS
from robustbench_snn.core.surrogate import Surrogate

EPS = 16 / 255  # a budget where members break examples, so the comparisons are informative


def test_nineteen_estimators_for_our_snn_one_for_an_ann(zoo_snn_cnn):
    chosen, skipped = estimators(zoo_snn_cnn)
    assert len(chosen) == 19 and not skipped
    assert [label for label, _, _ in chosen][-3:] == ["ste", "bptr", "rga"]
    assert len({(str(s), g) for _, s, g in chosen}) == 19  # no estimator repeats another
    torch.manual_seed(0)
    assert [label for label, _, _ in estimators(create_model("ann-cnn", (1, 8, 8), 10))[0]] == ["own"]


@pytest.fixture(scope="module")
def ensemble(zoo_snn_cnn, digits_test):
    return ensemble19_evaluation(zoo_snn_cnn, digits_test.head(40), AttackConfig(eps=EPS))


@pytest.mark.parametrize(("loss", "surrogate", "grad"), [("apgd-ce", "pcw:0.25", "bptt"), ("apgd-dlr", "exp:2", "bptt"),
                                                         ("apgd-dlr", "ste", "bptt"), ("apgd-ce", None, "bptr")])
def test_the_ensemble_is_never_above_one_of_its_members(ensemble, zoo_snn_cnn, digits_test, loss, surrogate, grad):
    """Per example: a member run alone on every example (per-example random streams, so
    the same numbers as inside the ensemble, where it ran on survivors only)."""
    cfg = dataclasses.replace(AttackConfig(attack=loss, eps=EPS, grad=grad), steps=APGD_STEPS, alpha=None)
    alone = evaluate(zoo_snn_cnn, digits_test.head(40), cfg, surrogate=Surrogate.parse(surrogate) if surrogate else None, quiet=True)
    assert (ensemble.result.robust_per_example <= alone.robust_per_example).all()


def test_per_estimator_accuracies_fall_and_end_at_the_result(ensemble):
    accs = list(ensemble.per_attack.values())
    assert len(accs) == 19 and accs == sorted(accs, reverse=True)
    assert accs[-1] == ensemble.result.robust_acc < ensemble.result.clean_acc
    assert ensemble.params["ensemble19"]["losses"] == ["apgd-ce", "apgd-dlr"]
