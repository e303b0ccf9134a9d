"""Two stored sweep shards of the same examples, compared example by example.

Made for the compiled-versus-eager check of the speed issue: run one evaluation as
``rbsnn sweep`` with ``--compile auto`` and once with ``--compile off`` (same
commit, same examples); per-example random streams give both runs the same draws,
so every per-example score (clean, robust, each member's) should be equal, and
the seconds per member say what compiling saved.

    python benchmarks/compare_shards.py A.safetensors B.safetensors

Prints, for each stored score, both accuracies and how many examples differ, then
both runs' seconds per member and their flags.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robustbench_snn.runners.sweep import ShardResult


def compare(a: ShardResult, b: ShardResult) -> list[str]:
    """One line per score both shards hold: accuracies and the examples that differ."""
    if (a.meta["start"], a.meta["stop"]) != (b.meta["start"], b.meta["stop"]):
        raise ValueError(f"the shards hold other examples: {a.meta['start']}-{a.meta['stop']} and {b.meta['start']}-{b.meta['stop']}")
    lines = []
    for key in sorted(a.tensors.keys() & b.tensors.keys()):
        x, y = a.tensors[key].double(), b.tensors[key].double()
        lines.append(f"{key:26s} {100 * x.mean():6.2f} {100 * y.mean():6.2f}  differing examples {int((x != y).sum()):4d}"
                     f"  max |diff| {float((x - y).abs().max()):.3f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    args = parser.parse_args()
    shards = []
    for path in (args.a, args.b):
        try:
            shards.append(ShardResult.load(path))
        except Exception as error:  # missing, truncated or foreign file: one line, exit 2
            parser.error(f"cannot read shard {str(path)!r}: {error}")
    a, b = shards
    print("score                          A      B")
    try:
        lines = compare(a, b)
    except ValueError as error:
        parser.error(str(error))
    print("\n".join(lines))
    for name, shard in (("A", a), ("B", b)):
        seconds = ", ".join(f"{k} {v:,.0f}" for k, v in shard.meta["member_seconds"].items())
        print(f"{name}: {shard.meta['seconds']:,.0f} s ({seconds}); flags {shard.meta['flags'] or 'none'}")


if __name__ == "__main__":
    main()
