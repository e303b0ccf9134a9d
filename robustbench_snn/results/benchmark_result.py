"""The last step of :func:`robustbench_snn.api.benchmark`: what an evaluation measured and the
parameters that actually ran, as a :class:`BenchmarkResult` that gives its leaderboard row
and its per-example table."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..core.atomic import atomic_write_bytes
from ..data.dataset import Dataset
from ..evaluation.compiled import CompileStats
from ..evaluation.composite import COMPOSITES, ModelFacts, Outcome
from ..evaluation.cost import PassCount
from ..evaluation.harness import accuracies
from ..evaluation.plan import Plan
from ..evaluation.settings import Settings
from .leaderboard import json_cell, per_example_name
from .provenance import host, today, version


@dataclass
class BenchmarkResult:
    """What one evaluation measured, and the parameters that actually ran.

    Accuracies are percentages with two decimals, as in the leaderboard CSVs.
    ``per_attack`` maps each member to the robust accuracy after it joined
    (cumulative, non-increasing) for ``standard``, or each surrogate's own
    robust accuracy for a sweep. ``params`` maps each member to its parameters.
    """

    clean_acc: float
    robust_acc: float
    flags: list[str]
    per_attack: dict[str, float]
    params: dict[str, dict[str, Any]]
    seconds: float
    model_info: dict[str, Any]
    settings: dict[str, Any]
    member_seconds: dict[str, float] = field(default_factory=dict)
    clean_per_example: torch.Tensor | None = None
    robust_per_example: torch.Tensor | None = None
    #: forward and backward passes per example, counted (:mod:`.cost`), transfer sources included
    passes: dict[str, float] = field(default_factory=dict)
    #: the per-example scores behind ``per_attack`` (fractions in [0, 1])
    per_attack_per_example: dict[str, torch.Tensor] = field(default_factory=dict)
    #: forward and backward passes in all, counted (``passes`` divides them by the examples)
    pass_totals: dict[str, int] = field(default_factory=dict)

    def row(self, **extra: Any) -> dict[str, Any]:
        """The leaderboard row (``leaderboard.COLUMNS`` plus ``acc_<member>`` columns);
        ``extra`` adds or overrides provenance fields such as ``command`` and ``commit``."""

        s, info = self.settings, self.model_info
        row = {
            "model": info["name"], "dataset": s["dataset"], "defense": info.get("defense", "unknown"),
            "encoder": info["encoder"], "T": info["T"], "neuron": info["neuron"],
            "surrogate_train": info.get("surrogate_train", "unknown"), "surrogate_attack": s["surrogate_attack"],
            "grad": s["grad"], "attack": s["attack"], "norm": s["threat_model"], "eps": s["eps"], "steps": s["steps"],
            "alpha": s["alpha"], "eot": s["eot"], "draws": s["draws"], "n_examples": s["n_examples"],
            "clean_acc": self.clean_acc, "robust_acc": self.robust_acc,
            "attacks": ",".join(self.per_attack) if s["attack"] in COMPOSITES or s["surrogate"] == "all" else "",
            "flags": ";".join(self.flags), "params": json_cell(self.params),
            "fwd_per_example": self.passes.get("forward"), "bwd_per_example": self.passes.get("backward"),
            "seconds": round(self.seconds, 1),
            "source": info.get("source", "api"), "claimed_clean": None, "claimed_robust": None, "seed": s["seed"], "date": today(), "version": version(),
            "commit": "unknown", "command": "",
        }
        if s["attack"] in COMPOSITES:
            row.update({f"acc_{k}": v for k, v in self.per_attack.items()})
        row.update(extra)
        return row

    def summary(self, eps_text: str) -> str:
        """What ``rbsnn eval`` and ``rbsnn submit`` print: each member's accuracy after it joined
        (composite attacks), the flags, and the result line with its cost."""

        s, lines = self.settings, []
        if s["attack"] in COMPOSITES:
            lines += [f"  {k:<16} {v:6.2f}%  ({self.member_seconds.get(k, 0):.0f} s)" for k, v in self.per_attack.items()]
        if "masking-checks" in self.member_seconds:
            lines.append(f"  flags: {', '.join(self.flags) or 'none'}  (masking checks {self.member_seconds['masking-checks']:.0f} s)")
        elif self.flags:
            lines.append(f"  flags: {', '.join(self.flags)}")
        compiled = self.params.get("compile", {})
        compile_note = f", {compiled['graphs']} graphs compiled in {self.member_seconds.get('compile', 0):.0f} s" if compiled.get("graphs") else ""
        lines.append(
            f"{self.model_info['name']} {s['dataset']} {s['attack']} {s['threat_model']} eps={eps_text}: clean {self.clean_acc:.2f}%  "
            f"robust {self.robust_acc:.2f}%  (n={s['n_examples']}, {self.seconds:.1f} s{compile_note}; "
            f"passes per example: {self.passes.get('forward', 0):g} forward, {self.passes.get('backward', 0):g} backward)"
        )
        return "\n".join(lines)

    def per_example_table(self, example_ids: torch.Tensor, labels: torch.Tensor):
        """One line per evaluated example, in order: ``example`` (its index in the split),
        ``label``, ``clean`` and ``robust`` (fractions of the scoring draws that predicted the
        label; 0 or 1 for a deterministic model) and, for a composite attack, ``acc_<member>``:
        the per-example scores behind the row's column of that name. Each column's mean x 100
        is the row's number, so a subset's accuracy (the first 500 images, the images one
        member broke) can be read off without re-running the attack."""

        if self.clean_per_example is None or self.robust_per_example is None:
            raise ValueError("this result holds no per-example scores")
        table = {
            "example": example_ids.cpu().long().numpy(), "label": labels.cpu().long().numpy(),
            "clean": self.clean_per_example.cpu().double().numpy(), "robust": self.robust_per_example.cpu().double().numpy(),
        }
        if self.settings["attack"] in COMPOSITES:
            table.update({f"acc_{k}": v.cpu().double().numpy() for k, v in self.per_attack_per_example.items()})
        return pd.DataFrame(table)

    def save_per_example(self, folder: Path, row: dict[str, Any], example_ids: torch.Tensor, labels: torch.Tensor) -> Path:
        """Write :meth:`per_example_table` atomically to ``folder`` under the row's
        :func:`~robustbench_snn.results.leaderboard.per_example_name` (``rbsnn eval`` and ``rbsnn sweep
        --per-example``); returns the file's path."""

        folder.mkdir(parents=True, exist_ok=True)
        path = folder / per_example_name(row)
        atomic_write_bytes(path, self.per_example_table(example_ids, labels).to_csv(index=False, float_format="%.6g").encode())
        return path


