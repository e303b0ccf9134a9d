"""Which examples each of ``standard``, ``ensemble19`` and ``assg`` breaks that the others
leave standing, and what each cost (measured before making ``standard``
stronger).

    .venv/bin/python benchmarks/peer_breaks.py --models snn-cnn at-snn --eps 8/255 0.1

For each zoo model and eps the three attacks run through ``benchmark()`` on the same
examples (nothing is written to a leaderboard); a table row gives each attack's robust
accuracy, its backward passes per example (counted) and the examples only it breaks.
An example counts as broken where its robust score is below 0.5 (for a stochastic model,
most encoder draws misclassify it). ``--out`` appends the table to a file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from robustbench_snn import benchmark
from robustbench_snn.core.budget import Eps
from robustbench_snn.core.limits import positive_int
from robustbench_snn.models.zoo import load_checkpoint

PEERS = ("standard", "ensemble19", "assg")


def only_breaks(broken: dict[str, torch.Tensor]) -> dict[str, int]:
    """Per attack, the examples it breaks and no other attack does."""
    return {a: int((b & ~torch.stack([o for k, o in broken.items() if k != a]).any(0)).sum()) for a, b in broken.items()}


def compare(model_name: str, dataset: str, eps: float, n: int | None, data_dir: str | None) -> list[str]:
    results = {}
    for attack in PEERS:
        model = load_checkpoint(model_name, dataset)[0]
        results[attack] = benchmark(model, dataset=dataset, eps=eps, attack=attack, n_examples=n, data_dir=data_dir,
                                    name=model_name, progress=False)
    broken = {a: r.robust_per_example < 0.5 for a, r in results.items()}
    only = only_breaks(broken)
    cells = []
    for attack, r in results.items():
        cells += [f"{r.robust_acc:.2f}", f"{r.passes['backward']:,.0f}", str(only[attack])]
    n_used = len(next(iter(results.values())).robust_per_example)
    return [model_name, f"{eps:.4g}", str(n_used), *cells]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["snn-cnn"])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--eps", nargs="+", default=["8/255"])
    p.add_argument("--n-examples", type=positive_int("--n-examples"), default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    header = ["model", "eps", "n"] + [f"{a} {what}" for a in PEERS for what in ("robust", "backward/ex.", "only it breaks")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    print("\n".join(lines), flush=True)
    for name in args.models:
        for eps in args.eps:
            row = "| " + " | ".join(compare(name, args.dataset, Eps.parse(eps, "linf").value, args.n_examples, args.data_dir)) + " |"
            print(row, flush=True)
            lines.append(row)
    if args.out:
        with args.out.open("a") as f:
            f.write(f"\n{args.dataset}, torch threads {torch.get_num_threads()}\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
