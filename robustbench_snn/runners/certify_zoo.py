"""``rbsnn certify`` as a library call: certify a zoo model under randomized smoothing
(:mod:`robustbench_snn.evaluation.certify`), write its per-example file, upsert its row into
the certified board and redraw the board's plot."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.atomic import atomic_write_bytes
from ..core.home import boards_dir
from ..data.catalog import DATASETS, load_dataset
from ..evaluation.certify import CertifyConfig, CertifyRun, MECHANISMS, certify_model, check_sigma, make_mechanism, summary
from ..evaluation.compiled import COMPILE_MODES
from ..evaluation.model_checks import CHECK_EXAMPLES, check_model
from ..evaluation.settings import check_choice, resolve_device
from ..models.zoo import load_checkpoint, zoo_models
from ..results.leaderboard import CERTIFIED, certified_path, check_folder_writable, check_writable, json_cell, upsert
from ..results.plots import plot_certified
from ..results.provenance import command_line, git_commit, host, today, version
from .zoo_eval import require_zoo_model, resolve_zoo_dir


@dataclass
class CertifiedModel:
    """One certification: its row (as upserted), the summary numbers, and the files written."""

    row: dict[str, Any]
    stats: dict[str, float]
    run: CertifyRun
    per_example: Path
    plot: Path
    board: Path


def certify_zoo_model(
    model_name: str, *, dataset: str = "digits", mechanism: str | None = None, sigma: float | None = None, cfg: CertifyConfig,
    n_examples: int = 100, out: str | Path | None = None, board: str | Path | None = None, publish: bool = False,
    crosscheck: bool = True, record_time: bool = True, compile: str = "auto", data_dir: str | None = None,
    zoo_dir: str | None = None, device: str = "auto", progress: bool = True, announce: Callable[[str], None] = lambda _: None,
) -> CertifiedModel:
    """Certify ``model_name``'s zoo checkpoint on the first ``n_examples`` of ``dataset``.
    ``mechanism``: ``gaussian`` (default; ``sigma`` defaults to the model's training noise)
    or ``encoder``. Every option and both output paths are checked before the (long)
    certification, so no result is lost. ``announce`` hears what is about to run."""

    check_choice("dataset", dataset, DATASETS)
    zoo_dir = resolve_zoo_dir(zoo_dir, publish)
    require_zoo_model(model_name, dataset, zoo_models(dataset, zoo_dir))
    mechanism_name = mechanism if mechanism is not None else "gaussian"
    check_choice("mechanism", mechanism_name, MECHANISMS)
    check_choice("compile mode", compile, COMPILE_MODES)
    model, card = load_checkpoint(model_name, dataset, zoo_dir)
    if sigma is None and mechanism_name == "gaussian" and card.get("defense") == "gaussian":
        sigma = card["defense_params"]["sigma"]
    smoothing = make_mechanism(mechanism_name, model, sigma)
    model.to(resolve_device(device)).eval()
    commit = git_commit()
    data = load_dataset(dataset, "test", data_dir).head(n_examples)
    check_sigma(sigma, data.x[0].numel())
    check_model(model, data.x[:CHECK_EXAMPLES].to(next(model.parameters()).device), data.num_classes)  # finite logits, or one line
    out_dir = Path(out) if out else boards_dir(publish) / "certified"  # checked (and made) once every option has passed
    board_path = Path(board) if board else certified_path(dataset, publish=publish)
    check_folder_writable(out_dir, "--out")
    check_writable(board_path, "--board", CERTIFIED)
    sigma_text = f"{sigma:g}" if mechanism_name == "gaussian" else "none"
    announce(f"{model_name} on {dataset} ({len(data)} examples): {mechanism_name} smoothing sigma={sigma_text}, "
             f"n0={cfg.n0} n={cfg.n} alpha={cfg.alpha:g}")
    start = time.perf_counter()
    run = certify_model(model, smoothing, data, cfg, compile=compile, crosscheck_attack=crosscheck, record_time=record_time,
                        progress=progress)
    seconds = time.perf_counter() - start

    per_example = f"{dataset}_{model_name}_{mechanism_name}_s{sigma_text}_n{cfg.n}.csv"
    frame = pd.DataFrame(run.rows, columns=["idx", "label", "predict", "radius", "correct", "time"])
    atomic_write_bytes(out_dir / per_example, frame.to_csv(index=False, float_format="%.6g").encode())
    stats = summary(run.rows, smoothing.norm)
    command = command_line(
        "certify", ("--model", model_name), ("--dataset", dataset), ("--mechanism", mechanism_name),
        ("--sigma", f"{sigma:g}" if mechanism_name == "gaussian" else None), ("--n0", cfg.n0), ("--n", cfg.n),
        ("--alpha", f"{cfg.alpha:g}"), ("--batch", cfg.batch), ("--n-examples", n_examples), ("--seed", cfg.seed),
        ("--data-dir", data_dir or None), ("--compile", compile if compile != "auto" else None),
    ) + ("" if crosscheck else " --no-crosscheck")
    config = model.config()
    row = {
        "model": model_name, "dataset": dataset, "defense": card["defense"], "encoder": config["encoder"], "T": config["T"],
        "mechanism": mechanism_name, "norm": smoothing.norm, "sigma": sigma_text, "n0": cfg.n0, "n": cfg.n, "alpha": cfg.alpha,
        "n_examples": len(data), **stats, "crosscheck_attempts": run.attempts, "crosscheck_violations": run.violations,
        "per_example": per_example, "seconds": round(seconds, 1),
        "host": json_cell(host()), "seed": cfg.seed, "date": today(), "version": version(), "commit": commit, "command": command,
    }
    table = upsert(board_path, row, CERTIFIED)
    plot = plot_certified(table[table["dataset"] == dataset], out_dir, out_dir / f"{dataset}_certified.png")
    return CertifiedModel(row, stats, run, out_dir / per_example, plot, board_path)
