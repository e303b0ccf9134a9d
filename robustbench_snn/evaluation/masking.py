"""Automatic gradient-masking checks, one set per leaderboard row.

Gradient obfuscation (Athalye, Carlini & Wagner, ICML 2018) makes gradient
attacks weak while the model is not robust; on SNNs its usual sources are a
surrogate that does not match the forward pass, vanishing spike gradients,
stochastic encoders attacked without EOT and few time steps. Each check
below turns one of Athalye et al.'s Sec. 3.1 warning signs (and the
``checks.py`` of AutoAttack, Croce & Hein 2020, for (a), (e), (f)) into a
measured, thresholded flag:

=====  =======================  ==================================================================
flag   name                     raised when
=====  =======================  ==================================================================
(a)    ``blackbox-beats-white`` a black-box attack's robust accuracy is below every white-box one's
(b)    ``non-monotone-eps``     robust accuracy rises as eps grows
(c)    ``unbounded-survives``   an attack with an unbounded budget leaves accuracy above 10%
(d)    ``not-converged``        5x the PGD steps plus a restart lowers accuracy by > 2 points
(e)    ``vanishing-gradient``   ||∇_x L||_1 is (numerically) zero for > 10% of examples
(f)    ``randomized-no-eot``    repeated forward passes disagree on > 1% of examples but EOT = 1
(g)    ``no-gradient``          no autograd path from the input to the logits at all (e.g. a spike
                                written as ``(v >= thr).float()``): only black-box members count
=====  =======================  ==================================================================

:func:`masking_flags` is a pure function of the measurements
(:class:`MaskingEvidence`), so the rules are tested on their own; the
harness gathers the evidence.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from ..attacks.event_flips import event_flip_steps
from ..attacks.gradient import eot_gradient, has_input_gradient
from ..core import streams
from .harness import evaluate

#: Thresholds, in accuracy fractions unless stated.
BLACKBOX_MARGIN = 0.01
MONOTONE_TOLERANCE = 0.01
UNBOUNDED_MAX_ACC = 0.10
CONVERGENCE_DROP = 0.02
ZERO_GRAD_NORM = 1e-10
ZERO_GRAD_SHARE = 0.10
RANDOM_DISAGREEMENT = 0.01

#: Each flag and when it is raised (the table above), in table order; shown on the site's badges.
FLAG_MEANINGS = {
    "blackbox-beats-white": "a black-box attack alone (Square) left fewer examples robust than every white-box one alone "
                            "on the evidence subset: the gradients may be masked",
    "non-monotone-eps": "robust accuracy rose as eps grew, which a working attack cannot give",
    "unbounded-survives": "an attack with an unbounded budget left accuracy above 10%",
    "not-converged": "5x the PGD steps plus a restart lowered accuracy by more than 2 points: the attack had not converged",
    "vanishing-gradient": "the input gradient was numerically zero for more than 10% of examples",
    "randomized-no-eot": "the model is randomized (passes disagree on > 1% of examples) but was attacked without EOT",
    "no-gradient": "no autograd path from the input to the logits: only black-box members count",
}


@dataclass
class MaskingEvidence:
    whitebox: dict[str, float] = field(default_factory=dict)  # attack -> robust accuracy
    blackbox: dict[str, float] = field(default_factory=dict)
    acc_by_eps: dict[float, float] = field(default_factory=dict)  # PGD robust accuracy per eps
    unbounded_acc: float | None = None
    acc_base: float | None = None  # PGD at the row's budget ...
    acc_stronger: float | None = None  # ... and with 5x steps + 1 restart, same subset
    zero_grad_share: float | None = None
    disagreement: float | None = None  # share of examples whose prediction changes between two passes
    eot: int = 1
    no_gradient: bool = False  # no autograd path from input to logits


def masking_flags(ev: MaskingEvidence) -> list[str]:
    """The flags the evidence raises (keys of :data:`FLAG_MEANINGS`), in that order."""
    flags = []
    if ev.whitebox and ev.blackbox and min(ev.blackbox.values()) < min(ev.whitebox.values()) - BLACKBOX_MARGIN:
        flags.append("blackbox-beats-white")
    accs = [ev.acc_by_eps[e] for e in sorted(ev.acc_by_eps)]
    if any(later > earlier + MONOTONE_TOLERANCE for earlier, later in zip(accs, accs[1:])):
        flags.append("non-monotone-eps")
    if ev.unbounded_acc is not None and ev.unbounded_acc > UNBOUNDED_MAX_ACC:
        flags.append("unbounded-survives")
    if ev.acc_base is not None and ev.acc_stronger is not None and ev.acc_base - ev.acc_stronger > CONVERGENCE_DROP:
        flags.append("not-converged")
    if ev.zero_grad_share is not None and ev.zero_grad_share > ZERO_GRAD_SHARE:
        flags.append("vanishing-gradient")
    if ev.disagreement is not None and ev.disagreement > RANDOM_DISAGREEMENT and ev.eot <= 1:
        flags.append("randomized-no-eot")
    if ev.no_gradient:
        flags.append("no-gradient")
    return flags


#: Examples the evidence runs use (the first N of the evaluated set): enough to see a
#: 2-point effect, cheap enough to run with every standard evaluation.
EVIDENCE_EXAMPLES = 100
#: Budgets for check (b), as multiples of the row's eps, and the unbounded budget of (c).
EPS_MULTIPLES = (0.5, 1.0, 2.0)
UNBOUNDED_EPS = {"linf": 1.0, "l2": 1e3}  # events: every cell of the input
#: The gradient attack the checks run in each threat model.
CHECK_ATTACK = {"linf": "pgd", "l2": "pgd", "events": "sparse-flip"}


def gather_evidence(model, data, cfg, *, draws: int = 1, seed: int = 0, n: int = EVIDENCE_EXAMPLES) -> MaskingEvidence:
    """Measure (b)-(f) on the first ``n`` examples (white/black-box numbers (a) come from the ensemble)."""

    sub = data.head(n)
    run = lambda c: evaluate(model, sub, c, draws=draws, seed=seed, quiet=True).robust_acc  # noqa: E731
    pgd = dataclasses.replace(cfg, attack=CHECK_ATTACK[cfg.norm], alpha=None)
    if cfg.norm == "events":  # the standard's sparse-flip: one event per step. Being greedy and
        # deterministic, 5x its steps and a "restart" change nothing, so (d) cannot fire there

        pgd = dataclasses.replace(pgd, steps=event_flip_steps(cfg.eps))
    ev = MaskingEvidence(eot=cfg.eot)
    budgets = [m * cfg.eps if cfg.norm != "events" else float(round(m * cfg.eps)) for m in EPS_MULTIPLES]
    ev.acc_by_eps = {eps: run(dataclasses.replace(pgd, eps=eps)) for eps in budgets}
    unbounded = UNBOUNDED_EPS[cfg.norm] if cfg.norm != "events" else float(sub.x[0].numel())
    ev.unbounded_acc = run(dataclasses.replace(pgd, eps=unbounded))
    ev.acc_base = ev.acc_by_eps[cfg.eps]
    stronger = dataclasses.replace(pgd, steps=5 * pgd.steps)
    restarts = [evaluate(model, sub, stronger, draws=draws, seed=seed + r, quiet=True).robust_per_example for r in (0, 1)]
    ev.acc_stronger = torch.minimum(*restarts).mean().item()  # an example survives only if it survives both starts
    device = next(model.parameters()).device
    x, y = sub.x.to(device), sub.y.to(device)
    with streams.per_example(seed, sub.example_ids, "masking"):  # every draw below from the examples' own streams
        grad = eot_gradient(model.eval(), x, y, cfg.eot)
        ev.zero_grad_share = (grad.flatten(1).abs().sum(1) <= ZERO_GRAD_NORM).float().mean().item()
        ev.no_gradient = not has_input_gradient(model, x)
        with torch.no_grad():
            ev.disagreement = (model(x).argmax(1) != model(x).argmax(1)).float().mean().item()
    return ev
