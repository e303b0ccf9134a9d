"""How an evaluation runs once planned: one registered attack, the worst case over every
surrogate (``surrogate="all"``), or a composite attack -- an ensemble of members
(``standard``, :mod:`.standard`) or a peer (``ensemble19``, :mod:`.ensemble19`;
``assg``, :mod:`.assg_peer`).

A composite attack registers itself with :func:`register_composite` in the module that
defines it, declaring what :func:`robustbench_snn.api.benchmark` needs before it runs:
its threat models and its input gradients per example (the compile planner's
estimate). Each runner takes a :class:`Run` and returns an :class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..attacks.spec import ATTACKS
from ..core.registry import Registry
from ..core.surrogate import NORMALISED, Surrogate
from ..data.dataset import Dataset
from .harness import AttackConfig, EvalResult, evaluate, evaluate_worst_case
from .member_log import MemberLog


@dataclass(frozen=True)
class ModelFacts:
    """What the checks before an evaluation found out about the model."""

    neurons: int  # recognised spiking neurons
    stochastic: bool  # repeated passes on one input may differ
    bpda: bool  # some foreign neuron's own backward is zero: the attacks use BPDA_SURROGATE there
    whitebox: bool  # the logits have an autograd path to the input (under the attack's surrogate)
    saved_bytes: int = 0  # what autograd keeps for one input's backward (robustbench_snn.evaluation.memory)
    tracing: dict | None = None  # spike sites found in the traced graph, or why it was not traced (robustbench_snn.interop.spike_tracing)


@dataclass
class Run:
    """One evaluation as it will run: the wrapped model, the data, the attack settings."""

    model: nn.Module
    data: Dataset
    cfg: AttackConfig
    surrogate: Surrogate | None  # the attack's surrogate, or None (each neuron's own)
    member_surrogate: str  # what the white-box members backpropagate, for params
    kw: dict[str, Any]  # draws, seed, quiet
    batch_size: int
    facts: ModelFacts
    sources: Callable[[], tuple[dict[str, nn.Module], dict[str, str]]]  # ({member: model}, {member: source name}) for transfer members
    evidence: bool = True  # gather masking evidence (False on a shard other than the first)
    log: MemberLog | None = None  # where a composite's ledger records each member, to resume after the last (.member_log)


@dataclass
class Outcome:
    result: EvalResult
    per_example: dict[str, torch.Tensor]  # member or surrogate -> per-example scores (BenchmarkResult.per_attack)
    params: dict[str, dict[str, Any]]
    flags: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    steps: int | None = None  # for the row's steps / alpha columns
    alpha: float | None = None


@dataclass(frozen=True)
class CompositeSpec:
    """A composite attack: ``run(Run) -> Outcome``; ``gradients(model, cfg)``: input gradients
    per example it makes at most (EOT draws not counted), ``graphs(model, cfg)``: graphs
    ``compile="auto"`` would compile for it (the frozen inference graph included). Both are
    asked before the attack runs; ``model`` None means a model with spiking neurons."""

    run: Callable[[Run], Outcome]
    gradients: Callable[[nn.Module | None, AttackConfig], int]
    graphs: Callable[[nn.Module | None, AttackConfig], int]
    norms: tuple[str, ...] = ("linf", "l2", "events")


#: name -> :class:`CompositeSpec` (``rbsnn eval --attack standard``), beside the registered single attacks.
COMPOSITES: Registry[CompositeSpec] = Registry("composite attack")


def register_composite(name: str, description: str, **spec: Any) -> Callable[[Callable[[Run], Outcome]], Callable[[Run], Outcome]]:
    """Decorator: register a runner as the composite attack ``name`` with its :class:`CompositeSpec` fields."""

    def register(run: Callable[[Run], Outcome]) -> Callable[[Run], Outcome]:
        COMPOSITES.register(name, CompositeSpec(run, **spec), description)
        return run

    return register


#: The surrogates of ``surrogate="all"``: every normalised family at three widths.
EVERY_SURROGATE_WIDTH = (0.25, 0.5, 1.0)


def every_surrogate() -> list[Surrogate]:
    return [Surrogate(name, w) for name in NORMALISED for w in EVERY_SURROGATE_WIDTH]


def families(specs) -> int:
    """Surrogate families among ``specs`` (a new width reuses its family's compiled graph)."""
    return len({Surrogate.parse(str(spec)).name for spec in specs})


def run_single(run: Run) -> Outcome:
    """One registered attack."""

    res = evaluate(run.model, run.data, run.cfg, surrogate=run.surrogate, batch_size=run.batch_size, **run.kw)
    return _single_outcome(run, res, {}, {run.cfg.attack: ATTACKS[run.cfg.attack].records(run.cfg, run.member_surrogate, run.kw["seed"])})


def run_worst_surrogate(run: Run) -> Outcome:
    """``surrogate="all"``: the attack once per surrogate of :func:`every_surrogate`, worst case per example."""

    res, each = evaluate_worst_case(run.model, run.data, run.cfg, every_surrogate(), batch_size=run.batch_size, **run.kw)
    params = {run.cfg.attack: {**ATTACKS[run.cfg.attack].records(run.cfg, "all", run.kw["seed"]), "surrogates": list(each)}}
    return _single_outcome(run, res, each, params)


def _single_outcome(run: Run, res: EvalResult, per_example: dict[str, torch.Tensor], params: dict) -> Outcome:
    attack = run.cfg.attack
    flags = ["no-gradient"] if not run.facts.whitebox and ATTACKS[attack].follows_gradient else []
    return Outcome(res, per_example, params, flags, {}, 1 if attack == "fgsm" else run.cfg.steps, params[attack].get("alpha"))


def runner(attack: str, all_surrogates: bool) -> Callable[[Run], Outcome]:
    """What runs ``attack``: its composite runner, the worst case over every surrogate, or one attack."""
    if attack in COMPOSITES:
        return COMPOSITES[attack].run
    return run_worst_surrogate if all_surrogates else run_single


def gradient_steps(attack: str, cfg: AttackConfig, model: nn.Module | None = None, all_surrogates: bool = False) -> int:
    """Input gradients per example ``attack`` makes at most (once per surrogate under
    ``all_surrogates``); decides whether ``compile="auto"`` compiles."""
    if all_surrogates:
        return len(every_surrogate()) * gradient_steps(attack, cfg, model)
    if attack in COMPOSITES:
        return COMPOSITES[attack].gradients(model, cfg)
    return ATTACKS[attack].gradient_steps(cfg.steps, cfg.eot)


def expected_graphs(attack: str, cfg: AttackConfig, model: nn.Module | None = None, all_surrogates: bool = False) -> int:
    """Graphs ``compile="auto"`` would compile for ``attack``: one gradient graph per surrogate
    family it differentiates through (a single attack: the model's own), plus the frozen inference graph."""
    if all_surrogates:
        return families(every_surrogate()) + 1
    return COMPOSITES[attack].graphs(model, cfg) if attack in COMPOSITES else 2
