"""The masking checks and the standard evaluation's per-example bookkeeping: the flag rules,
a masked model flagged and beaten by Square, survivors counted across every member."""

import pytest
import torch

from robustbench_snn.attacks.spec import AttackSpec
from robustbench_snn.evaluation.harness import AttackConfig, EvalResult, evaluate
from robustbench_snn.evaluation.masking import MaskingEvidence, masking_flags


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
    from robustbench_snn.evaluation.standard import standard_evaluation

    masked = _ZeroGradient(zoo_snn_cnn).eval()
    data = digits_test.head(100)
    std = standard_evaluation(masked, data, AttackConfig("standard", eps=0.1), sources={})
    assert "vanishing-gradient" in std.flags and "blackbox-beats-white" in std.flags
    assert std.evidence.blackbox["square"] < std.evidence.whitebox["apgd-ce"] - 0.1
    honest = standard_evaluation(zoo_snn_cnn, data, AttackConfig("standard", eps=0.1), sources={})
    assert "vanishing-gradient" not in honest.flags and "blackbox-beats-white" not in honest.flags


@pytest.mark.slow  # 40 s (a full standard run); its per-example ledger is tested by default below (survivors_only)
def test_standard_counts_an_example_robust_only_if_it_survives_every_attack(zoo_snn_cnn, digits_test):
    from robustbench_snn.evaluation.standard import standard_evaluation

    std = standard_evaluation(zoo_snn_cnn, digits_test.head(100), AttackConfig("standard", eps=0.1), sources={})
    accs = list(std.per_attack.values())  # robust accuracy after each member: non-increasing
    assert all(b <= a + 1e-9 for a, b in zip(accs, accs[1:])) and std.result.robust_acc == accs[-1]
    # never above its strongest peer: ASSG + SA-PGD is a member, on the same per-example streams
    from robustbench_snn.attacks.sapgd import ASSG, assg_config

    alone = evaluate(zoo_snn_cnn, digits_test.head(100), assg_config(AttackConfig(eps=0.1)), spec=ASSG, quiet=True)
    assert (std.result.robust_per_example <= alone.robust_per_example).all()
    assert std.per_attack["assg"] < std.per_attack["worst-surrogate"]  # it breaks what the others left
    # flag (a)'s white-box side holds ASSG alone on the evidence subset (here the whole data), reused by the member
    assert std.evidence.whitebox["assg"] == alone.robust_acc


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
    from robustbench_snn.results.leaderboard import format_table, read, upsert

    base = {"model": "m", "dataset": "digits", "T": 4, "norm": "linf", "eps": 0.1, "surrogate_attack": "atan:1", "n_examples": 500, "clean_acc": 99.0}
    path = tmp_path / "lb.csv"
    upsert(path, {**base, "attack": "standard", "robust_acc": 80.0, "flags": "vanishing-gradient"})
    upsert(path, {**base, "attack": "pgd", "robust_acc": 50.0})
    lines = format_table(read(path)).splitlines()
    assert "FLAGGED: vanishing-gradient" in lines[1] and "FLAGGED" not in lines[2]


def test_survivors_only_reuses_known_scores_and_skips_broken_examples(digits_test):
    from robustbench_snn.evaluation.standard import _on_survivors

    data = digits_test.head(6)
    robust = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    seen = []

    def result(scores, inputs):
        return EvalResult(0.0, 0.0, scores, scores, 0.0, 0.0, inputs)

    def run(subset):
        seen.append(subset.y.tolist())
        return result(torch.full((len(subset),), 0.5), subset.x + 1)

    inputs = data.x.clone()
    known = result(torch.tensor([0.0, 1.0]), data.x[:2] + 2)
    out, chosen = _on_survivors(robust, inputs, data, run, known=known)
    assert seen == [[data.y[2].item(), data.y[3].item(), data.y[5].item()]]  # not 0-1 (known), not 4 (broken)
    assert out.tolist() == [0.0, 0.0, 0.5, 0.5, 0.0, 0.5]
    # each example keeps the input behind its lowest score: the known one for 0, the member's for 2, 3, 5
    assert torch.equal(chosen[0], data.x[0] + 2) and torch.equal(chosen[1], data.x[1]) and torch.equal(chosen[4], data.x[4])
    assert all(torch.equal(chosen[i], data.x[i] + 1) for i in (2, 3, 5))


def test_chained_estimators_give_the_worst_case_of_running_each_on_everything(zoo_snn_cnn, digits_test):
    """The worst-surrogate and apgd-surrogates members chain their estimators: each runs only on
    the examples the previous ones left robust, and the result is the per-example minimum of
    running every estimator on all the examples (per-example streams), for fewer examples attacked."""
    from robustbench_snn.evaluation.standard import _chained
    from robustbench_snn.core.surrogate import Surrogate

    data = digits_test.head(40)
    cfg = AttackConfig("pgd", eps=0.1, steps=3)
    seen: list[list[int]] = []

    def run(spec):
        def attack(d):
            seen.append(d.example_ids.tolist())
            return evaluate(zoo_snn_cnn, d, cfg, surrogate=Surrogate.parse(spec), quiet=True)
        return attack

    specs = ("atan:1", "pcw:1", "rect:2")
    everywhere = torch.stack([run(s)(data).robust_per_example for s in specs]).min(0).values
    seen.clear()
    chained = _chained(data, [run(s) for s in specs])
    assert torch.equal(chained.robust_per_example, everywhere) and 0 < everywhere.sum() < len(data)
    # the chosen inputs earn the chosen scores (a deterministic model: scoring them again agrees)
    rescored = evaluate(zoo_snn_cnn, data, cfg, spec=AttackSpec(lambda m, x, y, ball, **kw: chained.x_adv[:len(x)].to(x)), quiet=True, batch_size=len(data))
    assert torch.equal(rescored.robust_per_example, everywhere)
    assert len(seen) == 3 and len(seen[0]) == len(data) and len(seen[2]) < len(data)  # later estimators see survivors only


