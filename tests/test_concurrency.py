"""Leaderboard writes under concurrency and the --force rule: no row is lost, none duplicated,
and a quick run never silently replaces a row measured on more examples."""

import subprocess
import sys
import textwrap

import pytest

from robustbench_snn.cli import main
from robustbench_snn.results.leaderboard import SmallerRunError, read, upsert

WRITER = textwrap.dedent(
    """
    import sys
    from robustbench_snn.results.leaderboard import upsert
    path, i = sys.argv[1], int(sys.argv[2])
    upsert(path, {"model": f"m{i}", "dataset": "digits", "T": 4, "norm": "linf", "eps": 0.1, "attack": "pgd",
                  "surrogate_attack": "atan:1", "grad": "bptt", "n_examples": 10, "clean_acc": 90.0, "robust_acc": float(i)})
    """
)


@pytest.mark.parametrize("trial", range(3))
def test_eight_concurrent_writers_lose_no_row(tmp_path, trial):
    path = tmp_path / "board.csv"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(i)]) for i in range(8)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    table = read(path)
    assert sorted(table["model"]) == [f"m{i}" for i in range(8)]
    assert not list(tmp_path.glob(".board.csv.*.tmp"))


def _row(n, acc=50.0):
    return {"model": "m", "dataset": "digits", "T": 4, "norm": "linf", "eps": 0.1, "attack": "pgd",
            "surrogate_attack": "atan:1", "grad": "bptt", "n_examples": n, "clean_acc": 90.0, "robust_acc": acc}


def test_the_same_row_twice_is_one_row_and_a_stale_temporary_file_is_cleared(tmp_path):
    path = tmp_path / "board.csv"
    stale = tmp_path / ".board.csv.abc123.tmp"  # what a writer killed mid-write leaves
    stale.write_text("half a table")
    upsert(path, _row(10))
    upsert(path, _row(10, 60.0))
    table = read(path)
    assert len(table) == 1 and table["robust_acc"].iloc[0] == 60.0
    assert not stale.exists()


def test_a_smaller_run_does_not_replace_a_larger_row_without_force(tmp_path):
    path = tmp_path / "board.csv"
    upsert(path, _row(500, 70.0))
    with pytest.raises(SmallerRunError, match="evaluated on 16 examples and would replace the row of 500"):
        upsert(path, _row(16, 10.0), force=False)
    assert read(path)["robust_acc"].tolist() == [70.0]
    upsert(path, _row(16, 10.0), force=True)
    assert read(path)["n_examples"].tolist() == [16]


def test_eval_refuses_a_quick_run_over_a_committed_size_row_before_attacking(tmp_path, capsys):
    out = tmp_path / "board.csv"
    assert main(["eval", "--model", "snn-mlp", "--attack", "fgsm", "--out", str(out), "--quiet"]) == 0
    before = out.read_bytes()
    assert main(["eval", "--model", "snn-mlp", "--attack", "fgsm", "--n-examples", "16", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "would replace the row of 500 examples" in err and "--force" in err and err.count("\n") == 1
    assert out.read_bytes() == before
    assert main(["eval", "--model", "snn-mlp", "--attack", "fgsm", "--n-examples", "16", "--out", str(out), "--quiet", "--force"]) == 0
    assert read(out)["n_examples"].tolist() == [16]


@pytest.mark.parametrize("bad", ["dir", "file-as-folder"])
def test_an_unwritable_out_is_refused_before_the_attack(tmp_path, capsys, bad):
    out = tmp_path if bad == "dir" else tmp_path / "a-file" / "board.csv"
    if bad == "file-as-folder":
        (tmp_path / "a-file").write_text("x")
    assert main(["eval", "--model", "snn-mlp", "--attack", "fgsm", "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("rbsnn: error: --out ")


def test_the_recorded_command_carries_non_default_settings_and_the_effective_n(tmp_path):
    """A row made with --batch-size 7, --zoo-dir and --n-examples beyond the test set is re-made by its command
    (a deterministic model: results of stochastic ones still depend on the batch size, issue 15 item 5)."""
    import shlex
    import shutil

    from robustbench_snn.results.provenance import ROOT

    zoo = tmp_path / "zoo" / "digits"
    zoo.mkdir(parents=True)
    for suffix in (".json", ".safetensors"):
        shutil.copy(ROOT / "zoo" / "digits" / f"snn-mlp{suffix}", zoo)
    out = tmp_path / "board.csv"
    argv = ["eval", "--model", "snn-mlp", "--attack", "fgsm", "--batch-size", "7", "--zoo-dir", str(tmp_path / "zoo"),
            "--n-examples", "1000000", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    row = read(out).iloc[0]
    command = row["command"]
    assert "--batch-size 7" in command and f"--zoo-dir {tmp_path / 'zoo'}" in command and "--n-examples 500" in command
    out2 = tmp_path / "again.csv"
    assert main(shlex.split(command)[1:] + ["--out", str(out2), "--quiet"]) == 0
    again = read(out2).iloc[0]
    assert (again.clean_acc, again.robust_acc, again.n_examples) == (row.clean_acc, row.robust_acc, 500)
