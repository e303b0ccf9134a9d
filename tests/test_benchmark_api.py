"""The public ``benchmark()`` API on models users bring: stateful library neurons,
non-differentiable spikes, zero surrogates, wrong outputs."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from robustbench_snn import ResetEachPass, TimeMajor, benchmark, find_neurons
from robustbench_snn.core.errors import UserInputError
from robustbench_snn.results.leaderboard import COLUMNS
from robustbench_snn.results.provenance import cpu_fingerprint, host
from robustbench_snn.submission.card import load_submission

from foreign_models import zero_surrogates

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
N = 24  # examples per test: enough for several to fall, few enough for seconds

pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")


def _example(name):
    return load_submission(EXAMPLES / name).model


class ManualReset(nn.Module):
    """The same weights with the library's own reset written into forward()."""

    def __init__(self, model, reset):
        super().__init__()
        self.model, self.reset = model, reset

    def forward(self, x):
        self.reset(self.model)
        return self.model(x)


def _snntorch_reset(model):
    from snntorch import utils

    utils.reset(model.net)


def _spikingjelly_reset(model):
    from spikingjelly.activation_based import functional

    functional.reset_net(model)


@pytest.mark.parametrize(("name", "reset"), [("snntorch-cnn", _snntorch_reset), ("spikingjelly-cnn", _spikingjelly_reset)])
@pytest.mark.parametrize("attack", ["pgd", "apgd-ce", "ta-pgd", pytest.param("square", marks=pytest.mark.slow)])
def test_stateful_library_model_scores_as_with_a_manual_reset_before_every_pass(name, reset, attack):
    model = _example(name)
    # unequal batches (7, 7, 7, 3; Square: 4, 2 of fewer examples, its 1,000 queries being slow).
    # Square's random squares depend on the batch, so both runs use the same batches
    n, batch = (6, 4) if attack == "square" else (N, 7)
    ours = benchmark(model, attack=attack, n_examples=n, progress=False, batch_size=batch)
    manual = benchmark(ManualReset(model, reset), attack=attack, n_examples=n, progress=False, batch_size=batch)
    assert (ours.clean_acc, ours.robust_acc) == (manual.clean_acc, manual.robust_acc)
    assert torch.equal(ours.robust_per_example, manual.robust_per_example)
    assert ours.robust_acc < ours.clean_acc  # the attack did something


def test_surrogate_on_a_model_without_recognised_neurons_is_an_error():
    with pytest.raises(UserInputError, match="no recognised spiking neurons"):
        benchmark(_example("plain-snn"), attack="pgd", surrogate="atan:1", n_examples=4, progress=False)


