"""Leaderboard CSVs: one row per (model, dataset, T, norm, eps, attack), upserted atomically.

A run writes the user's board, ``<home>/leaderboards/<dataset>_<norm>.csv``
(:mod:`.home`); the repository's committed ``leaderboards/`` are written only with
``publish=True`` (``--publish``, a maintainer's action). Accuracies are percentages with
two decimals.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from sys import float_info
from typing import Any

import pandas as pd
from filelock import FileLock

from ..core.atomic import FileWriteError, atomic_write_bytes, refuse_special_file
from ..core.budget import BOARD_DECIMALS, file_label, on_board, radius_of_label
from ..core.errors import UserInputError
from ..core.home import COMMITTED_BOARDS, boards_dir
from ..core.limits import MAX_T
from ..data.catalog import box_diameter, input_values

COLUMNS = [
    "model", "dataset", "defense", "encoder", "T", "neuron", "surrogate_train", "surrogate_attack", "grad",
    "attack", "norm", "eps", "steps", "alpha", "eot", "draws", "n_examples",
    "clean_acc", "robust_acc", "attacks", "flags", "params", "fwd_per_example", "bwd_per_example", "seconds",
    "source", "claimed_clean", "claimed_robust",
    "seed", "date", "version", "commit", "command",
]
#: Per-attack robust accuracies of a standard evaluation: ``acc_<attack>`` columns.
PER_ATTACK_PREFIX = "acc_"
#: A row is identified by these; writing a row with the same key replaces it.
KEY = ["model", "dataset", "T", "norm", "eps", "attack", "surrogate_attack", "grad"]
#: Values for columns that rows written by earlier versions lack.
#: ``source``: ``zoo`` (our checkpoints), ``submitted`` (``rbsnn submit``) or ``api`` (a benchmark() call).
DEFAULTS = {"grad": "bptt", "attacks": "", "flags": "", "params": "", "source": "zoo"}


#: A text cell starting with one of these is prefixed with ``'`` when a board is written, so a
#: spreadsheet opening the CSV shows it as text instead of evaluating it as a formula (OWASP,
#: "CSV Injection": ``= + - @``, tab and carriage return; a row holding a carriage return is
#: refused by :func:`upsert` anyway). ``'`` itself is in the set, so the reader's rule -- drop one
#: leading ``'`` -- restores every cell exactly.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def neutralize_cell(value: Any) -> Any:
    """``value`` as written to a board: a text cell that a spreadsheet would read as a formula
    gets a leading ``'`` (:data:`FORMULA_START`); anything else is unchanged."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def restore_cell(value: Any) -> Any:
    """The inverse of :func:`neutralize_cell` on a cell read back from a board."""
    return value[1:] if isinstance(value, str) and value.startswith("'") else value


def json_cell(value: Any) -> str:
    """``value`` as the text of one JSON cell (``params``, ``host``): keys sorted, no spaces,
    so the same value always writes the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def default_path(dataset: str, norm: str, *, publish: bool = False) -> Path:
    """The board a run on ``dataset`` under ``norm`` writes: the user's, or with ``publish``
    the repository's committed one."""
    return boards_dir(publish) / f"{dataset}_{norm}.csv"


#: What a dataset or threat model in a board's file name may be: a name, never a path.
BOARD_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]{0,63}$")


def check_board_name(dataset: str, norm: str) -> None:
    """Refuse in one line a ``--dataset`` or ``--norm`` that cannot name a board file
    (``<dataset>_<norm>.csv``): a path, an underscore, or a name too long for a file system."""
    for flag, value in (("--dataset", dataset), ("--norm", norm)):
        if not BOARD_PART.match(value):
            raise UserInputError(f"bad {flag} {value!r}; a board is named <dataset>_<norm>.csv, each a name of at most 64 "
                                 "letters, digits, '.', '+' or '-'")


def committed_path(dataset: str, norm: str) -> Path:
    """The repository's committed board of ``dataset`` under ``norm``."""
    return COMMITTED_BOARDS / f"{dataset}_{norm}.csv"


