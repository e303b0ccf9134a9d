"""Where the published results live: a checkout's ``leaderboards/``, ``zoo/``, ``README.md``
and ``site/`` (:class:`Sources`), read as the library reads them, and how a budget is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.errors import UserInputError
from ..core.home import ROOT
from ..models.zoo import read_card
from .leaderboard import CERTIFIED, ROBUST, read

#: The budget papers report on CIFAR-10 and the boards' headline column.
EPS_8 = 8 / 255


@dataclass(frozen=True)
class Sources:
    """Where a report reads from and writes to: a checkout's ``leaderboards/``, ``zoo/``, ``README.md`` and ``site/``."""

    root: Path = ROOT

    @property
    def boards(self) -> Path:
        return self.root / "leaderboards"

    @property
    def readme(self) -> Path:
        return self.root / "README.md"

    def documents(self) -> list[Path]:
        """The Markdown files whose marked tables ``rbsnn report`` regenerates."""
        docs = sorted((self.root / "docs").rglob("*.md"))
        return [p for p in (self.readme, *docs, self.root / "benchmarks" / "README.md") if p.is_file()]

    @property
    def site(self) -> Path:
        return self.root / "site"

    def board(self, name: str) -> pd.DataFrame:
        """A leaderboard as the library reads it (columns a board predates get their defaults),
        holding only rows of the dataset and threat model its name says (:func:`filed_where_named`)."""
        df = read(self.boards / f"{name}.csv", CERTIFIED if name.endswith("_certified") else ROBUST)
        filed_where_named(df, name, self.boards / f"{name}.csv")
        return df

    def board_names(self) -> list[str]:
        """Every board file's name, each ``<dataset>_<norm>`` (or ``<dataset>_certified``);
        another CSV in the folder is refused in one line, naming it."""
        names = sorted(p.stem for p in self.boards.glob("*.csv"))
        for name in names:
            dataset, _, norm = name.rpartition("_")
            if not dataset or not norm:
                raise UserInputError(f"{self.boards / (name + '.csv')} is not named <dataset>_<norm>.csv (e.g. digits_linf.csv); "
                                     "rename or move it")
        return names

    def zoo_cards(self, dataset: str) -> dict[str, dict]:
        """The zoo's cards for ``dataset``, each read (and refused with one line) as
        loading the checkpoint would, and holding what the docs' zoo table shows."""
        cards = {}
        for p in sorted((self.root / "zoo" / dataset).glob("*.json")):
            cards[p.stem] = read_card(p.stem, dataset, self.root / "zoo", also=ZOO_TABLE_FIELDS, needed_by="the zoo table")
        return cards


#: The card fields the zoo table shows (every card ``rbsnn train`` writes has them).
ZOO_TABLE_FIELDS = ("defense", "clean_acc", "epochs", "train_seconds")


def filed_where_named(df: pd.DataFrame, name: str, path: Path) -> None:
    """Refuse, naming the row, a row of board ``name`` (``<dataset>_<norm>`` or
    ``<dataset>_certified``) made on another dataset or under another threat model: the report
    and the site title a board by its name, so such a row would be published as what it is not."""
    dataset, _, norm = name.rpartition("_")
    want = {"dataset": dataset} if norm == "certified" else {"dataset": dataset, "norm": norm}
    for col, value in want.items():
        if col not in df.columns:
            continue
        other = df[col].astype(str) != value
        if other.any():
            i = int(other.to_numpy().argmax())
            raise UserInputError(f"{path} row {i + 2}: {col} {df[col].iloc[i]!r} on the board {name!r}, which holds "
                                 f"{col} {value!r} only (the report and the site title a board by its file name); "
                                 "move the row to its own board or remove it")

