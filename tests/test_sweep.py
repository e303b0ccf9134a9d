"""rbsnn sweep: shards merge into exactly the row of one rbsnn eval, locally and on Ray, and a killed sweep resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from robustbench_snn.cli import main
from robustbench_snn.errors import UserInputError
from robustbench_snn.sweep import EvalSpec, shard_ranges, sweep

#: Columns that are timings or dates, not measurements.
TIMING = {"seconds", "date"}
#: Small but real runs: 300 examples = shards of 250 and 50 ids (blocks are never split).
SNN_CNN = ["--models", "snn-cnn", "--attacks", "pgd", "--n-examples", "300"]
RSC_SNN = ["--models", "rsc-snn", "--attacks", "pgd", "--n-examples", "300", "--steps", "3", "--eot", "2", "--draws", "2"]


def eval_row(tmp_path: Path, args: list[str]) -> dict:
    """The row one `rbsnn eval` writes for the sweep arguments ``args`` (one model and attack)."""
    flags = dict(zip(args[::2], args[1::2]))
    cmd = ["eval", "--model", flags.pop("--models"), "--attack", flags.pop("--attacks"), "--quiet", "--out", str(tmp_path / "eval.csv")]
    assert main(cmd + [a for kv in flags.items() for a in kv]) == 0
    return only_row(tmp_path / "eval.csv")


def only_row(path: Path) -> dict:
    """The one row of ``path`` as written (every digit compared), without timings, and with its
    ``params.host.threads`` taken out: shards run on one thread each, as the row records, where
    one eval uses every core; the CPU fingerprint stays in the comparison."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert len(df) == 1
    row = {k: v for k, v in df.iloc[0].to_dict().items() if k not in TIMING}
    params = json.loads(row["params"])
    assert params["host"].pop("threads") >= 1
    return {**row, "params": params}


@pytest.mark.parametrize("args", [SNN_CNN, pytest.param(RSC_SNN, marks=pytest.mark.slow)], ids=["snn-cnn", "rsc-snn"])
def test_two_local_shards_give_the_row_of_one_eval(tmp_path, args):
    single = eval_row(tmp_path, [*args, "--per-example", str(tmp_path / "eval-scores")])
    assert main(["sweep", *args, "--shards", "2", "--workers", "2", "--quiet", "--store", str(tmp_path / "store"),
                 "--out", str(tmp_path / "sweep.csv"), "--per-example", str(tmp_path / "sweep-scores")]) == 0
    assert only_row(tmp_path / "sweep.csv") == single
    assert len(list((tmp_path / "store").rglob("shard-*.safetensors"))) == 2
    # the per-example file of the merged shards is the file of one eval: same name, same bytes, every example once
    (eval_file,), (sweep_file,) = (tmp_path / "eval-scores").iterdir(), (tmp_path / "sweep-scores").iterdir()
    assert sweep_file.name == eval_file.name and sweep_file.read_bytes() == eval_file.read_bytes()
    assert pd.read_csv(sweep_file)["example"].tolist() == list(range(300))


@pytest.mark.slow
@pytest.mark.parametrize("args", [SNN_CNN, RSC_SNN], ids=["snn-cnn", "rsc-snn"])
def test_two_ray_shards_give_the_row_of_one_eval(tmp_path, args):
    ray = pytest.importorskip("ray", reason="Ray is the [ray] extra; make install installs it")
    single = eval_row(tmp_path, args)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["sweep", *args, "--shards", "2", "--backend", "ray", "--quiet", "--store", str(tmp_path / "store"),
                     "--out", str(tmp_path / "sweep.csv")]) == 0
    finally:
        ray.shutdown()
    assert only_row(tmp_path / "sweep.csv") == single


