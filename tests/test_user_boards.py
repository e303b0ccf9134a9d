"""A user's run writes the user's board (robustbench_snn.core.home), never the repository's
committed files; ``--publish`` is the maintainer's explicit way to write those."""

import hashlib
import os
import shutil
import subprocess

import pandas as pd
import pytest

from robustbench_snn.cli import main
from robustbench_snn.core.home import COMMITTED_BOARDS, user_home
from robustbench_snn.results.provenance import ROOT

FAST = ["--model", "snn-mlp", "--attack", "fgsm", "--n-examples", "20", "--quiet"]


def _digest(*folders):
    h = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".lock")):
            h.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RBSNN_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_user_home_follows_rbsnn_home_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("RBSNN_HOME", str(tmp_path / "a"))
    assert user_home() == tmp_path / "a"
    monkeypatch.delenv("RBSNN_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_home() == tmp_path / "xdg" / "robustbench-snn"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert str(user_home()).endswith(os.path.join(".local", "share", "robustbench-snn"))


def test_eval_writes_the_users_board_and_leaves_the_committed_boards_alone(home, capsys):
    before = _digest(COMMITTED_BOARDS, ROOT / "submissions", ROOT / "site")
    assert main(["eval", *FAST]) == 0
    assert f"leaderboard row written to {home / 'leaderboards' / 'digits_linf.csv'}" in capsys.readouterr().out
    row = pd.read_csv(home / "leaderboards" / "digits_linf.csv")
    assert list(row["model"]) == ["snn-mlp"] and list(row["n_examples"]) == [20]
    assert "--publish" not in row["command"][0]  # the command re-makes the row, wherever it is written
    assert _digest(COMMITTED_BOARDS, ROOT / "submissions", ROOT / "site") == before


def test_leaderboard_shows_the_committed_rows_beside_the_users(home, capsys):
    assert main(["eval", *FAST]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "--dataset", "digits", "--norm", "linf"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"committed: {COMMITTED_BOARDS / 'digits_linf.csv'}"
    assert lines[1] == f"yours: {home / 'leaderboards' / 'digits_linf.csv'}"
    ours = [line for line in lines if line.split()[:1] == ["yours"]]
    committed = [line for line in lines if line.split()[:1] == ["committed"]]
    assert len(ours) == 1 and "snn-mlp" in ours[0] and " 20 " in ours[0]
    assert len(committed) == len(pd.read_csv(COMMITTED_BOARDS / "digits_linf.csv"))


def test_leaderboard_without_any_board_is_one_line(home, capsys):
    assert main(["leaderboard", "--dataset", "digits", "--norm", "l1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no leaderboard for --dataset 'digits' --norm 'l1'" in err


@pytest.mark.parametrize("argv, named", [
    (["eval", *FAST, "--publish", "--out", "x.csv"], "--out"),
    (["sweep", "--models", "snn-mlp", "--publish", "--out", "x.csv"], "--out"),
    (["certify", "--model", "smooth-snn-s0.25", "--publish", "--board", "b.csv"], "--board"),
    (["site", "--publish", "--out", "s"], "--out"),
    (["submit", str(ROOT / "examples" / "plain-snn"), "--publish", "--archive", "a"], "--archive"),
])
def test_publish_beside_another_destination_is_refused(home, capsys, tmp_path, monkeypatch, argv, named):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"rbsnn: error: --publish writes the repository's files; it cannot be combined with {named}\n"
    assert not list(tmp_path.iterdir())


def test_site_defaults_to_the_users_folder(home, capsys):
    assert main(["site"]) == 0
    assert (home / "site" / "index.html").is_file()


@pytest.mark.slow
def test_make_eval_then_the_artifact_checks_leave_the_checkout_clean(home):
    """The README's first command, as a user runs it (CI's checkout is a fresh clone), changes
    no tracked file, so the artifact checks that `make test` runs next still pass."""
    if not (ROOT / ".git").exists() or shutil.which("make") is None or not (ROOT / ".venv" / "bin" / "rbsnn").exists():
        pytest.skip("needs a git checkout with its .venv and make")

    def status():
        return subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    before = status()
    done = subprocess.run(["make", "-s", "eval"], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "RBSNN_HOME": str(home)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert status() == before
    board = pd.read_csv(home / "leaderboards" / "digits_linf.csv")
    assert list(board["model"]) == ["rsc-snn"]
    assert "yours" in done.stdout and "committed" in done.stdout
    check = subprocess.run([str(ROOT / ".venv" / "bin" / "rbsnn"), "report", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_train_writes_the_users_zoo_and_eval_reads_it_first(home, capsys, monkeypatch):
    """`rbsnn train` without --zoo-dir writes <home>/zoo, never the repository's zoo/; eval then
    finds the user's checkpoint before the committed one of the same name, and eval --publish
    reads only the committed zoo (a committed row never comes from a user's checkpoint)."""
    from robustbench_snn import cli
    from robustbench_snn.models.zoo import DEFAULT_ZOO, checkpoint_paths, read_card, zoo_models

    before = _digest(DEFAULT_ZOO)
    assert main(["train", "--model", "snn-mlp", "--epochs", "1", "--n-train", "64", "--T", "2", "--quiet"]) == 0
    assert f"wrote {home / 'zoo' / 'digits' / 'snn-mlp.safetensors'}" in capsys.readouterr().out
    assert _digest(DEFAULT_ZOO) == before
    assert checkpoint_paths("snn-mlp", "digits")[1] == home / "zoo" / "digits" / "snn-mlp.json"
    assert read_card("snn-mlp", "digits")["T"] == 2 != read_card("snn-mlp", "digits", DEFAULT_ZOO)["T"]
    assert {"snn-mlp", "rsc-snn"} <= set(zoo_models("digits"))  # both zoos are listed
    assert main(["eval", *FAST, "--out", str(home / "mine.csv")]) == 0
    assert pd.read_csv(home / "mine.csv")["T"][0] == 2  # the user's checkpoint ran
    seen = []
    real = cli.zoo_model_names
    monkeypatch.setattr(cli, "zoo_model_names", lambda model, dataset, zoo_dir: seen.append(zoo_dir) or real(model, dataset, zoo_dir))
    assert main(["eval", "--publish", "--model", "not-a-model", "--quiet"]) == 2  # refused before anything is written
    assert seen == [str(DEFAULT_ZOO)]
