"""The standard evaluation ``--attack standard``: an AutoAttack-like ensemble
(Croce & Hein, ICML 2020) made for SNNs, counted per example -- an example is
robust only if it survives every attack -- plus the gradient-masking
evidence and flags of :mod:`.masking`.

Ensemble (each uses the row's threat model):

* ``apgd-ce``: APGD on cross-entropy, white box, BPTT with the model's surrogate, EOT;
* ``apgd-t``: APGD on targeted DLR towards the top wrong classes;
* ``worst-surrogate``: PGD under each of :data:`STANDARD_SURROGATES` and the
  RGA rate gradient, worst case per example;
* ``square``: score-based black box on encoder-averaged probabilities;
* ``transfer-ann`` / ``transfer-snn``: PGD crafted on the dataset's zoo
  ``ann-cnn`` / ``snn-cnn`` (``rsc-snn`` when attacking ``snn-cnn`` itself).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch
from torch import nn

from robustbench_snn.attacks.transfer import transfer_from

from .harness import AttackConfig, EvalResult, evaluate
from .masking import MaskingEvidence, gather_evidence, masking_flags
from .surrogate import Surrogate

#: Surrogates of the worst-surrogate member (the full sweep is ``--surrogate all``).
STANDARD_SURROGATES = ("atan:1", "atan:0.25", "triangle:0.5", "sigmoid:2")
#: APGD iterations in the ensemble (AutoAttack: 100; see README for the CPU budget).
APGD_STEPS = 20
WHITE_BOX = ("apgd-ce", "apgd-t", "worst-surrogate")
BLACK_BOX = ("square", "transfer-ann", "transfer-snn")


@dataclass
class StandardResult:
    result: EvalResult
    per_attack: dict[str, float]  # attack -> robust accuracy in [0, 1]
    flags: list[str]
    evidence: MaskingEvidence


def transfer_sources(target: str, load) -> dict[str, nn.Module]:
    """Source models for the transfer members: ``load(name) -> model or None``."""
    sources = {"transfer-ann": load("ann-cnn"), "transfer-snn": load("rsc-snn" if target == "snn-cnn" else "snn-cnn")}
    return {k: v for k, v in sources.items() if v is not None}


def standard_evaluation(
    model: nn.Module,
    data,
    cfg: AttackConfig,
    sources: dict[str, nn.Module],
    *,
    draws: int = 1,
    seed: int = 0,
    quiet: bool = True,
    surrogates=STANDARD_SURROGATES,
) -> StandardResult:
    start = time.perf_counter()
    kw = {"draws": draws, "seed": seed, "quiet": quiet}
    apgd = dataclasses.replace(cfg, steps=APGD_STEPS, alpha=None)
    runs: dict[str, EvalResult] = {
        "apgd-ce": evaluate(model, data, dataclasses.replace(apgd, attack="apgd-ce"), **kw),
        "apgd-t": evaluate(model, data, dataclasses.replace(apgd, attack="apgd-t"), **kw),
    }
    pgd = dataclasses.replace(cfg, attack="pgd")
    surrogate_runs = [evaluate(model, data, pgd, surrogate=Surrogate.parse(s), **kw) for s in surrogates]
    surrogate_runs.append(evaluate(model, data, dataclasses.replace(pgd, grad="rga"), **kw))
    worst = torch.stack([r.robust_per_example for r in surrogate_runs]).min(0).values
    runs["worst-surrogate"] = dataclasses.replace(surrogate_runs[0], robust_per_example=worst, robust_acc=worst.mean().item())
    runs["square"] = evaluate(model, data, dataclasses.replace(cfg, attack="square"), **kw)
    for name, source in sources.items():
        runs[name] = evaluate(model, data, pgd, attack_fn=transfer_from(source), **kw)
    robust = torch.stack([r.robust_per_example for r in runs.values()]).min(0).values
    first = runs["apgd-ce"]
    result = EvalResult(first.clean_acc, robust.mean().item(), first.clean_per_example, robust,
                        max(r.max_distance for r in runs.values()), 0.0)
    evidence = gather_evidence(model, data, cfg, draws=draws, seed=seed)
    per_attack = {k: r.robust_acc for k, r in runs.items()}
    evidence.whitebox = {k: v for k, v in per_attack.items() if k in WHITE_BOX}
    evidence.blackbox = {k: v for k, v in per_attack.items() if k in BLACK_BOX}
    result = dataclasses.replace(result, seconds=time.perf_counter() - start)
    return StandardResult(result, per_attack, masking_flags(evidence), evidence)
