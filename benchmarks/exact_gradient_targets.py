"""What should the targeted member spend on a network without spikes? (``standard``
must take fewer input gradients per example than ``ensemble19`` on every model, the
``ann-cnn`` baseline included, and stay at least as strong.)

On a model with no spike ``ensemble19`` is APGD-CE then APGD-DLR (20 steps from a random
start: 21 input gradients per example APGD-CE leaves). So after the same APGD-CE,
``standard``'s targeted member must spend fewer than 21 per survivor. This runs APGD-CE
once, then each candidate member on its survivors, and prints what each breaks and its
counted backward passes, per survivor and per example of the whole set:

- ``apgd-dlr``: ``ensemble19``'s member (the peer's cost to beat);
- ``apgd-t 3x20 random``: the targeted member ``standard`` runs on SNNs (3 targets);
- ``continued KxS``: K targeted runs of S steps, each started where APGD-CE left the
  example, towards the K wrong classes scoring highest there (``standard``'s member on a
  spike-free model is 2x9: 20 gradients per survivor);
- ``random KxS``: the same budget from random starts, targets ranked on the clean input.

Random starts come from the evaluation's per-example streams. Nothing is written.

    .venv/bin/python benchmarks/exact_gradient_targets.py --dataset digits --eps 0.1
    .venv/bin/python benchmarks/exact_gradient_targets.py --dataset mnist --data-dir ../shared/data/mnist --eps 8/255 --n 500
"""

from __future__ import annotations

import argparse
import dataclasses
from functools import partial

import torch

from robustbench_snn.core.budget import Eps
from robustbench_snn.attacks.apgd import apgd_targeted, apgd_ticks
from robustbench_snn.attacks.spec import AttackSpec
from robustbench_snn.evaluation.cost import counting_passes
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.evaluation.harness import AttackConfig, evaluate
from robustbench_snn.core.limits import positive_int
from robustbench_snn.evaluation.standard import APGD_STEPS, continued_from
from robustbench_snn.models.zoo import load_checkpoint


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="ann-cnn")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-dir")
    p.add_argument("--eps", default="0.1")
    p.add_argument("--n", type=positive_int("--n"), default=None)
    args = p.parse_args()
    torch.set_num_threads(2)
    eps = Eps.parse(args.eps, "linf").value
    model = load_checkpoint(args.model, args.dataset)[0]
    data = load_dataset(args.dataset, data_dir=args.data_dir).head(args.n)
    cfg = AttackConfig(attack="apgd-ce", eps=eps, steps=APGD_STEPS, alpha=None)
    first = evaluate(model, data, cfg, quiet=True)
    alive = (first.robust_per_example > 0).nonzero().flatten()
    survivors, starts = data.subset(alive), first.x_adv[alive]
    n = len(data)
    print(f"{args.model} {args.dataset} eps {args.eps}: {n} examples, APGD-CE leaves {len(alive)} ({100 * first.robust_acc:.2f}%)")
    candidates = {"apgd-dlr": (dataclasses.replace(cfg, attack="apgd-dlr"), None),
                  "apgd-t 3x20 random": (dataclasses.replace(cfg, attack="apgd-t"), None)}
    for k, steps in ((1, 19), (2, 9), (3, 5), (4, 4)):
        continued = continued_from(lambda: starts, survivors.example_ids, apgd_targeted, n_targets=k,
                                   ticks=lambda steps, eot, k=k: k * apgd_ticks(steps, eot))
        candidates[f"continued {k}x{steps}"] = (dataclasses.replace(cfg, attack="apgd-t", steps=steps), continued)
    candidates["random 2x9"] = (dataclasses.replace(cfg, attack="apgd-t", steps=9),
                                AttackSpec(partial(apgd_targeted, n_targets=2), ticks=lambda steps, eot: 2 * apgd_ticks(steps, eot)))
    print("| member | broken | backward / survivor | backward / example |\n|---|---|---|---|")
    for name, (member_cfg, spec) in candidates.items():
        with counting_passes(model) as passes:
            result = evaluate(model, survivors, member_cfg, spec=spec, quiet=True)
        broken = int((result.robust_per_example < 0.5).sum())
        per_survivor = passes.backward / max(len(alive), 1)
        print(f"| {name} | {broken} | {per_survivor:.1f} | {passes.backward / n:.2f} |", flush=True)


if __name__ == "__main__":
    main()
