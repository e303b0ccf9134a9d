"""How close the memory checks' estimates come to what a pass really takes: for
certification passes of B noise draws, the live-tensor peak of one draw
(robustbench_snn.evaluation.memory.live_bytes_per_input) x B against the growth of the process's
peak resident memory in one eager pass of B draws; for attack passes of B examples, the
bytes autograd saves for one input (saved_bytes_per_input) x B against the growth in one
input gradient. Each measurement runs in a process of its own (peak resident memory only
grows), with rbsnn's allocator setting. Chooses memory.INFERENCE_OVERHEAD.

    python benchmarks/memory_estimate.py [--data-dir ../shared/data/mnist]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

#: (dataset, model, what, batch): certification passes of the Gaussian mechanism, and of
#: the Poisson encoder's own noise; attack passes (one copy, as the white-box members run)
CASES = [
    ("mnist", "smooth-snn-s0.25", "certify", 1000), ("mnist", "smooth-snn-s0.25", "certify", 4000),
    ("mnist", "rsc-snn", "certify", 1000), ("mnist", "rsc-snn", "certify", 4000),
    ("mnist", "snn-cnn", "certify", 4000), ("mnist", "qcfs-snn", "certify", 1000),
    ("digits", "smooth-snn-s0.25", "certify", 20000), ("digits", "rsc-snn", "certify", 20000),
    ("mnist", "snn-cnn", "attack", 500), ("mnist", "rsc-snn", "attack", 250),
]

_ONE = """
import json, resource, sys
import torch
from robustbench_snn.evaluation.allocator import keep_freed_memory
from robustbench_snn import streams
from robustbench_snn.evaluation.certify import EncoderNoise, GaussianNoise
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.evaluation.memory import live_bytes_per_input, saved_bytes_per_input
from robustbench_snn.models.zoo import load_checkpoint

keep_freed_memory()
torch.set_num_threads(2)
dataset, name, what, batch, data_dir = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
model = load_checkpoint(name, dataset)[0].eval()
x = load_dataset(dataset, "test", data_dir if dataset == "mnist" else None).x[:1]
mechanism = EncoderNoise(model.encoder.T, model.encoder.rate) if name == "rsc-snn" else GaussianNoise(0.25)
with streams.using(streams.ExampleStreams([0])):
    if what == "certify":
        per = live_bytes_per_input(lambda v: mechanism.noisy_logits(model, v), x)
    else:
        per = saved_bytes_per_input(model, x)
xs = x.expand(batch, *x.shape[1:]).contiguous()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
with streams.using(streams.ExampleStreams([0])):
    if what == "certify":
        with torch.no_grad():
            mechanism.noisy_logits(model, xs)
    else:
        xs.requires_grad_(True)
        torch.nn.functional.cross_entropy(model(xs), torch.zeros(batch, dtype=torch.long)).backward()
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(json.dumps({"estimate": per * batch, "grown": grown}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data/mnist")
    args = p.parse_args()
    print("| dataset | model | pass | inputs | estimate MiB | resident growth MiB | growth / estimate |")
    print("|---|---|---|---|---|---|---|")
    for dataset, name, what, batch in CASES:
        run = subprocess.run([sys.executable, "-c", _ONE, dataset, name, what, str(batch), args.data_dir],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"| {dataset} | {name} | {what} | {batch} | skipped: {run.stderr.strip().splitlines()[-1]} | | |")
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"| {dataset} | {name} | {what} | {batch} | {r['estimate'] / 2**20:.0f} | {r['grown'] / 2**20:.0f} "
              f"| {r['grown'] / r['estimate']:.2f} |")


if __name__ == "__main__":
    main()