@dataclass(frozen=True)
class Schema:
    """What a leaderboard file holds: its columns, the key that identifies a row,
    defaults for columns older rows lack, and the prefixes of open-ended extra columns."""

    columns: tuple[str, ...]
    key: tuple[str, ...]
    defaults: tuple[tuple[str, str], ...] = ()
    extra_prefixes: tuple[str, ...] = ()
    text: tuple[str, ...] = ("commit", "version")  # read as strings
    float_key: str | None = None  # a float key column, rounded before comparing
    numeric: tuple[str, ...] = ()  # columns every row must hold a number in (not text, not empty)
    #: ``(column or prefix, low, high, integer)``: where a cell holds a number it must lie in
    #: [low, high] (and be whole with ``integer``); a prefix ends with ``_`` (``acc_``)
    ranges: tuple[tuple[str, float, float, bool], ...] = ()
    #: ``(lower, upper)`` pairs of columns: a row's ``lower`` may not exceed its ``upper``
    ordered: tuple[tuple[str, str], ...] = ()
    #: checks that need a whole row: ``check(df, where, fix)`` raises on the first bad row
    row_checks: tuple[Callable[[pd.DataFrame, Callable[[int], str], str], None], ...] = ()


#: What the numbers of a robust-accuracy row can be: accuracies are percentages, a budget is
#: finite and not negative, T is 0 (an ANN) to :data:`~.limits.MAX_T`, an evaluation has at
#: least one example (and at most a test split's 10^7), and no attack makes a model more
#: accurate than it is on clean inputs (a stochastic model's robust score is capped by its
#: clean score per example, ``standard.Ledger.final``).
ROBUST_RANGES = (
    ("clean_acc", 0, 100, False), ("robust_acc", 0, 100, False), (PER_ATTACK_PREFIX, 0, 100, False),
    ("eps", 0, float_info.max, False), ("T", 0, MAX_T, True), ("n_examples", 1, 10_000_000, True),
)
ROBUST = Schema(tuple(COLUMNS), tuple(KEY), tuple(DEFAULTS.items()), (PER_ATTACK_PREFIX,),
                ("commit", "version", "attacks", "flags", "grad", "params", "source"), "eps",
                ("T", "eps", "n_examples", "clean_acc", "robust_acc"), ROBUST_RANGES, (("robust_acc", "clean_acc"),))


