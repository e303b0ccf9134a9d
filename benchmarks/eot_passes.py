"""EOT copies stacked per forward pass: time of one EOT-10 input gradient of the
zoo rsc-snn on 250 images, for 1, 2, 5 and 10 copies per pass, as a ratio to
1 copy per pass measured in the same run. Chooses
attacks.gradient.MAX_PASS_ELEMENTS (large passes are memory-bound on CPU).

    python benchmarks/eot_passes.py [--data-dir ../shared/data/mnist]
"""

from __future__ import annotations

import argparse

import torch

from robustbench_snn.attacks.gradient import eot_gradient
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.models.zoo import load_checkpoint
from timing import best_of


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data/mnist")
    args = p.parse_args()
    torch.set_num_threads(2)
    for name, data_dir in [("digits", None), ("mnist", args.data_dir)]:
        try:
            data = load_dataset(name, "test", data_dir).head(250)
        except Exception as e:  # MNIST absent: say so, keep the digits numbers
            print(f"{name}: skipped ({e})")
            continue
        model = load_checkpoint("rsc-snn", name)[0].eval()
        base = None
        for copies in (1, 2, 5, 10):
            t = best_of(lambda: eot_gradient(model, data.x, data.y, 10, copies * data.x.numel()))
            base = base or t
            print(f"{name}: {copies:>2} EOT copies per pass: time x{t / base:.2f}")


if __name__ == "__main__":
    main()
