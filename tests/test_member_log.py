"""A composite evaluation killed between members resumes from its resume file with the same
numbers (robustbench_snn.evaluation.member_log), and a file of another evaluation is refused."""

import pytest
import torch

from robustbench_snn import benchmark
from robustbench_snn.core.errors import UserInputError
from robustbench_snn.evaluation import member_log
from robustbench_snn.models.zoo import load_checkpoint


class Killed(Exception):
    """Stands for the process ending right after a member was logged."""


def killed_after(monkeypatch, members: int) -> None:
    """Make the evaluation stop right after its ``members``-th member is written to the log."""
    record = member_log.MemberLog.record

    def record_then_die(self, done, tensors, seconds):
        record(self, done, tensors, seconds)
        if done == members:
            raise Killed

    monkeypatch.setattr(member_log.MemberLog, "record", record_then_die)


def same(a, b) -> None:
    assert (a.clean_acc, a.robust_acc, a.flags) == (b.clean_acc, b.robust_acc, b.flags)
    assert torch.equal(a.clean_per_example, b.clean_per_example) and torch.equal(a.robust_per_example, b.robust_per_example)
    assert list(a.per_attack_per_example) == list(b.per_attack_per_example)
    assert all(torch.equal(a.per_attack_per_example[k], b.per_attack_per_example[k]) for k in a.per_attack_per_example)
    assert a.pass_totals == b.pass_totals  # the passes of the members run before the kill count too


@pytest.mark.parametrize("model_name, attack, n, kill_after, samples", [
    ("snn-mlp", "standard", 8, 3, {}),  # killed after APGD-CE, APGD-T and the surrogate sweep (and ASSG alone)
    # Poisson coding, every draw from per-example streams; a shard after the first (no evidence
    # gathering, which is the slow part on a stochastic model and is tested above)
    pytest.param("rsc-snn", "standard", 254, 4, {"eot": 2, "draws": 2, "shard": (250, 254)}, marks=pytest.mark.slow),
    ("snn-mlp", "ensemble19", 12, 5, {}),  # a name logged twice (one estimator, two losses)
])
def test_a_run_killed_between_members_resumes_with_the_same_numbers(model_name, attack, n, kill_after, samples, tmp_path, monkeypatch):
    model, _ = load_checkpoint(model_name, "digits")
    options = dict(dataset="digits", attack=attack, eps=0.1, n_examples=n, progress=False, compile="off", **samples)
    whole = benchmark(model, **options)
    resume = tmp_path / "run.resume"
    with monkeypatch.context() as patched:
        killed_after(patched, kill_after)
        with pytest.raises(Killed):
            benchmark(model, resume_file=resume, **options)
    assert resume.is_file()
    ran = []
    original = member_log.MemberLog.record
    monkeypatch.setattr(member_log.MemberLog, "record", lambda self, done, *a: (ran.append(done), original(self, done, *a)))
    resumed = benchmark(model, resume_file=resume, **options)
    assert ran and min(ran) == kill_after + 1  # the logged members were not run again
    same(resumed, whole)
    assert not resume.exists()  # the evaluation ended: nothing left to resume


def test_a_resume_file_of_another_evaluation_or_a_broken_one_is_refused(tmp_path, monkeypatch):
    model, _ = load_checkpoint("snn-mlp", "digits")
    options = dict(dataset="digits", attack="standard", n_examples=4, progress=False, compile="off")
    resume = tmp_path / "run.resume"
    with monkeypatch.context() as patched:
        killed_after(patched, 1)
        with pytest.raises(Killed):
            benchmark(model, eps=0.1, resume_file=resume, **options)
    kept = resume.read_bytes()
    with pytest.raises(UserInputError, match="belongs to another evaluation"):
        benchmark(model, eps=0.05, resume_file=resume, **options)
    other, _ = load_checkpoint("snn-mlp", "digits")
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    with pytest.raises(UserInputError, match="belongs to another evaluation"):
        benchmark(other, eps=0.1, resume_file=resume, **options)
    assert resume.read_bytes() == kept  # refused, and left as it was
    from safetensors import safe_open
    from safetensors.torch import save

    with safe_open(str(resume), framework="pt") as f:
        header, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    resume.write_bytes(save({**tensors, "robust": tensors["robust"] + 2}, metadata=header))  # its own identity, edited scores
    with pytest.raises(UserInputError, match="is not a ledger of this evaluation .robust leaves"):
        benchmark(model, eps=0.1, resume_file=resume, **options)
    resume.write_bytes(kept[: len(kept) // 2])
    with pytest.raises(UserInputError, match="is unreadable"):
        benchmark(model, eps=0.1, resume_file=resume, **options)
    for bad in (tmp_path, tmp_path / "missing" / "run.resume", "", 3, "a\nb"):
        with pytest.raises(UserInputError, match="resume_file"):
            benchmark(model, eps=0.1, resume_file=bad, **options)


def test_a_sweep_gives_each_local_shard_a_resume_file_in_its_store(tmp_path, monkeypatch):
    """Shards of a local sweep log their members beside where they will be stored, so running
    the same command again after a kill resumes inside the shard that was running."""
    from robustbench_snn.runners import sweep as sweeping

    given = []

    def run_shard(shard, device="cpu", threads=None, resume_file=None):
        given.append((shard, resume_file))
        raise Killed

    monkeypatch.setattr(sweeping, "run_shard", run_shard)
    spec = sweeping.EvalSpec(model="snn-mlp", dataset="digits", attack="standard", eps="0.1", n_examples=300)
    with pytest.raises(Killed):
        sweeping.sweep([spec], shards=2, store=tmp_path / "store", commit="c0ffee", progress=False)
    (shard, resume_file), = given
    assert resume_file == shard.path(tmp_path / "store", "c0ffee").with_suffix(".resume") and resume_file.parent.is_dir()


def test_rbsnn_eval_resume_file_resumes_and_is_removed(tmp_path, monkeypatch, capsys):
    from robustbench_snn.cli import main

    command = ["eval", "--model", "snn-mlp", "--attack", "standard", "--eps", "0.1", "--n-examples", "4", "--compile", "off",
               "--no-save", "--quiet"]
    import re

    def numbers(out: str) -> str:  # the printed result without its seconds
        return re.sub(r"\d+(\.\d+)? s\b", "S", out)

    assert main(command) == 0
    whole = numbers(capsys.readouterr().out)
    resume = tmp_path / "eval.resume"
    with monkeypatch.context() as patched:
        killed_after(patched, 2)
        with pytest.raises(Killed):
            main([*command, "--resume-file", str(resume)])
    assert resume.is_file()
    capsys.readouterr()
    assert main([*command, "--resume-file", str(resume)]) == 0
    assert numbers(capsys.readouterr().out) == whole and "passes per example" in whole and not resume.exists()