def read(path: str | Path, schema: Schema = ROBUST) -> pd.DataFrame:
    """The leaderboard at ``path`` (an empty frame with the schema's columns if absent)."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=list(schema.columns))
    try:
        df = pd.read_csv(path, dtype={c: str for c in schema.text})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise UserInputError(f"{path} is not a readable leaderboard CSV: {e}") from None
    for col in df.columns:  # text cells as they were before neutralize_cell
        if not pd.api.types.is_numeric_dtype(df[col]):
            df[col] = df[col].map(restore_cell)
    for col, value in schema.defaults:  # columns (or cells) older rows lack get the default
        df[col] = df[col].astype(object).fillna(value) if col in df.columns else value
    missing = [c for c in dict.fromkeys([*schema.key, *schema.numeric]) if c not in df.columns]
    if missing:
        raise UserInputError(f"{path} is not a leaderboard: missing columns {', '.join(missing)}")
    for col in schema.key:  # a row without its key cannot be matched, or written back
        empty = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if empty.any():
            raise UserInputError(f"{path} row {int(empty.idxmax()) + 2}: empty {col} (a key column); fix or remove the row")
    for col in (c for c in schema.numeric if c in df.columns):
        bad = pd.to_numeric(df[col], errors="coerce").isna()  # text, or missing (pandas reads "n/a" as missing)
        if bad.any():
            i = int(bad.idxmax())
            cell = df[col].iloc[i]
            what = "is empty" if pd.isna(cell) else f"{str(cell)!r} is not a number"
            raise UserInputError(f"{path} row {i + 2}: {col} {what}; fix or remove the row")
    check_ranges(df, schema, lambda i: f"{path} row {i + 2}")
    return df


def check_ranges(df: pd.DataFrame, schema: Schema, where: Callable[[int], str], fix: str = "; fix or remove the row") -> None:
    """Refuse, naming the row (``where(position)``: a file's line, or the row not written)
    and the field, a number outside what the schema allows (:attr:`Schema.ranges`,
    :attr:`Schema.ordered`)."""
    for name, low, high, integer in schema.ranges:
        for col in [c for c in df.columns if (c.startswith(name) if name.endswith("_") else c == name)]:
            values = pd.to_numeric(df[col], errors="coerce")
            bad = values.notna() & ~(values.between(low, high) & (values.round() == values if integer else True))
            if bad.any():
                i = int(bad.idxmax())
                kind = "a whole number" if integer else "a number"
                allowed = f"a finite {kind[2:]} >= {low:g}" if high == float_info.max else f"{kind} in [{low:g}, {high:g}]"
                raise UserInputError(f"{where(i)}: {col} {float(values.iloc[i]):g} is not {allowed}{fix}")
    for check in schema.row_checks:
        check(df, where, fix)
    for lower, upper in schema.ordered:
        if lower in df.columns and upper in df.columns:
            bad = pd.to_numeric(df[lower], errors="coerce") > pd.to_numeric(df[upper], errors="coerce")
            if bad.any():
                i = int(bad.idxmax())
                raise UserInputError(f"{where(i)}: {lower} {float(df[lower].iloc[i]):g} exceeds {upper} "
                                     f"{float(df[upper].iloc[i]):g}{fix}")


def _key(df: pd.DataFrame, schema: Schema) -> pd.Series:
    parts = [
        df[c].astype(float).map(on_board).map(repr) if c == schema.float_key else df[c].astype(str)
        for c in schema.key
    ]
    return pd.concat(parts, axis=1).agg("|".join, axis=1)


def check_writable(path: Path, flag: str, schema: Schema | None = None) -> None:
    """Fail before any work unless ``path`` can be written as a file (``flag`` names it in the
    error) and, if it is already a leaderboard, can be read as one of ``schema`` (default
    :data:`ROBUST`): a broken cell found when the row is upserted would lose the work."""

    if path.is_dir():
        raise UserInputError(f"{flag} {str(path)!r} is a folder; give a CSV file path")
    refuse_special_file(path, flag)
    if path.exists() and not os.access(path, os.W_OK):
        raise UserInputError(_cannot_write(path, flag))
    _ensure_folder(path.parent, path, flag)
    if path.is_file():
        read(path, schema or ROBUST)


def per_example_name(row: dict[str, Any]) -> str:
    """The file name of a row's per-example scores (``rbsnn eval --per-example DIR``): every
    field of the row's key, so two rows never share a file, with ``/`` and ``:`` (``8/255``,
    ``atan:1``) made safe for any file system."""

    parts = [row["dataset"], row["model"], f"T{row['T']}", row["norm"], f"eps{file_label(float(row['eps']))}", row["attack"], row["surrogate_attack"], row["grad"]]
    return re.sub(r"[^A-Za-z0-9._+-]", "-", "_".join(str(p) for p in parts)) + ".csv"


def check_folder_writable(path: Path, flag: str) -> None:
    """Fail before any work unless ``path`` is, or can be made, a writable folder."""
    if path.exists() and not path.is_dir():
        raise UserInputError(f"{flag} {str(path)!r} is a file; give a folder")
    _ensure_folder(path, path, flag)


def _cannot_write(path: Path, flag: str, why: str = "no permission, or a file stands where a folder should") -> str:
    return f"{flag} {str(path)!r} cannot be written ({why})"


def _ensure_folder(folder: Path, path: Path, flag: str) -> None:
    """Make ``folder`` (the one ``path`` needs) now, before any work, after checking that its
    nearest existing ancestor is a writable folder. Made, not only checked: a folder can pass
    every permission check and still not be makeable (under ``/proc``, where ``os.access`` tells
    root yes), and finding that out when the result is written would lose the attack's work."""

    parent = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UserInputError(_cannot_write(path, flag))

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as probe:  # a full disk or no inode left: found now, not after the work
            probe.write(b"0")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        raise UserInputError(_cannot_write(path, flag, error.strerror)) from None


