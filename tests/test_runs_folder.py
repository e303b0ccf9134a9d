"""runs/: the maintainers' pending long work (runs/README.md). Its scripts parse, its row
publisher copies a row cell for cell, and every state it carries reads back without running
code (training states through torch's weights-only loader, shards as safetensors)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors import safe_open

from robustbench_snn.core.home import ROOT
from robustbench_snn.results.leaderboard import read, upsert

RUNS = ROOT / "runs"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, RUNS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", ["queue.sh", "start.sh", "save.sh"])
def test_the_scripts_parse(script):
    subprocess.run(["bash", "-n", str(RUNS / script)], check=True)


def test_a_published_row_is_the_row_of_the_maintainers_board_cell_for_cell(tmp_path):
    rows = read(ROOT / "leaderboards" / "digits_linf.csv")
    picked = rows[(rows["model"] == "snn-cnn") & (rows["attack"] == "standard")]
    other = rows[(rows["model"] == "ann-cnn") & (rows["attack"] == "pgd")]
    assert len(picked) and len(other)
    board = tmp_path / "mine" / "digits_linf.csv"
    board.parent.mkdir()
    for _, row in pd.concat([picked, other]).iterrows():
        upsert(board, {k: v for k, v in row.items() if v == v})
    committed = tmp_path / "committed"
    committed.mkdir()
    load_script("publish_rows").main(str(board), ["snn-cnn:standard"], committed=committed)
    published = read(committed / "digits_linf.csv")
    assert set(published["model"]) == {"snn-cnn"}
    assert (committed / "digits_linf.csv").read_text().splitlines()[1:] == \
        [line for line in board.read_text().splitlines()[1:] if line.startswith("snn-cnn,")]
    with pytest.raises(SystemExit, match="no ttfs-snn:standard row"):
        load_script("publish_rows").main(str(board), ["ttfs-snn:standard"], committed=committed)


@pytest.mark.artifacts
def test_every_carried_state_reads_back_without_running_code():
    states = sorted(p for p in (RUNS / "state").rglob("*") if p.is_file()) if (RUNS / "state").is_dir() else []
    for path in states:
        if path.name.endswith(".train-state.pt"):
            state = torch.load(path, weights_only=True)
            assert {"model", "optimizer", "config"} <= set(state), path
        else:
            assert path.suffix in (".safetensors", ".resume"), path
            with safe_open(path, "pt") as f:
                assert f.metadata() is not None, path


def test_status_reads_where_a_training_run_and_a_sweep_stand(tmp_path, capsys):
    from robustbench_snn.training.trainer import _save_state

    status = load_script("status")
    status.main(tmp_path)
    assert capsys.readouterr().out.strip() == "nothing in progress"
    (tmp_path / "rbsnn-home" / "zoo" / "mnist").mkdir(parents=True)
    _save_state(tmp_path / "rbsnn-home" / "zoo" / "mnist" / "sdt.train-state.pt", config={"epochs": 2}, losses=[0.5],
                seconds=5400.0, epoch_perm=torch.arange(4), epoch_step=1280, epoch_total=1.0)
    (tmp_path / "shards" / "mnist-sdt-standard-ab").mkdir(parents=True)
    (tmp_path / "shards" / "mnist-sdt-standard-ab" / "shard-000000-000250.safetensors").write_bytes(b"")
    status.main(tmp_path)
    assert capsys.readouterr().out.splitlines() == [
        "train mnist/sdt: 1 of 2 epochs, 1,280 images into epoch 2; 1.50 h so far",
        "sweep mnist-sdt-standard-ab: 1 shard(s) stored, 0 in progress"]
