"""Leaderboard CSVs: one row per (model, dataset, T, norm, eps, attack), upserted atomically.

Files live in ``leaderboards/<dataset>_<norm>.csv`` by default. Accuracies
are percentages with two decimals.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd

from .atomic import atomic_write_bytes
from .errors import UserInputError
from .provenance import ROOT

DEFAULT_DIR = ROOT / "leaderboards"

COLUMNS = [
    "model", "dataset", "defense", "encoder", "T", "neuron", "surrogate_train", "surrogate_attack",
    "attack", "norm", "eps", "steps", "alpha", "eot", "draws", "n_examples",
    "clean_acc", "robust_acc", "seed", "date", "version", "commit", "command",
]
#: A row is identified by these; writing a row with the same key replaces it.
KEY = ["model", "dataset", "T", "norm", "eps", "attack"]
EPS_DECIMALS = 6


def default_path(dataset: str, norm: str) -> Path:
    return DEFAULT_DIR / f"{dataset}_{norm}.csv"


def read(path: str | Path) -> pd.DataFrame:
    """The leaderboard at ``path`` (an empty frame with :data:`COLUMNS` if absent)."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    try:
        df = pd.read_csv(path, dtype={"commit": str, "version": str})
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise UserInputError(f"{path} is not a readable leaderboard CSV: {e}") from None
    missing = [c for c in KEY if c not in df.columns]
    if missing:
        raise UserInputError(f"{path} is not a leaderboard: missing columns {', '.join(missing)}")
    return df


def _key(df: pd.DataFrame) -> pd.Series:
    eps = df["eps"].astype(float).round(EPS_DECIMALS).map(repr)
    parts = [df[c].astype(str) for c in KEY if c != "eps"] + [eps]
    return pd.concat(parts, axis=1).agg("|".join, axis=1)


def upsert(path: str | Path, row: dict[str, Any]) -> pd.DataFrame:
    """Insert ``row`` or replace the row with the same key; write atomically. Returns the new table."""
    unknown = set(row) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown leaderboard columns: {sorted(unknown)}")
    row = {**row, "eps": round(float(row["eps"]), EPS_DECIMALS)}
    new = pd.DataFrame([row], columns=COLUMNS)
    old = read(path)
    if len(old):
        old = old[_key(old) != _key(new).iloc[0]]
        table = pd.concat([old, new], ignore_index=True)
    else:
        table = new
    extra = [c for c in table.columns if c not in COLUMNS]  # keep columns a later version added
    table = table[COLUMNS + extra].sort_values(KEY, kind="stable", ignore_index=True)
    buf = io.StringIO()
    table.to_csv(buf, index=False)
    atomic_write_bytes(path, buf.getvalue().encode())
    return table


SHOWN = ["model", "defense", "encoder", "T", "attack", "norm", "eps", "steps", "eot", "surrogate_attack", "n_examples", "clean_acc", "robust_acc"]


def format_table(df: pd.DataFrame) -> str:
    """Rows sorted by robust accuracy (best first), the columns a reader compares."""
    if df.empty:
        return "(empty leaderboard)"
    shown = df.sort_values(["robust_acc", "clean_acc"], ascending=False, kind="stable")
    return shown[[c for c in SHOWN if c in df.columns]].to_string(index=False)
