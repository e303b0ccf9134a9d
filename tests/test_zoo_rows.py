"""Committed zoo rows are re-made, number for number, by their recorded commands
through ``benchmark()`` (the CLI refactor must not move them)."""

import shlex

import pytest

from robustbench_snn.cli import main
from robustbench_snn.leaderboard import default_path, read

#: fast rows across attacks and models (seconds each); slower ones are re-made by `make leaderboards`
ROWS = [("snn-cnn", "pgd", 0.1), ("snn-mlp", "fgsm", 8 / 255), ("ann-cnn", "pgd", 8 / 255)]


@pytest.mark.parametrize(("model", "attack", "eps"), ROWS)
def test_committed_row_is_remade_by_its_command(model, attack, eps, tmp_path):
    board = read(default_path("digits", "linf"))
    row = board[(board.model == model) & (board.attack == attack) & ((board.eps - eps).abs() < 1e-6)].iloc[0]
    out = tmp_path / "board.csv"
    assert main(shlex.split(row["command"])[1:] + ["--out", str(out), "--quiet"]) == 0
    new = read(out).iloc[0]
    assert (new.clean_acc, new.robust_acc) == (row.clean_acc, row.robust_acc)
    assert (new.steps, new.eot, new.draws, new.n_examples) == (row.steps, row.eot, row.draws, row.n_examples)
