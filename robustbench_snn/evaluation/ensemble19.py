"""``--attack ensemble19``: Özdenizci & Legenstein's ensemble of 19 gradient
estimators, as a peer the standard evaluation is measured against.

Özdenizci & Legenstein, "Adversarially robust spiking neural networks through
conversion", TMLR 2024, Section 4 (repository IGITUGraz/RobustSNNConversion,
``attack/ensemble.py``): an example is robust only if it survives APGD under
every one of 19 ways of differentiating the SNN --

* surrogate derivatives of the spike (:mod:`.surrogate`, their definitions):
  PCW at γ 0.25/0.5/1/2/3, EXP-D at 0.5/1/2, EXP at 0.5/1/2, RECT at
  0.25/0.5/1/2/4, and STE;
* BPTR, backpropagation through the spike rate (our ``--grad bptr``);
* an activation-based rate gradient (our ``--grad rga``, Bu et al.'s rate
  gradient approximation).

Each estimator runs APGD-CE, then APGD-DLR (the paper's ``apgd`` and
``apgd-dlr`` versions), each on the examples still robust, with the
standard evaluation's APGD budget (:data:`.standard.APGD_STEPS` iterations,
one restart, the run's EOT). The row's per-attack columns hold the robust
accuracy after each estimator joined, so the estimators that break examples
are visible. Why our own loop and not theirs: their APGD runs one draw per
step on CUDA tensors; ours is the EOT-batched APGD of :mod:`.attacks.apgd`
under each estimator, which costs the same per step on a deterministic model.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch
from torch import nn

from ..attacks.spec import ATTACKS
from ..core.surrogate import Surrogate
from ..interop.foreign_neurons import find_neurons, supports_rate_gradients
from .composite import Outcome, Run, families, register_composite
from .harness import AttackConfig, EvalResult, accuracies, evaluate
from .member_log import MemberLog
from .standard import APGD_STEPS, Ledger, Selection

#: The surrogate estimators, in the paper's order (``name:γ`` as :mod:`.surrogate` parses them).
SURROGATE_ESTIMATORS = (
    "pcw:1", "pcw:2", "pcw:3", "pcw:0.5", "pcw:0.25",
    "exp-d:0.5", "exp-d:1", "exp-d:2",
    "exp:0.5", "exp:1", "exp:2",
    "rect:0.25", "rect:0.5", "rect:1", "rect:2", "rect:4",
    "ste",
)
#: The rate-based estimators (gradient modes of :mod:`.neurons`).
RATE_ESTIMATORS = ("bptr", "rga")
#: APGD losses run under each estimator, in order.
LOSSES = ("apgd-ce", "apgd-dlr")


@dataclass
class EnsembleResult:
    result: EvalResult
    per_example: dict[str, torch.Tensor]  # estimator -> per-example scores after it joined (cumulative)
    seconds: dict[str, float]
    params: dict[str, dict]

    @property
    def per_attack(self) -> dict[str, float]:
        """Estimator -> robust accuracy in [0, 1] after it joined (non-increasing)."""
        return accuracies(self.per_example)


def estimators(model: nn.Module) -> tuple[list[tuple[str, Surrogate | None, str]], dict[str, str]]:
    """``([(label, surrogate, grad mode)], skipped)``: the estimators ``model`` can take.
    A model without recognised spiking neurons gets its own gradient once; rate
    estimators need neurons that support them (:func:`.interop.supports_rate_gradients`)."""

    if not find_neurons(model):
        return [("own", None, "bptt")], {"surrogates and rate gradients": "no recognised spiking neurons: the model's own gradient"}
    chosen = [(spec, Surrogate.parse(spec), "bptt") for spec in SURROGATE_ESTIMATORS]
    skipped = {}
    if supports_rate_gradients(model):
        chosen += [(mode, None, mode) for mode in RATE_ESTIMATORS]
    else:
        skipped = {"bptr, rga": "a neuron without rate gradients"}
    return chosen, skipped


def ensemble19_evaluation(model: nn.Module, data, cfg: AttackConfig, *, draws: int = 1, seed: int = 0, quiet: bool = True,
                          log: MemberLog | None = None) -> EnsembleResult:
    """Per-example worst case over :func:`estimators` x :data:`LOSSES`, each APGD run
    only on the examples that survived the previous ones; with a ``log``, resumable after
    each (:class:`.member_log.MemberLog`)."""
    start = time.perf_counter()
    kw = {"draws": draws, "seed": seed, "quiet": quiet}
    apgd = dataclasses.replace(cfg, steps=APGD_STEPS, alpha=None)
    chosen, skipped = estimators(model)
    runs = [(label, dataclasses.replace(apgd, attack=loss, grad=grad), surrogate, f"{loss} {label}")
            for label, surrogate, grad in chosen for loss in LOSSES]
    (label, member, surrogate, name), *rest = runs
    selection = Selection(model, draws, seed)
    ledger, first = Ledger.opening(data, label, lambda: evaluate(model, data, member, surrogate=surrogate, label=name, **kw),
                                   selection, log)  # the first also measures clean accuracy
    clean, max_distance = first.clean_per_example, first.max_distance
    for label, member, surrogate, name in rest:
        ledger.add(label, lambda d, m=member, s=surrogate, name=name: evaluate(model, d, m, surrogate=s, label=name, **kw))
    robust = ledger.final(clean)
    params = {
        "ensemble19": {
            "estimators": [label for label, _, _ in chosen], "losses": list(LOSSES), "steps": APGD_STEPS,
            "restarts": 1, "eot": cfg.eot, **({"skipped": skipped} if skipped else {}),
        },
        **({"selection": selection.params()} if selection.params() else {}),
    }
    result = EvalResult(clean.mean().item(), robust.mean().item(), clean, robust, max_distance, time.perf_counter() - start, ledger.inputs)
    return EnsembleResult(result, ledger.after, ledger.seconds, params)


def ensemble19_gradient_steps(model: nn.Module | None, cfg: AttackConfig) -> int:
    """Input gradients per example: both APGD losses under every estimator."""
    return (len(SURROGATE_ESTIMATORS) + len(RATE_ESTIMATORS)) * sum(ATTACKS[loss].gradient_steps(APGD_STEPS, cfg.eot) for loss in LOSSES)


@register_composite("ensemble19", "peer: APGD-CE and APGD-DLR under 19 gradient estimators (Ozdenizci & Legenstein 2024)",
                    gradients=ensemble19_gradient_steps, graphs=lambda model, cfg: families(SURROGATE_ESTIMATORS) + len(RATE_ESTIMATORS) + 1,
                    norms=("linf",))
def run_ensemble19(run: Run) -> Outcome:
    """Özdenizci & Legenstein's 19-estimator ensemble, a peer of ``standard``."""

    ens = ensemble19_evaluation(run.model, run.data, run.cfg, log=run.log, **run.kw)
    flags = [] if run.facts.whitebox else ["no-gradient"]
    return Outcome(ens.result, ens.per_example, ens.params, flags, ens.seconds, APGD_STEPS, None)
