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

from .harness import AttackConfig, EvalResult, evaluate, evaluate_worst_case
from .masking import EVIDENCE_EXAMPLES, MaskingEvidence, gather_evidence, masking_flags
from .surrogate import Surrogate

#: Surrogates of the worst-surrogate member (the full sweep is ``--surrogate all``).
STANDARD_SURROGATES = ("atan:1", "atan:0.25", "triangle:0.5", "sigmoid:2")
#: APGD iterations in the ensemble (AutoAttack: 100; see README for the CPU budget).
APGD_STEPS = 20


@dataclass
class StandardResult:
    result: EvalResult
    per_attack: dict[str, float]  # attack -> robust accuracy in [0, 1] after it joined (cumulative)
    flags: list[str]
    evidence: MaskingEvidence
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # wall time per member, plus "masking-checks"


def transfer_sources(target: str, load) -> dict[str, nn.Module]:
    """Source models for the transfer members: ``load(name) -> model or None``."""
    sources = {"transfer-ann": load("ann-cnn"), "transfer-snn": load("rsc-snn" if target == "snn-cnn" else "snn-cnn")}
    return {k: v for k, v in sources.items() if v is not None}


def _on_survivors(robust: torch.Tensor, data, run, known: torch.Tensor | None = None) -> torch.Tensor:
    """Run ``run(subset) -> per-example scores`` only on examples still (partly) robust;
    the others stay at 0. ``known`` holds this member's scores for the first
    ``len(known)`` examples, already measured: those are not attacked again.
    Returns the updated per-example worst case."""
    scores = torch.zeros_like(robust)
    head = len(known) if known is not None else 0
    if head:
        scores[:head] = known
    alive = (robust[head:] > 0).nonzero().flatten() + head
    if len(alive):
        scores[alive] = run(data.subset(alive))
    return torch.minimum(robust, scores)


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
    """Members run in order, each only on examples that survived the previous
    ones (AutoAttack's scheme: an example already broken needs no further
    attack). ``per_attack`` is therefore the robust accuracy *after* each
    member was added, non-increasing. Flag (a) needs each attack alone, so
    Square and APGD-CE are also compared on the evidence subset.
    """
    start = time.perf_counter()
    kw = {"draws": draws, "seed": seed, "quiet": quiet}
    apgd = dataclasses.replace(cfg, steps=APGD_STEPS, alpha=None)
    pgd = dataclasses.replace(cfg, attack="pgd")
    first = evaluate(model, data, dataclasses.replace(apgd, attack="apgd-ce"), **kw)
    robust = first.robust_per_example
    per_attack = {"apgd-ce": robust.mean().item()}
    seconds = {"apgd-ce": first.seconds}

    def member(name: str, run, known: torch.Tensor | None = None) -> None:
        nonlocal robust
        t0 = time.perf_counter()
        robust = _on_survivors(robust, data, run, known)
        per_attack[name] = robust.mean().item()
        seconds[name] = time.perf_counter() - t0

    member("apgd-t", lambda d: evaluate(model, d, dataclasses.replace(apgd, attack="apgd-t"), **kw).robust_per_example)

    def worst_surrogate(d):
        sweep = evaluate_worst_case(model, d, pgd, [Surrogate.parse(sg) for sg in surrogates], **kw)[0]
        rga = evaluate(model, d, dataclasses.replace(pgd, grad="rga"), **kw)
        return torch.minimum(sweep.robust_per_example, rga.robust_per_example)

    member("worst-surrogate", worst_surrogate)
    square = dataclasses.replace(cfg, attack="square")
    # Square alone on the evidence subset (flag (a) compares it with APGD-CE alone);
    # the ensemble reuses those results instead of attacking the subset twice
    t0 = time.perf_counter()
    n = min(EVIDENCE_EXAMPLES, len(data))
    square_head = evaluate(model, data.head(n), square, **kw).robust_per_example
    square_head_seconds = time.perf_counter() - t0
    member("square", lambda d: evaluate(model, d, square, **kw).robust_per_example, known=square_head)
    seconds["square"] += square_head_seconds
    for name, source in sources.items():
        member(name, lambda d, src=source: evaluate(model, d, pgd, attack_fn=transfer_from(src), **kw).robust_per_example)
    t0 = time.perf_counter()
    evidence = gather_evidence(model, data, cfg, draws=draws, seed=seed)
    evidence.whitebox = {"apgd-ce": first.robust_per_example[:n].mean().item()}
    evidence.blackbox = {"square": square_head.mean().item()}
    seconds["masking-checks"] = time.perf_counter() - t0
    result = EvalResult(first.clean_acc, robust.mean().item(), first.clean_per_example, robust, first.max_distance,
                        time.perf_counter() - start)
    return StandardResult(result, per_attack, masking_flags(evidence), evidence, seconds)