def _null_members(model, data, draws: int):
    """``(clean, null_member)``: ``model``'s clean scores on ``data`` and ``null_member(k)``, a
    member that attacks nothing: a noisy (uncertain) copy of each input moved by 1/255 at random
    (seed ``k``), scored with the shared scoring draws."""
    from robustbench_snn.evaluation.harness import accuracy_per_example

    clean = accuracy_per_example(model, data.x, data.y, draws, ids=data.example_ids, purpose="clean")
    noisy = (data.x + 0.5 * (2 * torch.rand(data.x.shape, generator=torch.Generator().manual_seed(1)) - 1)).clamp(0, 1)

    def null_member(k):
        def run(d):
            base = noisy[d.example_ids]
            moved = (base + torch.randint(-1, 2, base.shape, generator=torch.Generator().manual_seed(k)) / 255).clamp(0, 1)
            scores = accuracy_per_example(model, moved, d.y, draws, ids=d.example_ids, purpose="score")
            return EvalResult(0.0, 0.0, clean, torch.minimum(clean[d.example_ids], scores), 0.0, 0.0, moved)
        return run

    return clean, null_member


def test_the_worst_case_of_a_stochastic_model_is_scored_again_with_held_out_draws(zoo_rsc_snn, zoo_snn_cnn, digits_test):
    """Members that attack nothing (one noisy input moved by 1/255 at random) still lower a
    Poisson model's per-example minimum over the shared scoring draws: selection, not attack. The
    ledger's final scores re-score each example's chosen input with held-out draws, which
    removes that; on a deterministic model (one draw) they are the selection scores."""
    from robustbench_snn.evaluation.harness import held_out_scores
    from robustbench_snn.evaluation.standard import Ledger, Selection

    data, draws = digits_test.head(120), 10
    clean, null_member = _null_members(zoo_rsc_snn, data, draws)

    ledger = Ledger.start(data, clean.clone(), Selection(zoo_rsc_snn, draws, seed=0, confirm=0))  # ten-draw comparison
    for k in range(12):
        ledger.add(str(k), null_member(k))
    final = ledger.final(clean)
    one = torch.minimum(clean, held_out_scores(zoo_rsc_snn, data, null_member(0)(data).x_adv, draws))
    assert ledger.robust.mean() < final.mean() - 0.02  # the minimum over 12 null members is biased low
    assert abs(final.mean() - one.mean()) < 0.02  # held-out: what one null member scores
    assert (final <= clean).all()

    det = Ledger.start(data, torch.ones(len(data)))
    det.add("pgd", lambda d: evaluate(zoo_snn_cnn, d, AttackConfig("pgd", eps=0.1, steps=2), quiet=True))
    assert torch.equal(det.final(torch.ones(len(data))), det.robust)
    assert torch.equal(Ledger(det.data, det.robust, det.inputs, Selection(zoo_snn_cnn, 1, 0)).final(torch.ones(len(data))), det.robust)


def test_a_stochastic_ledger_compares_inputs_with_confirm_draws_so_noise_chooses_less(zoo_rsc_snn, digits_test):
    """Null members (one noisy input moved by 1/255 at random: no attack) lower the minimum of
    ten-draw scores far below what the kept inputs score on held-out draws; comparing the
    candidates by their scores pooled with confirm draws (:class:`Selection`) keeps that gap
    smaller. On a deterministic model (one draw) the selection is the member's scores."""
    from robustbench_snn.evaluation.standard import CONFIRM_DRAWS, Ledger, Selection

    data, draws = digits_test.head(120), 10
    clean, null_member = _null_members(zoo_rsc_snn, data, draws)

    gaps = {}
    for name, confirm in {"ten draws": 0, "pooled": CONFIRM_DRAWS}.items():
        ledger = Ledger.start(data, clean.clone(), Selection(zoo_rsc_snn, draws, 0, confirm))
        for k in range(12):
            ledger.add(str(k), null_member(k))
        held_out = ledger.final(clean)  # the kept inputs on 100 held-out draws
        gaps[name] = (held_out.mean() - ledger.robust.mean()).item()
        assert (ledger.robust[1:] <= 1).all() and all((a >= b).all() for a, b in zip(list(ledger.after.values()), list(ledger.after.values())[1:]))
    assert gaps["ten draws"] > 0.03 and gaps["pooled"] < 0.75 * gaps["ten draws"], gaps  # measured: 0.039 and 0.026
    assert Selection(zoo_rsc_snn, 1, 0).params() == {} and Selection(zoo_rsc_snn, draws, 0).params() == {"confirm draws": CONFIRM_DRAWS, "held-out draws": 100}
