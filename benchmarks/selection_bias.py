"""How much a per-example worst case over many attacks lowers a stochastic model's score by
selection alone.

The standard evaluation and ``ensemble19`` keep, per example, the lowest score any member
reached, each score the fraction of ``draws`` encoder draws that predict the label (the
same scoring draws for every member: purpose ``score`` of :mod:`robustbench_snn.core.streams`).
On a deterministic model that minimum is exact. On a Poisson-coded one the score of an
adversarial input is an estimate, and the minimum over k inputs is biased low even when the
inputs are practically the same attack: the evaluation picks whichever input these ten
particular draws happened to misclassify. So an ensemble of more members can look stronger
without breaking anything.

Measured here on one APGD-CE result (EOT 10, 20 steps): its score with the scoring draws;
the minimum over ``--copies`` null variants (the same adversarial input moved by +-1/255 per
pixel at random inside the ball: no attack) scored with the same draws; and the same
input scored with held-out draws (another purpose), which is unbiased.

    python benchmarks/selection_bias.py [--model rsc-snn] [--eps 0.1] [--n 500] [--copies 18,38]
"""

from __future__ import annotations

import argparse

import torch

from robustbench_snn.core import streams
from robustbench_snn.attacks import ATTACKS, make_ball
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.evaluation.harness import accuracy_per_example
from robustbench_snn.core.limits import positive_int
from robustbench_snn.models.zoo import load_checkpoint


def scores(model, x, y, ids, draws: int, purpose: str) -> torch.Tensor:
    """Per-example fraction of ``draws`` passes that predict ``y``, draws from ``purpose``'s streams."""
    return accuracy_per_example(model, x, y, draws, ids=ids, seed=0, purpose=purpose)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="rsc-snn")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--n", type=positive_int("--n"), default=500)
    p.add_argument("--eot", type=positive_int("--eot"), default=10)
    p.add_argument("--draws", type=positive_int("--draws"), default=10)
    p.add_argument("--copies", default="18,38", help="comma-separated numbers of null variants")
    p.add_argument("--threads", type=positive_int("--threads"), default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, "test").head(args.n)
    model = load_checkpoint(args.model, args.dataset)[0].eval()
    ball = make_ball("linf", args.eps)
    x, y, ids = data.x, data.y, data.example_ids
    with streams.per_example(0, ids, "attack"):
        x_adv = ATTACKS["apgd-ce"](model, x, y, ball, steps=20, eot=args.eot)
    first = scores(model, x_adv, y, ids, args.draws, "score")
    print(f"{args.model} {args.dataset} eps {args.eps:g}, {args.n} images, {args.draws} scoring draws, APGD-CE EOT {args.eot}")
    print(f"  one adversarial input, scoring draws:     {100 * first.mean():.2f}")
    for k in sorted(int(c) for c in args.copies.split(",")):
        worst = first.clone()
        gen = torch.Generator().manual_seed(k)
        for _ in range(k):
            variant = ball.project(x_adv + torch.randint(-1, 2, x.shape, generator=gen) / 255.0, x)
            worst = torch.minimum(worst, scores(model, variant, y, ids, args.draws, "score"))
        print(f"  min over it and {k} null variants:        {100 * worst.mean():.2f}  (selection alone: {100 * (first.mean() - worst.mean()):+.2f} points)")
    held = scores(model, x_adv, y, ids, args.draws, "held-out")
    print(f"  the same input, held-out draws:           {100 * held.mean():.2f}")


if __name__ == "__main__":
    main()