class ThresholdSNN(nn.Module):
    """A spike written as ``(v >= thr).float()`` (``where=False``), or as ``torch.where(v >= thr, 1, 0)``
    (``where=True``, a form the spike tracing does not look for): no autograd path from the input."""

    def __init__(self, where: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2 = nn.Linear(64, 64), nn.Linear(64, 10)
        self.where = where

    def forward(self, x):
        v = self.fc1(x.flatten(1))
        spikes = torch.where(v >= 0.0, torch.ones_like(v), torch.zeros_like(v)).detach() if self.where else (v >= 0.0).float()
        return self.fc2(spikes)


def test_a_non_differentiable_spike_found_nowhere_is_flagged_and_attacked_by_the_black_box_members():
    result = benchmark(ThresholdSNN(where=True), attack="standard", n_examples=N, progress=False, transfer_sources={})
    assert "no-gradient" in result.flags
    assert list(result.per_attack) == ["square"]  # white-box members skipped, black box ran
    assert result.robust_acc <= result.clean_acc
    assert result.row()["surrogate_attack"] == "not-differentiable"
    assert result.params["spike-tracing"] == {"not traced": "no comparison cast to float, heaviside or zero-backward autograd.Function ran in its forward"}
    pgd = benchmark(ThresholdSNN(where=True), attack="pgd", n_examples=N, progress=False)
    assert "no-gradient" in pgd.flags  # a single gradient attack on it is flagged too


def test_a_comparison_spike_is_found_and_attacked_through_bpda():
    pgd = benchmark(ThresholdSNN(), attack="pgd", n_examples=N, progress=False)
    assert "no-gradient" not in pgd.flags and pgd.row()["surrogate_attack"] == "bpda:atan:1"
    assert pgd.params["spike-tracing"]["sites"][0].startswith("ge->float@test_benchmark_api.py:")


def test_bpda_drives_a_zero_surrogate_spikingjelly_model_to_the_atan_apgd_number():
    """Issue criterion: within 1 point of atan-surrogate APGD-CE on the same weights."""
    zero = zero_surrogates(_example("spikingjelly-cnn"))
    bpda = benchmark(zero, attack="apgd-ce", eps=0.1, n_examples=N, progress=False)
    atan = benchmark(_example("spikingjelly-cnn"), attack="apgd-ce", eps=0.1, surrogate="atan:1", n_examples=N, progress=False)
    assert bpda.settings["surrogate_attack"] == "bpda:atan:1"
    assert abs(bpda.robust_acc - atan.robust_acc) <= 1.0
    assert bpda.robust_acc < bpda.clean_acc - 10  # eps 0.1 breaks it: the gradient reached the input


def test_result_records_what_ran_and_makes_a_complete_row(zoo_snn_cnn):
    res = benchmark(zoo_snn_cnn, attack="pgd", n_examples=N, progress=False, name="snn-cnn")
    compiled = res.params.pop("compile")
    assert res.params.pop("host") == host() == {"cpu": cpu_fingerprint(), "threads": torch.get_num_threads()}  # the machine that ran it
    assert res.params == {"pgd": {"alpha": round(2.5 * (8 / 255) / 10, 6), "eot": 1, "grad": "bptt", "random_start": True, "steps": 10, "surrogate": "atan:1"}}
    assert compiled["mode"] == "auto" and compiled["graphs"] == 0 and "skipped" in compiled  # a small run stays eager
    row = res.row(command="x")
    assert set(COLUMNS) <= set(row) and row["n_examples"] == N and row["command"] == "x"
    apgd = benchmark(zoo_snn_cnn, attack="apgd-ce", n_examples=4, progress=False)
    assert "alpha" not in apgd.params["apgd-ce"] and apgd.row()["alpha"] is None  # APGD has no step size to report


class NaNLogits(nn.Module):
    def forward(self, x):
        return x * float("nan")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (nn.Sequential(nn.Flatten(), nn.Linear(64, 7)), r"output has shape \[4, 7\].*expected \[4, 10\]"),
        (nn.Sequential(nn.Flatten(), nn.Linear(64, 10), NaNLogits()), "not finite"),
        (TimeMajor(nn.Sequential(nn.Flatten(2), nn.Linear(64, 10)), T=3, encoder="direct"), None),
    ],
)
def test_output_shape_and_finiteness_are_checked(model, message):
    if message is None:  # the time-major adapter gives a valid [B, K]
        assert benchmark(model, attack="fgsm", n_examples=4, progress=False).clean_acc >= 0
        return
    with pytest.raises(UserInputError, match=message):
        benchmark(model, attack="fgsm", n_examples=4, progress=False)