class SmallerRunError(UserInputError):
    """A row from fewer examples would replace one from more (pass ``force=True`` / ``--force``)."""


@contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an inter-process lock on ``path`` (``<path>.lock``, via filelock) for a
    read-modify-write, and clear temporary files a killed writer left beside it.

    Without it, concurrent ``rbsnn eval`` processes each read the table, add
    their row and rename their copy over the file: the last rename wins and the
    other rows are lost (measured: 11 of 48 rows over six trials of 8 writers).
    """

    path = Path(path)
    lock = FileLock(str(path) + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except OSError as error:  # no inode or space left for the lock file, a read-only file system
        raise FileWriteError(Path(lock.lock_file), error) from None
    try:
        # every writer of this file writes its temporary copy under this lock, so any left now is stale
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            stale.unlink(missing_ok=True)
        yield
    finally:
        lock.release()


def refuse_smaller(path: str | Path, match: dict[str, Any], surrogates: set[str], n_examples: int) -> None:
    """Before a run: raise :class:`SmallerRunError` if ``path`` holds a row with the
    ``match`` values and one of the attack ``surrogates`` evaluated on more than
    ``n_examples`` examples (the upsert checks again, exactly, under the lock)."""
    table = read(path)
    if table.empty:
        return
    hit = table["surrogate_attack"].astype(str).isin(surrogates)
    for col, value in match.items():
        hit &= (table[col].astype(float).round(BOARD_DECIMALS) == on_board(value)) if col == "eps" else (table[col].astype(str) == str(value))
    if hit.any() and int(table.loc[hit, "n_examples"].max()) > n_examples:
        previous = int(table.loc[hit, "n_examples"].max())
        raise SmallerRunError(
            f"a run on {n_examples} examples would replace the row of {previous} examples for {match.get('model')} in {path}; "
            f"pass --force to replace it, --out another CSV, or --no-save"
        )


def upsert(path: str | Path, row: dict[str, Any], schema: Schema = ROBUST, *, force: bool = True) -> pd.DataFrame:
    """Insert ``row`` or replace the row with the same key, under :func:`locked`, written
    atomically. Returns the new table. With ``force=False`` a row evaluated on fewer
    examples (``n_examples``) never replaces one evaluated on more: :class:`SmallerRunError`."""
    columns = list(schema.columns)
    unknown = {c for c in row if c not in columns and not c.startswith(schema.extra_prefixes)}
    if unknown:
        raise ValueError(f"unknown leaderboard columns: {sorted(unknown)}")
    carriage = [c for c, v in row.items() if isinstance(v, str) and "\r" in v]
    if carriage:  # pandas leaves such a cell unquoted, and every CSV reader then splits the row there
        raise UserInputError(f"not written: the row's {', '.join(carriage)} holds a carriage return")
    if schema.float_key:
        row = {**row, schema.float_key: on_board(row[schema.float_key])}
    row = {**dict(schema.defaults), **row}
    new = pd.DataFrame([row], columns=columns + [c for c in row if c not in columns])
    check_ranges(new, schema, lambda i: f"not written to {path}", fix="")
    with locked(path):
        old = read(path, schema)
        if len(old):
            same = _key(old, schema) == _key(new, schema).iloc[0]
            if not force and "n_examples" in old.columns and same.any():
                previous = int(old.loc[same, "n_examples"].max())
                if previous > int(row["n_examples"]):
                    raise SmallerRunError(
                        f"not written: this row was evaluated on {row['n_examples']} examples and would replace the row of "
                        f"{previous} examples in {path}; pass --force to replace it, or --out another CSV"
                    )
            table = pd.concat([old[~same], new], ignore_index=True)
        else:
            table = new
        extra = [c for c in table.columns if c not in columns]  # keep columns a later version added
        table = table[columns + extra].sort_values(list(schema.key), kind="stable", ignore_index=True)
        buf = io.StringIO()
        table.map(neutralize_cell).to_csv(buf, index=False)
        atomic_write_bytes(path, buf.getvalue().encode())
    return table


def radius_bound(dataset: str, norm: str) -> float | None:
    """The largest radius a certificate on ``dataset`` can mean: in Linf the input box [0, 1]^d
    has diameter 1, in L2 its diagonal sqrt(d) (None: the dataset's size depends on its files)."""
    values = input_values(dataset)
    return None if values is None else box_diameter(values, norm)


def radii_within_the_input(df: pd.DataFrame, where: Callable[[int], str], fix: str) -> None:
    """A certified row's average radius, and each radius it certifies accuracy at, lie within
    the input's diameter in the row's norm (:func:`radius_bound`): a larger one describes no
    input (a hand-edited board, or noise wider than the inputs)."""
    if "dataset" not in df.columns:
        return
    norms = df["norm"].astype(str) if "norm" in df.columns else pd.Series("l2", index=df.index)
    bounds = pd.Series([radius_bound(str(d), n) for d, n in zip(df["dataset"], norms)], index=df.index, dtype=float)
    acr = pd.to_numeric(df["acr"], errors="coerce") if "acr" in df.columns else pd.Series(float("nan"), index=df.index)
    for i in range(len(df)):
        if acr.iloc[i] > bounds.iloc[i]:  # False where either is NaN (no bound known, no radius)
            raise UserInputError(f"{where(i)}: acr {float(acr.iloc[i]):g} exceeds the {df['dataset'].iloc[i]} input's "
                                 f"{norms.iloc[i]} diameter {bounds.iloc[i]:.4g}{fix}")
    for col in (c for c in df.columns if c.startswith(CERTIFIED_PREFIX) and "@" in c):
        norm, _, label = col.removeprefix(CERTIFIED_PREFIX).partition("@")
        beyond = pd.to_numeric(df[col], errors="coerce").notna() & (norms == norm) & (radius_of_label(label) > bounds)
        if beyond.any():
            i = int(beyond.to_numpy().argmax())
            raise UserInputError(f"{where(i)}: {col} certifies a radius above the {df['dataset'].iloc[i]} input's {norm} "
                                 f"diameter {bounds.iloc[i]:.4g}{fix}")


#: The certified leaderboard ``leaderboards/<dataset>_certified.csv`` (``rbsnn certify``):
#: ``cert_<norm>@<radius>`` columns hold certified accuracy (%) at each radius; ``host`` is the
#: machine's :func:`~robustbench_snn.results.provenance.host` as JSON (empty on rows made before it was recorded).
CERTIFIED_PREFIX = "cert_"
CERTIFIED = Schema(
    (
        "model", "dataset", "defense", "encoder", "T", "mechanism", "norm", "sigma", "n0", "n", "alpha",
        "n_examples", "acr", "abstain", "crosscheck_attempts", "crosscheck_violations", "per_example",
        "seconds", "host", "seed", "date", "version", "commit", "command",
    ),
    ("model", "dataset", "mechanism", "sigma", "n0", "n", "alpha"),
    defaults=(("host", ""),),
    extra_prefixes=(CERTIFIED_PREFIX,),
    text=("commit", "version", "sigma", "host"),
    numeric=("n_examples", "acr", "abstain"),
    # certified accuracies and abstentions are percentages; the average certified radius is finite
    # and below 10^6 (certify bounds sigma by the input box's diagonal, sqrt(3 * 32 * 32) = 55.4 on
    # CIFAR-10, and a radius is sigma times a normal quantile of at most about 5.3 at n = 10^7);
    # counts are whole
    ranges=((CERTIFIED_PREFIX, 0, 100, False), ("abstain", 0, 100, False), ("acr", 0, 1e6, False), ("n_examples", 1, 10_000_000, True),
            ("n0", 1, 10_000_000, True), ("n", 1, 10_000_000, True), ("alpha", 0, 0.5, False), ("T", 0, MAX_T, True)),
    row_checks=(radii_within_the_input,),
)


def certified_path(dataset: str, *, publish: bool = False) -> Path:
    """The certified board of ``dataset`` a run writes (the user's; the committed one with ``publish``)."""
    return boards_dir(publish) / f"{dataset}_certified.csv"


SHOWN = ["board", "model", "source", "defense", "encoder", "T", "attack", "norm", "eps", "steps", "eot", "surrogate_attack", "grad", "n_examples", "clean_acc", "robust_acc", "masking"]


def format_table(df: pd.DataFrame) -> str:
    """Rows sorted by robust accuracy (best first), the columns a reader compares; a row with
    gradient-masking flags, or above the best known at a smaller eps (the site's badge), is marked
    ``FLAGGED``: its robust accuracy is not to be trusted as the model's."""
    if df.empty:
        return "(empty leaderboard)"
    shown = df.assign(masking=shown_flags(df).map(lambda f: f"FLAGGED: {f}" if f else ""))
    shown = shown.sort_values(["robust_acc", "clean_acc"], ascending=False, kind="stable")
    return shown[[c for c in SHOWN if c in shown.columns]].to_string(index=False)


def read_boards(boards: dict[str, Path]) -> pd.DataFrame:
    """The rows of several boards in one frame, each labelled in a ``board`` column with its
    key in ``boards`` (e.g. ``{"committed": ..., "yours": ...}``); files that do not exist
    are skipped, and a file named twice is read once."""
    frames, seen = [], set()
    for label, path in boards.items():
        path = Path(path)
        if path.is_file() and path.resolve() not in seen:
            seen.add(path.resolve())
            frames.append(read(path).assign(board=label))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*COLUMNS, "board"])


