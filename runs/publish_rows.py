"""Promote rows from a maintainer's own board into the repository's committed board.

    python runs/publish_rows.py BOARD.csv MODEL:ATTACK [MODEL:ATTACK ...]

A long row is made by ``rbsnn sweep`` without ``--publish`` (it lands on the board under
``$RBSNN_HOME``), often at an older commit than the checkout's; this copies each named row,
cell for cell, into ``leaderboards/<same file name>`` of this checkout through the board's own
range-checked, locked upsert. The row keeps the commit it was made at.
"""

from __future__ import annotations

import sys
from pathlib import Path

from robustbench_snn.results.leaderboard import read, upsert

COMMITTED = Path(__file__).resolve().parent.parent / "leaderboards"


def main(board: str, picks: list[str], committed: Path = COMMITTED) -> None:
    rows = read(board)
    target = committed / Path(board).name
    for pick in picks:
        model, _, attack = pick.partition(":")
        chosen = rows[(rows["model"] == model) & (rows["attack"] == attack)]
        if chosen.empty:
            sys.exit(f"publish_rows: no {pick} row in {board}")
        for _, row in chosen.iterrows():
            upsert(target, {k: v for k, v in row.items() if v == v})  # read() restored the cells; NaN: absent
            print(f"{target.name}: {model} {attack} eps={row['eps']} robust={row['robust_acc']}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