class NaNOffTheGrid(nn.Module):
    """Finite logits on the digits' own pixel values (multiples of 1/16), NaN on any other
    input: the probe on clean images passes, an attacked input gives NaN."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base

    def forward(self, x):
        out = self.base(x)
        off = ((x * 16) - (x * 16).round()).abs().flatten(1).amax(1) > 1e-4
        return torch.where(off[:, None], torch.full_like(out, float("nan")), out)


@pytest.mark.parametrize("attack", ["pgd", "standard"])
def test_nan_only_on_attacked_inputs_is_refused_not_scored_as_class_0(zoo_snn_cnn, attack):
    """argmax reads a NaN row as class 0: such a model was accepted with a row (issue 43)."""
    with pytest.raises(UserInputError, match=r"output is not finite \(NaN or inf\) on \d+ of the \d+ inputs scored"):
        benchmark(NaNOffTheGrid(zoo_snn_cnn), attack=attack, n_examples=8, progress=False)


@pytest.mark.slow  # 18 s: trains and attacks an snntorch model (the plain-snn submission test is the default-run sibling)
def test_the_readme_snntorch_example_runs_as_written(tmp_path):
    """README, "Evaluate your own SNN": the first Python block, run unchanged."""
    import re
    import subprocess
    import sys

    from robustbench_snn.results.provenance import ROOT

    section = (ROOT / "README.md").read_text().split("## Evaluate your own SNN", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "snntorch" in code and "benchmark(" in code
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    clean, robust = map(float, done.stdout.split()[:2])
    assert 0 <= robust <= clean <= 100


def test_square_runs_with_the_evaluations_seed(zoo_snn_cnn, monkeypatch):
    """--seed reaches torchattacks' Square (it used a fixed 0), through the seed of the block of
    examples it attacks, and the row records the seed and the block size that ran."""
    from robustbench_snn.core.streams import LIBRARY_BLOCK, example_seed

    import torchattacks

    seen = []
    original = torchattacks.Square.__init__

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("seed"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(torchattacks.Square, "__init__", spy)
    result = benchmark(zoo_snn_cnn, attack="square", seed=3, n_examples=4, progress=False)
    assert seen == [example_seed(3, 0, "library-block")] and result.params["square"]["seed"] == 3
    assert result.params["square"]["block"] == LIBRARY_BLOCK


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the CPU fallback is not taken")
def test_device_auto_falls_back_to_the_cpu_with_the_cpu_numbers(zoo_snn_cnn):
    """On a machine without CUDA, ``device="auto"`` is the CPU path with the CPU's numbers,
    recorded as ``cpu``; ``device="cuda"`` is a one-line error naming the valid devices."""
    common = dict(n_examples=12, attack="pgd", steps=3, progress=False)
    auto = benchmark(zoo_snn_cnn, device="auto", **common)
    cpu = benchmark(zoo_snn_cnn, device="cpu", **common)
    assert auto.settings["device"] == "cpu"
    assert torch.equal(auto.robust_per_example, cpu.robust_per_example) and auto.robust_acc == cpu.robust_acc
    with pytest.raises(UserInputError, match="no CUDA device.*valid: auto, cpu"):
        benchmark(zoo_snn_cnn, device="cuda", **common)


def test_transfer_sources_are_a_parameter_by_zoo_name():
    """The standard evaluation's transfer members craft on the zoo models named (default:
    standard.TRANSFER_SOURCES); a name the zoo lacks is refused before any attack."""
    from robustbench_snn.evaluation.standard import TRANSFER_SOURCES, transfer_source_names
    from robustbench_snn.models.zoo import load_checkpoint

    assert transfer_source_names("at-snn") == {"transfer-ann": "ann-cnn", "transfer-snn": "snn-cnn"}
    assert transfer_source_names("snn-cnn") == {"transfer-ann": "ann-cnn", "transfer-snn": "rsc-snn"}
    assert transfer_source_names("ann-cnn", TRANSFER_SOURCES) == {"transfer-snn": "snn-cnn"}
    model = load_checkpoint("snn-mlp", "digits")[0]
    with pytest.raises(UserInputError, match="transfer source 'nope' for transfer-snn"):
        benchmark(model, attack="standard", n_examples=4, progress=False, transfer_sources={"transfer-snn": "nope"})
    result = benchmark(model, attack="standard", n_examples=8, progress=False, transfer_sources={"transfer-snn": "at-snn"})
    assert set(result.per_attack) >= {"transfer-snn"} and "transfer-ann" not in result.per_attack
    assert "at-snn" in json.dumps(result.params)


@pytest.mark.parametrize("kwargs, message", [
    ({"seed": -1}, "bad seed -1; it must be an integer in 0-9223372036854775807"),
    ({"seed": "abc"}, "bad seed 'abc'"),
    ({"seed": 1.5}, "bad seed 1.5"),
    ({"seed": 2**70}, "bad seed 1180591620717411303424"),
    ({"steps": 10**9}, r"bad steps 1000000000; it must be a positive integer \(1-10,000\)"),
    ({"eot": 10**9}, r"bad eot 1000000000; it must be a positive integer \(1-10,000\)"),
    ({"draws": 0}, "bad draws 0"),
    ({"surrogate": 5}, "bad surrogate 5; write name or name:width"),
    ({"surrogate": "atan:"}, "bad surrogate width in 'atan:'"),
    ({"data": "digits"}, "bad data str; give a robustbench_snn.data.dataset.Dataset"),
    ({"info": [1]}, r"bad info \[1\]; give a dict"),
    ({"name": 5}, "bad name 5"),
    ({"threat_model": "l2", "eps": 9}, r"bad eps 9 under l2: inputs have 64 values in \[0, 1\]"),
], ids=lambda v: str(v) if isinstance(v, dict) else "")
def test_benchmark_refuses_bad_arguments_before_any_work(zoo_snn_cnn, kwargs, message):
    """The library's own checks (not only the CLI's): each bad argument is a UserInputError
    naming it and its range, raised before an attack runs (the calls return at once)."""
    with pytest.raises(UserInputError, match=message):
        benchmark(zoo_snn_cnn, n_examples=4, progress=False, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 10**12}, r"bad n 1000000000000; it must be a positive integer \(1-10,000,000\)"),
    ({"n0": 0}, "bad n0 0"),
    ({"batch": -1}, "bad batch -1"),
    ({"alpha": 0.5}, r"bad alpha 0.5; it must be a number in \(0, 0.5\)"),
    ({"seed": -2}, "bad seed -2"),
])
def test_certify_config_refuses_bad_values(kwargs, message):
    from robustbench_snn.evaluation.certify import CertifyConfig

    with pytest.raises(UserInputError, match=message):
        CertifyConfig(**kwargs)


@pytest.mark.parametrize("make, message", [
    (lambda: TimeMajor(nn.Flatten(), T=0, encoder="direct"), r"bad T 0; it must be a positive integer \(>= 1\)"),
    (lambda: TimeMajor(nn.Flatten(), T="4", encoder="direct"), "bad T '4'"),
    (lambda: TimeMajor("net", T=4), "TimeMajor needs a torch.nn.Module, got str"),
    (lambda: ResetEachPass(None), "ResetEachPass needs a torch.nn.Module, got NoneType"),
    (lambda: find_neurons([nn.Linear(2, 2)]), "find_neurons needs a torch.nn.Module, got list"),
    (lambda: benchmark("net"), "benchmark needs a torch.nn.Module, got str"),
], ids=["T-0", "T-str", "TimeMajor-str", "ResetEachPass-None", "find_neurons-list", "benchmark-str"])
def test_the_public_wrappers_refuse_what_they_cannot_wrap(make, message):
    with pytest.raises(UserInputError, match=message):
        make()


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode], ids=["no_grad", "inference_mode"])
def test_a_caller_without_gradients_gets_the_full_attack(zoo_snn_cnn, mode):
    """benchmark() inside torch.no_grad() or torch.inference_mode() (notebook habits) attacks
    with gradients anyway: the same robust accuracy, flags and backward passes as outside it
    (before: 100.00% robust, no flag, zero backward passes under no_grad)."""
    free = benchmark(zoo_snn_cnn, attack="pgd", n_examples=32, progress=False)
    with mode():
        inside = benchmark(zoo_snn_cnn, attack="pgd", n_examples=32, progress=False)
    assert inside.robust_acc == free.robust_acc < inside.clean_acc and inside.flags == free.flags
    assert inside.passes == free.passes and inside.passes["backward"] > 1


@pytest.mark.parametrize("edit, message", [
    (lambda d: ((d.x - 0.5) / 0.3, d.y), r"inputs must be finite floats in \[0, 1\].*got \[-1.667, 1.667\]"),  # normalized outside the model
    (lambda d: (d.x * float("nan"), d.y), "inputs must be finite floats"),
    (lambda d: ((d.x * 255).to(torch.uint8), d.y), "got torch.uint8"),
    (lambda d: (d.x, d.y.float()), r"labels must be integers of shape \[16\], got torch.float32"),
    (lambda d: (d.x, d.y[:8]), r"labels must be integers of shape \[16\], got torch.int64 \[8\]"),
    (lambda d: (d.x, d.y * 0 + 10), "labels must be in 0-9, got 10-10"),
], ids=["normalized", "nan", "uint8", "float-labels", "short-labels", "label-10"])
def test_user_data_outside_the_threat_models_box_is_refused(zoo_snn_cnn, edit, message):
    """A user's own Dataset is checked as ours are: the attacks clip to [0, 1], so data
    normalized outside the model would be clipped and attacked in the wrong box."""
    from robustbench_snn.data.catalog import load_dataset
    from robustbench_snn.data.dataset import Dataset

    d = load_dataset("digits", "test").head(16)
    x, y = edit(d)
    with pytest.raises(UserInputError, match=message):
        benchmark(zoo_snn_cnn, data=Dataset("mine", "test", x, y, 10), attack="fgsm", progress=False)
