"""The third step of :func:`robustbench_snn.api.benchmark`: run a :class:`~.plan.Plan` -- the
model (and any transfer source) on the compiled path the plan chose, every forward and
backward pass counted (:mod:`.cost`), the attack's runner (:mod:`.composite`) on the
examples of the shard."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import torch
from torch import nn

from ..data.dataset import Dataset
from .compiled import CompileStats, compiled_path
from .composite import ModelFacts, Outcome, Run, runner
from .cost import PassCount, counting_passes
from .member_log import MemberLog
from .plan import Plan
from .settings import Settings
from .transfer_sources import load_transfer_sources


def execute(settings: Settings, plan: Plan, model: nn.Module, facts: ModelFacts, data: Dataset, *, quiet: bool,
            transfer_sources: dict[str, nn.Module | str] | None = None, zoo_dir: str | Path | None = None,
            log: MemberLog | None = None) -> tuple[Outcome, PassCount, CompileStats]:
    """Attack the examples of ``settings.shard`` of ``data`` (all of them without one) as
    ``plan`` says; returns the runner's outcome, the passes counted and what compiled.
    ``log``: a composite attack's ledger records each member there and resumes after the last."""

    s = settings
    stats = CompileStats(s.compile)
    if plan.compile_skipped:
        stats.skipped = plan.compile_skipped
    attacked = data if s.shard is None else data.subset(torch.arange(*s.shard))
    with ExitStack() as stack:
        # inference too: an attack's scoring passes, Square's queries and the masking checks
        stack.enter_context(compiled_path(model, plan.compile_mode, stats, inference=True))
        passes = stack.enter_context(counting_passes(model))
        if log is not None:
            log.attach(passes)  # the passes of the members an earlier process ran count too

        def sources() -> tuple[dict[str, nn.Module], dict[str, str]]:
            found = load_transfer_sources(transfer_sources, data.name, plan.model_info["name"], zoo_dir, s.device)
            for source in found[0].values():
                stack.enter_context(compiled_path(source, plan.source_mode, stats))
                stack.enter_context(counting_passes(source, passes))
            return found

        run = Run(model, attacked, plan.cfg, s.surrogate.surrogate, plan.member_surrogate,
                  {"draws": plan.draws, "seed": s.seed, "quiet": quiet}, s.batch_size, facts, sources,
                  evidence=s.shard is None or s.shard[0] == 0, log=log)  # only the first shard gathers the masking evidence
        outcome = runner(s.attack, s.surrogate.every)(run)
    return outcome, passes, stats
