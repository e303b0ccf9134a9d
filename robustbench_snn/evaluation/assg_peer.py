"""``--attack assg``: SA-PGD through the adaptive-sharpness surrogate (Wang et al., arXiv
2512.22522; :mod:`robustbench_snn.attacks.assg`, :mod:`robustbench_snn.attacks.sapgd`) run
alone, as a peer the standard evaluation is measured against (it is also one of its members)."""

from __future__ import annotations

from torch import nn

from ..attacks.sapgd import ASSG, ASSG_STEPS, assg_config, assg_params
from .composite import Outcome, Run, register_composite
from .harness import AttackConfig, evaluate


def assg_gradient_steps(model: nn.Module | None, cfg: AttackConfig) -> int:
    """Input gradients per example: SA-PGD's steps and its start, each over the run's EOT draws."""
    return (ASSG_STEPS + 1) * cfg.eot


@register_composite("assg", "peer: SA-PGD through the adaptive-sharpness surrogate (Wang et al. 2025), Linf",
                    gradients=assg_gradient_steps, graphs=lambda model, cfg: 3, norms=("linf",))  # its two gradient graphs (passes that update the moments, passes that read them) and inference
def run_assg(run: Run) -> Outcome:
    """ASSG + SA-PGD on every example."""

    res = evaluate(run.model, run.data, assg_config(run.cfg), spec=ASSG, label="assg", batch_size=run.batch_size, **run.kw)
    flags = [] if run.facts.whitebox else ["no-gradient"]
    return Outcome(res, {}, {"assg": assg_params(run.model, run.cfg.eot)}, flags, {}, ASSG_STEPS, None)
