"""How to spend Square's query budget on a stochastic SNN: draws per query x queries.

Square sees only probabilities averaged over encoder draws (attacks.blackbox.ScoreOnly).
With model evaluations per example fixed, more draws per query mean less noisy
scores but fewer queries. Prints Square-alone robust accuracy of the zoo
rsc-snn (digits, Linf eps 0.1) for each split and its time as a ratio to the
cheapest split measured in the same run. Chooses attacks.blackbox.SQUARE_DRAWS.

    python benchmarks/square_budget.py [--n 200] [--eps 0.1]
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from robustbench_snn.attacks import ATTACKS
from robustbench_snn.attacks.blackbox import square
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.evaluation.harness import AttackConfig, evaluate
from robustbench_snn.core.limits import positive_int
from robustbench_snn.models.zoo import load_checkpoint

SPLITS = [(1, 1000), (2, 500), (4, 250), (10, 100), (10, 1000)]  # (draws per query, queries)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=positive_int("--n"), default=200)
    p.add_argument("--eps", type=float, default=0.1)
    args = p.parse_args()
    torch.set_num_threads(2)
    data = load_dataset("digits", "test").head(args.n)
    model = load_checkpoint("rsc-snn", "digits")[0].eval()
    base = None
    print(f"rsc-snn digits, Square alone, linf eps={args.eps}, n={args.n}, scored over 10 draws")
    for draws, queries in SPLITS:
        def attack(m, x, y, ball, draws=draws, queries=queries, seed=0, **_):
            return square(m, x, y, ball, eot=draws, evals=draws * queries, seed=seed)

        res = evaluate(model, data, AttackConfig("square", "linf", args.eps, eot=draws), draws=10, seed=0, quiet=True,
                       spec=dataclasses.replace(ATTACKS["square"], run=attack))
        base = base or res.seconds
        print(f"  {draws:>2} draws x {queries:>4} queries: robust {100 * res.robust_acc:6.2f}%  time x{res.seconds / base:5.2f}")


if __name__ == "__main__":
    main()
