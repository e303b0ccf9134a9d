"""What per-example random streams cost, as ratios measured in one run.

    .venv/bin/python benchmarks/streams_cost.py [--dataset digits|mnist] [--data-dir DIR] [--batch 250]

For the rsc-snn architecture (Poisson encoder, T=8) on one batch: the
encoder's draw from per-example streams (:mod:`robustbench_snn.core.streams`,
one generator call per example) against one batch-shaped draw from torch's
global generator (what the harness did before), and both against one EOT-10
input gradient of the model, the unit an attack spends its time in.
"""

from __future__ import annotations

import argparse

import torch

from robustbench_snn.core import streams
from robustbench_snn.attacks.gradient import eot_gradient
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.core.limits import positive_int
from robustbench_snn.models.registry import create_model
from timing import best_of


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--batch", type=positive_int("--batch"), default=250)
    p.add_argument("--repeats", type=positive_int("--repeats"), default=5)
    args = p.parse_args()
    data = load_dataset(args.dataset, "test", args.data_dir).head(args.batch)
    model = create_model("rsc-snn", data.in_shape, data.num_classes).eval()
    x, y, ids = data.x, data.y, data.example_ids

    def per_example():
        with streams.per_example(0, ids, "bench"):
            model.encoder(x)

    def global_draw():
        model.encoder(x)

    def gradient():
        with streams.per_example(0, ids, "bench"):
            eot_gradient(model, x, y, eot=10)

    t_streams, t_global = best_of(per_example, args.repeats), best_of(global_draw, args.repeats)
    t_grad = best_of(gradient, max(1, args.repeats // 2))
    print(f"{args.dataset}, batch {len(x)}, T={model.T}, {torch.get_num_threads()} threads")
    print(f"encoder draw, per-example streams / one global draw: {t_streams / t_global:.2f}x ({t_streams * 1e3:.1f} vs {t_global * 1e3:.1f} ms)")
    print(f"ten per-example draws (one EOT-10 gradient's) / that gradient: {10 * t_streams / t_grad:.3f} ({t_grad:.2f} s per gradient)")


if __name__ == "__main__":
    main()