def percent(per_example: dict[str, torch.Tensor]) -> dict[str, float]:
    """Each member's accuracy (mean of its per-example scores) as a percentage with two decimals, as rows hold them."""

    return {k: round(100 * v, 2) for k, v in accuracies(per_example).items()}


def record(settings: Settings, plan: Plan, facts: ModelFacts, outcome: Outcome, passes: PassCount, stats: CompileStats,
           data: Dataset, attacked: int, started: float) -> BenchmarkResult:
    """The :class:`BenchmarkResult` of one run: ``outcome`` on ``attacked`` examples of ``data``
    (a shard's; ``plan.n_examples`` in all), its parameters completed with what compiled, the
    spike sites traced, the host, and what a pixel threat model means on event frames."""

    s, out, res = settings, outcome, outcome.result
    out.params["compile"] = stats.record()
    if facts.tracing is not None:
        out.params["spike-tracing"] = facts.tracing
    out.params["host"] = host()
    if data.x.dim() == 5 and s.threat_model in ("linf", "l2"):  # event frames [N, T, 2, H, W]
        out.params["threat model"] = {"frame-space": "the binned event frames are perturbed as images; no sensor can produce that"}
    if stats.compiles:
        out.seconds["compile"] = stats.seconds
    ran = {
        "dataset": data.name, "threat_model": s.threat_model, "eps": float(s.eps), "attack": s.attack, "steps": out.steps,
        "alpha": out.alpha, "eot": plan.cfg.eot, "draws": plan.draws, "seed": s.seed, "grad": s.grad, "surrogate": s.surrogate.text,
        "surrogate_attack": plan.surrogate_label, "n_examples": plan.n_examples, "device": s.device, "batch_size": s.batch_size,
        "compile": s.compile, **({"shard": list(s.shard)} if s.shard is not None else {}),
    }
    return BenchmarkResult(
        round(100 * res.clean_acc, 2), round(100 * res.robust_acc, 2), out.flags, percent(out.per_example), out.params,
        time.perf_counter() - started, plan.model_info, ran, out.seconds, res.clean_per_example, res.robust_per_example,
        passes.per_example(attacked), out.per_example, {"forward": passes.forward, "backward": passes.backward},
    )
