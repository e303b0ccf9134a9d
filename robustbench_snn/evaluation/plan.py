"""The second step of :func:`robustbench_snn.api.benchmark`: with the model checked
(:mod:`.model_checks`), fix what will run -- the attack configuration, EOT and scoring draws,
the labels its row carries, and whether the attack gradients go through ``torch.compile``
(:mod:`.compiled`) -- and refuse a run that cannot fit in memory, before any attack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from ..attacks.gradient import copies_per_pass
from ..attacks.spec import ATTACKS
from ..data.dataset import Dataset
from ..interop.foreign_neurons import BPDA_SURROGATE, ResetEachPass, require_neurons
from .compiled import skipped_reason, worth_compiling
from .composite import COMPOSITES, ModelFacts, expected_graphs, gradient_steps
from .harness import AttackConfig
from .memory import available_bytes, check_attack_memory
from .model_checks import describe, surrogate_attack_label
from .settings import Settings

#: EOT samples per gradient and scoring draws for a stochastic model (fixed: results must not depend on the host).
STOCHASTIC_EOT = 10
STOCHASTIC_DRAWS = 10


@dataclass(frozen=True)
class Plan:
    """What an evaluation will run, fixed before it runs."""

    cfg: AttackConfig  # a composite attack's base configuration is PGD's
    draws: int
    model_info: dict[str, Any]  # name, encoder, T, neuron, surrogate_train and the caller's info
    member_surrogate: str  # what the white-box members backpropagate, for params
    surrogate_label: str  # the row's surrogate_attack
    compile_mode: str  # for the attacked model
    source_mode: str  # for the transfer sources
    compile_skipped: str | None  # why ``auto`` did not compile
    n_examples: int  # what the row describes (a shard attacks part of it)


def plan(settings: Settings, model: nn.Module, facts: ModelFacts, data: Dataset, name: str | None, info: dict | None) -> Plan:
    """The :class:`Plan` of ``settings`` on the checked ``model`` (its ``facts``) and ``data`` (all
    the evaluation's examples, whatever the shard)."""

    s = settings
    if s.surrogate.replaces_own:
        require_neurons(model, f"surrogate {s.surrogate.text!r}")
    if s.grad != "bptt":
        require_neurons(model, f"gradient mode {s.grad!r}")
    eot = s.eot or (STOCHASTIC_EOT if facts.stochastic else 1)
    draws = s.draws or (STOCHASTIC_DRAWS if facts.stochastic else 1)
    if s.attack in ATTACKS:
        ATTACKS[s.attack].check_eot(s.threat_model, eot, f"attack {s.attack!r}")
    described = describe(model)
    numel = data.x[0].numel()  # input values per example
    attacked = len(data) if s.shard is None else s.shard[1] - s.shard[0]
    batch = min(s.batch_size, attacked)
    check_attack_memory(facts.saved_bytes, batch, copies_per_pass(batch * numel, eot), described.get("T"), available_bytes(s.device))
    model_info = {"name": name or type(model.model if isinstance(model, ResetEachPass) else model).__name__, **described, **(info or {})}
    own = f"bpda:{BPDA_SURROGATE}" if facts.bpda else described["surrogate_train"]  # "none": ANN; "own": unrecognised spiking code
    label = surrogate_attack_label(s.surrogate, s.attack, described["surrogate_train"], whitebox=facts.whitebox, bpda=facts.bpda)
    cfg = AttackConfig(s.attack if s.attack not in COMPOSITES else "pgd", s.threat_model, float(s.eps), s.steps, s.alpha, eot, grad=s.grad)
    work = len(data) * eot * gradient_steps(s.attack, cfg, model, s.surrogate.every) * numel
    graphs = expected_graphs(s.attack, cfg, model, s.surrogate.every)
    compile_mode = worth_compiling(s.compile, work, graphs)
    source_mode = worth_compiling(s.compile, len(data) * cfg.steps * numel)  # transfer sources: cfg.steps PGD steps, one draw
    return Plan(cfg, draws, model_info, str(s.surrogate.surrogate) if s.surrogate.surrogate is not None else own, label,
                compile_mode, source_mode, skipped_reason(work, graphs) if compile_mode != s.compile else None, len(data))
