"""What importing costs: each late import (tests/test_import_graph.py's LATE_IMPORTS) in a fresh
interpreter that has already imported torch, numpy, scipy and pandas, beside ``import torch``
and the whole CLI module, best of 3 fresh processes each.

    .venv/bin/python benchmarks/import_cost.py

The late imports stay inside the functions that need them because each costs about as much
as torch itself and serves one path (compiling, a cross-check attack, digits, a plot)."""

from __future__ import annotations

import subprocess
import sys

BASE = "import torch, numpy, scipy, pandas"
CASES = {
    "torch": ("", "import torch"),
    "robustbench_snn.cli (every module but the late ones)": ("", "import robustbench_snn.cli"),
    "torch._inductor.compile_fx": (BASE, "import torch._inductor.compile_fx"),
    "torchattacks": (BASE, "import torchattacks"),
    "foolbox": (BASE, "import foolbox"),
    "sklearn (datasets, model_selection)": (BASE, "import sklearn.datasets, sklearn.model_selection"),
    "matplotlib.pyplot": (BASE, "import matplotlib.pyplot"),
}


def seconds(setup: str, statement: str) -> float:
    code = f"{setup}\nimport time\nt = time.perf_counter()\n{statement}\nprint(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    print("| import | seconds (best of 3) |\n|---|---:|")
    for name, (setup, statement) in CASES.items():
        print(f"| {name} | {min(seconds(setup, statement) for _ in range(3)):.2f} |")


if __name__ == "__main__":
    main()