@pytest.mark.slow
def test_a_killed_sweep_rerun_computes_only_the_missing_shards(tmp_path):
    args = ["--models", "snn-cnn", "--attacks", "pgd", "--n-examples", "300", "--steps", "40"]
    store, out = tmp_path / "store", tmp_path / "sweep.csv"
    proc = subprocess.Popen([sys.executable, "-m", "robustbench_snn.cli", "sweep", *args, "--shards", "2", "--quiet",
                             "--store", str(store), "--out", str(out)], start_new_session=True)
    deadline = time.monotonic() + 300
    while not list(store.rglob("shard-*.safetensors")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list(store.rglob("shard-*.safetensors"))) == 1 and not out.exists()  # killed after its first shard

    specs = [EvalSpec("snn-cnn", attack="pgd", n_examples=300, steps=40)]
    report = sweep(specs, shards=2, store=store, out=lambda spec: out, progress=False)
    assert (report.computed, report.reused) == (1, 1)
    assert only_row(out) == eval_row(tmp_path, args)
    again = sweep(specs, shards=2, store=store, out=lambda spec: out, progress=False)
    assert (again.computed, again.reused) == (0, 2)


def test_shards_hold_whole_blocks_and_tile_the_examples():
    assert shard_ranges(500, 2) == [(0, 250), (250, 500)]
    assert shard_ranges(1000, 3) == [(0, 250), (250, 750), (750, 1000)]
    assert shard_ranges(10_000, 40)[-1] == (9750, 10_000)
    with pytest.raises(UserInputError, match="1..2"):
        shard_ranges(300, 3)


@pytest.mark.parametrize("argv, named", [
    (["--shards", "3"], "--shards 3"), (["--backend", "slurm"], "slurm"), (["--attacks", "pgd,,fgsm"], "--attacks"),
    (["--eps", "2"], "--eps"), (["--workers", "0"], "--workers"), (["--models", "nope"], "nope"),
    (["--per-example", "{tmp}/a-file"], "a-file"),
])
def test_bad_sweep_options_are_one_line_errors_and_write_nothing(tmp_path, capsys, argv, named):
    (tmp_path / "a-file").write_text("not a folder")
    base = {"--models": "snn-cnn", "--attacks": "pgd", "--n-examples": "300"}
    base.update({k: v.format(tmp=tmp_path) for k, v in zip(argv[::2], argv[1::2])})
    code = main(["sweep", *[a for kv in base.items() for a in kv], "--store", str(tmp_path / "s"), "--out", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("rbsnn: error:") and named in err and err.count("\n") == 1
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "s").exists()


def test_merge_gives_per_member_accuracies_and_pass_counts_of_the_whole(tmp_path):
    import torch

    from robustbench_snn.sweep import ShardResult, merge

    def part(start, stop, robust, after_first, forward, cpu="AVX2/AuthenticAMD/EPYC"):
        clean = torch.ones(stop - start)
        meta = {"start": start, "stop": stop, "members": ["apgd-ce", "square"], "flags": ["x"] if start == 0 else [],
                "params": {"compile": {"graphs": 0}, "host": {"cpu": cpu, "threads": 1}}, "seconds": 1.0, "member_seconds": {"apgd-ce": 0.5},
                "model_info": {"name": "m"}, "settings": {"n_examples": 6, "shard": [start, stop]},
                "pass_totals": {"forward": forward, "backward": 0}}
        return ShardResult({"clean": clean, "robust": robust, "member/apgd-ce": after_first, "member/square": robust}, meta)

    a = part(0, 4, torch.tensor([1.0, 0, 0, 1]), torch.tensor([1.0, 1, 0, 1]), 40)
    b = part(4, 6, torch.tensor([0.0, 1]), torch.tensor([1.0, 1]), 4)
    b.save(tmp_path / "b.safetensors")  # `robust` and `member/square` are one tensor here: saved apart
    merged = merge([ShardResult.load(tmp_path / "b.safetensors"), a])  # any order
    assert merged.robust_acc == 50.0 and merged.per_attack == {"apgd-ce": 83.33, "square": 50.0}
    assert merged.passes["forward"] == round(44 / 6, 1) and merged.flags == ["x"] and merged.member_seconds == {"apgd-ce": 1.0}
    assert "shard" not in merged.settings
    assert merged.params == {"compile": {"graphs": 0}, "host": {"cpu": "AVX2/AuthenticAMD/EPYC", "threads": 1}}  # one machine
    xeon = part(4, 6, torch.tensor([0.0, 1]), torch.tensor([1.0, 1]), 4, cpu="AVX512/GenuineIntel/Xeon")
    assert merge([a, xeon]).params["host"] == {"shards": [a.meta["params"]["host"], xeon.meta["params"]["host"]]}  # two: each kept
    with pytest.raises(ValueError, match="tile"):
        merge([b])  # the first examples are missing
