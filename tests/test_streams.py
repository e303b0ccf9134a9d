"""Per-example random streams: no number depends on the batch size (issue 15, item 5)."""

import pandas as pd
import pytest
import torch

from robustbench_snn.core import streams
from robustbench_snn.attacks import make_ball
from robustbench_snn.evaluation.certify import CertifyConfig, EncoderNoise, GaussianNoise, certify_dataset
from robustbench_snn.cli import main
from robustbench_snn.core.encoders import PoissonEncoder
from robustbench_snn.evaluation.harness import LIBRARY_BLOCK, AttackConfig, attack_batches, evaluate


def test_an_example_draws_the_same_numbers_in_any_batch_and_position():
    with streams.per_example(3, [5], "x"):
        alone = streams.rand((4, 2, 3))  # 4 draws of example 5
    with streams.per_example(3, [9, 5, 7], "x"):
        batch = streams.rand((3, 2, 3))  # one draw each of examples 9, 5, 7
        stacked = streams.rand((9, 2, 3))  # three EOT copies: rows c * 3 + j
    assert torch.equal(batch[1], alone[0])
    assert torch.equal(torch.stack([stacked[1], stacked[4], stacked[7]]), alone[1:])


def test_purposes_and_seeds_give_unrelated_streams():
    draw = lambda seed, purpose: streams.ExampleStreams.for_examples(seed, [0], purpose).draw(lambda g, k: torch.rand(k, 8, generator=g), 1)  # noqa: E731
    assert not torch.equal(draw(0, "clean"), draw(0, "score"))
    assert not torch.equal(draw(0, "score"), draw(1, "score"))
    assert torch.equal(draw(2, "score"), draw(2, "score"))


def test_a_pass_that_does_not_match_the_streams_is_refused():
    with streams.per_example(0, [0, 1, 2], "x"), pytest.raises(RuntimeError, match="subset"):
        streams.rand((4, 5))


def test_a_subset_continues_its_examples_streams():
    with streams.per_example(0, [0, 1, 2], "x") as s:
        first = streams.rand((3, 4))
        with streams.using(s.subset(torch.tensor([False, True, True]))):
            second = streams.rand((2, 4))
    with streams.per_example(0, [1], "x"):
        alone = streams.rand((2, 4))
    assert torch.equal(first[1], alone[0]) and torch.equal(second[0], alone[1])


def test_without_streams_draws_come_from_the_global_generator():
    torch.manual_seed(4)
    expected = torch.empty(3, 5).uniform_(-0.1, 0.1)
    torch.manual_seed(4)
    assert torch.equal(streams.uniform_like(torch.zeros(3, 5), -0.1, 0.1), expected)


def test_poisson_spikes_of_an_example_do_not_depend_on_its_batch():
    enc = PoissonEncoder(T=6)
    x = torch.rand(4, 1, 8, 8)
    with streams.per_example(0, torch.arange(4), "e"):
        together = enc(x)  # [T, 4, 1, 8, 8]
    with streams.per_example(0, [2], "e"):
        alone = enc(x[2:3])
    assert together.shape == (6, 4, 1, 8, 8)
    assert torch.equal(together[:, 2], alone[:, 0])


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_random_starts_are_per_example_and_in_the_ball(norm):
    ball = make_ball(norm, 0.3)
    x = torch.rand(5, 1, 8, 8)
    with streams.per_example(1, torch.arange(5), "attack"):
        starts = ball.random_start(x)
    with streams.per_example(1, [3], "attack"):
        alone = ball.random_start(x[3:4])
    assert torch.equal(starts[3], alone[0])
    assert (ball.distance(starts, x) <= 0.3 + 1e-6).all()


@pytest.mark.parametrize("attack", ["pgd", "apgd-t", pytest.param("square", marks=pytest.mark.slow)])
def test_rows_of_a_stochastic_model_are_the_same_for_batch_sizes_7_and_250(attack, digits_test):
    from robustbench_snn.models.zoo import load_checkpoint

    model, _ = load_checkpoint("rsc-snn", "digits")
    data = digits_test.head(12 if attack == "square" else 30)  # Square spends 1,000 model evaluations per example
    cfg = AttackConfig(attack=attack, eps=0.2, steps=4, eot=3)
    small, large = (evaluate(model.eval(), data, cfg, draws=3, seed=5, batch_size=b, quiet=True) for b in (7, 250))
    assert torch.equal(small.clean_per_example, large.clean_per_example)
    assert torch.equal(small.robust_per_example, large.robust_per_example)
    assert large.robust_acc < large.clean_acc  # the attack did something, so equality is not vacuous


def test_an_example_scores_the_same_on_a_survivor_subset(digits_test):
    """The standard evaluation attacks survivors only: an example's result must not
    depend on which others survived with it."""
    from robustbench_snn.models.zoo import load_checkpoint

    model, _ = load_checkpoint("rsc-snn", "digits")
    data = digits_test.head(24)
    cfg = AttackConfig(attack="apgd-ce", eps=0.1, steps=4, eot=2)
    full = evaluate(model.eval(), data, cfg, draws=2, seed=0, quiet=True)
    keep = torch.arange(24)[torch.arange(24) % 3 != 0]
    part = evaluate(model.eval(), data.subset(keep), cfg, draws=2, seed=0, batch_size=5, quiet=True)
    assert torch.equal(part.robust_per_example, full.robust_per_example[keep])


