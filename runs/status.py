"""Where the pending long work stands: python runs/status.py [WORKDIR]

For each training state under the work folder's zoo (or, without one, under runs/state/): the
epochs finished of those planned, how far into the next, and the training seconds so far; for
each sweep row: the shards stored and the shard ledgers in progress. Reads states with
torch's weights-only loader, as `rbsnn train --resume` does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

RUNS = Path(__file__).resolve().parent


def training(zoo: Path) -> list[str]:
    lines = []
    for path in sorted(zoo.glob("*/*.train-state.pt")):
        state = torch.load(path, weights_only=True)
        done, planned = len(state["losses"]), state["config"]["epochs"]
        into = f", {state['epoch_step']:,} images into epoch {done + 1}" if "epoch_step" in state else ""
        lines.append(f"train {path.parent.name}/{path.name.removesuffix('.train-state.pt')}: {done} of {planned} epochs{into}; "
                     f"{state['seconds'] / 3600:.2f} h so far")
    return lines


def shards(store: Path) -> list[str]:
    return [f"sweep {row.name}: {len(list(row.glob('shard-*.safetensors')))} shard(s) stored, "
            f"{len(list(row.glob('shard-*.resume')))} in progress" for row in sorted(p for p in store.glob("*") if p.is_dir())]


def main(workdir: Path | None) -> None:
    base = (workdir / "rbsnn-home" / "zoo", workdir / "shards") if workdir else (RUNS / "state" / "zoo", RUNS / "state" / "shards")
    print("\n".join(training(base[0]) + shards(base[1])) or "nothing in progress")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