def at_own_t(df: pd.DataFrame) -> pd.Series:
    """Which rows ran the model at its own T (no ``--T`` in their command)."""
    return ~df["command"].astype(str).str.contains(" --T ")


#: The flag a row gets where its robust accuracy is above the best known at a smaller budget.
WEAKER_THAN_SMALLER_EPS = "weaker-than-smaller-eps"


def best_known(df: pd.DataFrame) -> pd.DataFrame:
    """The best known robust accuracy per model, T and eps -- RobustBench's "best known"
    column -- as an envelope over budgets: every eps-ball holds the smaller ones, so an attack
    that succeeded within a smaller budget succeeded within this one too, and the best known
    value at ``eps`` is the lowest robust accuracy of any row at ``eps`` or a smaller budget (it
    cannot rise with eps). Columns model, T, eps, robust_acc, attack (the row that holds it),
    found_at_eps (that row's budget) and below (the best known at the next smaller budget,
    NaN at the smallest)."""
    columns = ["model", "T", "eps", "robust_acc", "attack", "found_at_eps", "below"]
    if df.empty:
        return pd.DataFrame(columns=columns)
    lowest = df.sort_values("robust_acc", kind="stable").drop_duplicates(["model", "T", "eps"])
    out = []
    for _, group in lowest.groupby(["model", "T"], sort=False, dropna=False):
        best = None
        for _, r in group.sort_values("eps", kind="stable").iterrows():
            below = float("nan") if best is None else best["robust_acc"]
            if best is None or r["robust_acc"] < best["robust_acc"]:
                best = r
            out.append([r["model"], r["T"], r["eps"], best["robust_acc"], best["attack"], best["eps"], below])
    return pd.DataFrame(out, columns=columns)


def weaker_than_smaller_eps(df: pd.DataFrame) -> pd.Series:
    """Per row: whether its robust accuracy is above the best known at a smaller budget for
    the same model and T (:func:`best_known`'s ``below``): the row's attack is weaker than one
    already run, and its number is not the model's robustness at its eps."""
    below = best_known(df).set_index(["model", "T", "eps"])["below"]
    at = below.reindex(pd.MultiIndex.from_frame(df[["model", "T", "eps"]])).to_numpy()
    return pd.Series(df["robust_acc"].to_numpy(dtype=float) > at, index=df.index)


def shown_flags(df: pd.DataFrame) -> pd.Series:
    """Per row, the flags a reader is shown (the text board, the site): the row's own, then
    :data:`WEAKER_THAN_SMALLER_EPS` where :func:`weaker_than_smaller_eps` holds, ``;``-joined."""
    weaker = weaker_than_smaller_eps(df)
    return pd.Series([";".join([f for f in str(own).split(";") if f] + ([WEAKER_THAN_SMALLER_EPS] if w else []))
                      for own, w in zip(df["flags"].fillna(""), weaker)], index=df.index, dtype=object)
