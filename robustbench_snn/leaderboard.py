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
    "model", "dataset", "defense", "encoder", "T", "neuron", "surrogate_train", "surrogate_attack", "grad",
    "attack", "norm", "eps", "steps", "alpha", "eot", "draws", "n_examples",
    "clean_acc", "robust_acc", "attacks", "flags", "seed", "date", "version", "commit", "command",
]
#: Per-attack robust accuracies of a standard evaluation: ``acc_<attack>`` columns.
PER_ATTACK_PREFIX = "acc_"
#: A row is identified by these; writing a row with the same key replaces it.
KEY = ["model", "dataset", "T", "norm", "eps", "attack", "surrogate_attack", "grad"]
#: Values for columns that rows written by earlier versions lack.
DEFAULTS = {"grad": "bptt", "attacks": "", "flags": ""}
EPS_DECIMALS = 6


def default_path(dataset: str, norm: str) -> Path:
    return DEFAULT_DIR / f"{dataset}_{norm}.csv"


def read(path: str | Path) -> pd.DataFrame:
    """The leaderboard at ``path`` (an empty frame with :data:`COLUMNS` if absent)."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    try:
        df = pd.read_csv(path, dtype={"commit": str, "version": str, "attacks": str, "flags": str, "grad": str})
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise UserInputError(f"{path} is not a readable leaderboard CSV: {e}") from None
    for col, value in DEFAULTS.items():
        if col not in df.columns:
            df[col] = value
    df[["attacks", "flags"]] = df[["attacks", "flags"]].astype(object).fillna("")
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
    unknown = {c for c in row if c not in COLUMNS and not c.startswith(PER_ATTACK_PREFIX)}
    if unknown:
        raise ValueError(f"unknown leaderboard columns: {sorted(unknown)}")
    row = {**row, "eps": round(float(row["eps"]), EPS_DECIMALS)}
    row = {**DEFAULTS, **row}
    new = pd.DataFrame([row], columns=COLUMNS + [c for c in row if c not in COLUMNS])
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


SHOWN = ["model", "defense", "encoder", "T", "attack", "norm", "eps", "steps", "eot", "surrogate_attack", "grad", "n_examples", "clean_acc", "robust_acc", "masking"]


def format_table(df: pd.DataFrame) -> str:
    """Rows sorted by robust accuracy (best first), the columns a reader compares."""
    if df.empty:
        return "(empty leaderboard)"
    shown = df.sort_values(["robust_acc", "clean_acc"], ascending=False, kind="stable").copy()
    # a row with gradient-masking flags is marked: its robust accuracy is not to be trusted
    shown["masking"] = shown["flags"].fillna("").map(lambda f: f"FLAGGED: {f}" if f else "")
    return shown[[c for c in SHOWN if c in shown.columns]].to_string(index=False)