def test_library_attacks_run_on_fixed_blocks_of_ids(digits_test):
    data = digits_test.subset(torch.tensor([3, 260, 4, 251, 499, 10]))
    blocks = attack_batches(data, batch_size=2, blocked=True)
    ids = [data.example_ids[b].tolist() for b in blocks]
    assert ids == [[3, 4, 10], [260, 251, 499]] and LIBRARY_BLOCK == 250
    assert [b.tolist() for b in attack_batches(data, 4, blocked=False)] == [[0, 1, 2, 3], [4, 5]]


@pytest.mark.parametrize("mechanism", [GaussianNoise(0.5), EncoderNoise(T=8)])
def test_certificates_do_not_depend_on_draws_per_pass(mechanism, digits_test):
    from robustbench_snn.models.zoo import load_checkpoint

    model, _ = load_checkpoint("rsc-snn" if isinstance(mechanism, EncoderNoise) else "smooth-snn-s0.5", "digits")
    data = digits_test.head(3)
    rows = [certify_dataset(model, mechanism, data, CertifyConfig(n0=20, n=300, batch=b), record_time=False) for b in (7, 300)]
    assert rows[0] == rows[1]


def test_the_cli_row_is_the_same_for_batch_sizes_7_and_250_and_its_command_remakes_it(tmp_path, capsys):
    base = ["eval", "--model", "rsc-snn", "--attack", "pgd", "--eps", "0.1", "--n-examples", "30", "--steps", "3", "--eot", "2",
            "--draws", "2", "--seed", "11", "--quiet"]
    for b in (7, 250):
        assert main(base + ["--batch-size", str(b), "--out", str(tmp_path / f"b{b}.csv")]) == 0
    small, large = (pd.read_csv(tmp_path / f"b{b}.csv").iloc[0] for b in (7, 250))
    assert (small.clean_acc, small.robust_acc) == (large.clean_acc, large.robust_acc)
    assert "--batch-size 7" in small.command and "--seed 11" in small.command and "--eot 2" in small.command
    again = tmp_path / "again.csv"
    assert main(small.command.split()[1:] + ["--out", str(again), "--quiet"]) == 0
    assert (pd.read_csv(again).iloc[0][["clean_acc", "robust_acc"]] == small[["clean_acc", "robust_acc"]]).all()


def test_a_model_drawing_from_the_global_generator_repeats_its_row_and_leaves_the_callers_state(digits_test):
    """A user's stochastic model that calls torch.rand itself: the same run gives the same row."""
    from torch import nn

    class NoisyLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)
            torch.nn.init.normal_(self.fc.weight, generator=torch.Generator().manual_seed(0))

        def forward(self, x):
            return self.fc((x + 0.3 * torch.rand_like(x)).flatten(1))

    model, data = NoisyLinear(), digits_test.head(20)
    cfg = AttackConfig(attack="pgd", eps=0.1, steps=2, eot=2)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    first = evaluate(model, data, cfg, draws=4, seed=0, batch_size=8, quiet=True)
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.rand(5)  # the caller's generator moves on; the row must not
    second = evaluate(model, data, cfg, draws=4, seed=0, batch_size=8, quiet=True)
    assert torch.equal(first.robust_per_example, second.robust_per_example)
    assert torch.equal(first.clean_per_example, second.clean_per_example)


@pytest.mark.parametrize("row", [(1,), (5,), (15,), (16,), (17,), (8, 8), (1, 28, 28), (3, 7)])
def test_copies_drawn_in_one_call_are_the_copies_drawn_one_by_one(row):
    """An example's EOT copies come from one generator call per pass; the numbers must be
    those of one call per copy (the order the streams were defined in)."""
    k, ids = 3, [4, 11]
    one_by_one = {name: [] for name in ("rand", "uniform", "randn")}
    for name, one in (("rand", lambda g: torch.rand(row, generator=g)),
                      ("uniform", lambda g: torch.empty(row).uniform_(-0.5, 0.5, generator=g)),
                      ("randn", lambda g: torch.randn(row, generator=g))):
        gens = [torch.Generator().manual_seed(streams.example_seed(0, i, name)) for i in ids]
        one_by_one[name] = torch.stack([one(g) for _ in range(k) for g in gens])  # row c * B + j
    x = torch.zeros(k * len(ids), *row)
    with streams.per_example(0, ids, "rand"):
        assert torch.equal(streams.rand(x.shape), one_by_one["rand"])
    with streams.per_example(0, ids, "uniform"):
        assert torch.equal(streams.uniform_like(x, -0.5, 0.5), one_by_one["uniform"])
    with streams.per_example(0, ids, "randn"):
        assert torch.equal(streams.randn_like(x), one_by_one["randn"])
