"""Overhead of ``rbsnn sweep``'s Ray backend against the local one, measured in one run.

    .venv/bin/python benchmarks/sweep_overhead.py            # writes benchmarks/sweep_overhead.csv

Each case is one leaderboard row computed three ways on this machine: one
process (``rbsnn eval``'s path), the local backend (2 worker processes, 2
shards) and the Ray backend (a local ``ray.init(num_cpus=2)``, 2 tasks, 2
shards; Ray's start-up is timed separately and not counted). The rows must
be identical (checked); the CSV holds wall times and the Ray/local ratio,
and ``rbsnn report`` puts it in the table of docs/scaling-out.md. Run it on
an otherwise idle machine: the workers compete with anything else running.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from robustbench_snn.runners.sweep import EvalSpec, sweep  # noqa: E402

CASES = {
    "snn-cnn pgd": EvalSpec("snn-cnn", attack="pgd", steps=50),
    "rsc-snn pgd (EOT 10)": EvalSpec("rsc-snn", attack="pgd"),
}


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def row_of(report) -> dict:
    (row,) = report.rows
    return {k: v for k, v in row.items() if k not in ("seconds", "date")}


def main() -> int:
    import ray

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "sweep_overhead.csv"))
    args = parser.parse_args()
    results = []
    ray_start, _ = timed(lambda: ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False))
    try:
        for name, spec in CASES.items():
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "board.csv"

                def run(store: str, **kw):  # a fresh store each time: every shard is computed
                    return sweep([spec], store=Path(tmp) / store, out=lambda s: out, progress=False, **kw)

                one, single = timed(lambda: run("one", shards=1, workers=1))
                local_s, local = timed(lambda: run("local", shards=2, workers=2))
                ray_s, on_ray = timed(lambda: run("ray", shards=2, backend="ray"))
                assert row_of(single) == row_of(local) == row_of(on_ray), f"{name}: the rows differ"
                results.append({"case": name, "examples": single.rows[0]["n_examples"], "one process s": round(one, 1),
                                "local 2 workers s": round(local_s, 1), "ray 2 tasks s": round(ray_s, 1),
                                "ray / local": round(ray_s / local_s, 2), "ray start-up s": round(ray_start, 1),
                                "cpus": os.cpu_count()})
                print(results[-1], flush=True)
    finally:
        ray.shutdown()
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(results[0]))
        writer.writeheader()
        writer.writerows(results)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
