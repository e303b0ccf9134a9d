"""The leaderboards' plots: certified accuracy against radius (PNG, per certified
board) and robust accuracy against eps (SVG, per robust board). Each returns
bytes that depend only on the CSVs (no dates, fixed SVG ids), so ``rbsnn report
--check`` can compare them with the committed files."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from ..core.atomic import atomic_write_bytes
from .leaderboard import at_own_t, best_known
from .sources import Sources

matplotlib.use("Agg")  # files only, no display


def certified_curve(per_example: pd.DataFrame, radii) -> list[float]:
    """Certified accuracy (%) at each radius from Cohen-format records."""
    ok = per_example[per_example["correct"] == 1]["radius"]
    return [100 * float((ok >= r).sum()) / max(1, len(per_example)) for r in radii]


def certified_png(board: pd.DataFrame, per_example_dir: Path) -> bytes:
    """One panel per norm: certified accuracy vs radius, one line per leaderboard row
    whose per-example file is in ``per_example_dir``."""

    import matplotlib.pyplot as plt  # heavy: 0.5 s to import, paid only when a plot is drawn

    norms = sorted(board["norm"].unique()) if len(board) else []
    fig, axes = plt.subplots(1, max(1, len(norms)), figsize=(5.5 * max(1, len(norms)), 4), squeeze=False)
    for ax, norm_name in zip(axes[0], norms):
        rows = board[board["norm"] == norm_name]
        curves = [(row, pd.read_csv(per_example_dir / str(row["per_example"])))
                  for _, row in rows.iterrows() if (per_example_dir / str(row["per_example"])).is_file()]
        top = max((float(records["radius"].max()) for _, records in curves), default=0.0)
        scale, unit = (255.0, " (x 1/255)") if norm_name == "linf" else (1.0, "")
        grid = np.linspace(0, max(top, 1e-9) * 1.05, 200)
        for row, records in curves:
            sigma = f" sigma={row['sigma']}" if row["mechanism"] == "gaussian" else ""
            ax.plot(grid * scale, certified_curve(records, grid), label=f"{row['model']} ({row['mechanism']}{sigma})")
        ax.set_xlabel(f"{norm_name} radius{unit}")
        ax.set_ylabel("certified accuracy (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    title = f"{board['dataset'].iloc[0]}: certified accuracy vs radius" if len(board) else "no certified rows"
    fig.suptitle(title)
    return _save(fig, "png")


def plot_certified(board: pd.DataFrame, per_example_dir: Path, out: Path) -> Path:
    """:func:`certified_png`, written atomically to ``out``."""
    atomic_write_bytes(out, certified_png(board, per_example_dir))
    return out


def eps_svg(board: pd.DataFrame, title: str) -> bytes:
    """Robust accuracy against eps for every model with rows at several eps on a robust
    board: at each eps the best known robust accuracy the board holds for the model at its
    own T, over every attack at that eps or a smaller one, so no curve rises with eps
    (:func:`~robustbench_snn.results.leaderboard.best_known`)."""

    import matplotlib.pyplot as plt  # heavy: 0.5 s to import, paid only when a plot is drawn

    best = best_known(board[at_own_t(board)])
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    norm = str(board["norm"].iloc[0]) if len(board) else "linf"
    scale, unit = (255.0, " (x 1/255)") if norm == "linf" else (1.0, "")
    for model, curve in best.groupby("model"):
        if len(curve) > 1:
            curve = curve.sort_values("eps")
            ax.plot(curve["eps"] * scale, curve["robust_acc"], marker="o", label=str(model))
    ax.set_xlabel(f"{norm} eps{unit}")
    ax.set_ylabel("robust accuracy (%), best known attack")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7, ncol=2)
    else:
        ax.text(0.5, 0.5, "no model has rows at several eps", ha="center", transform=ax.transAxes)
    ax.set_title(f"{title}: robust accuracy vs eps")
    return _save(fig, "svg")


def _save(fig, fmt: str) -> bytes:
    """The figure's bytes with no date or software stamp, and fixed SVG ids."""

    import matplotlib.pyplot as plt  # heavy: 0.5 s to import, paid only when a plot is drawn

    fig.tight_layout()
    buf = io.BytesIO()
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    with matplotlib.rc_context({"svg.hashsalt": "rbsnn", "svg.fonttype": "none"}):
        fig.savefig(buf, format=fmt, dpi=100, metadata=metadata)
    plt.close(fig)
    return buf.getvalue()


def board_plots(src: Sources = Sources()) -> dict[str, tuple[str, bytes]]:
    """Board -> (file name, bytes) of its plot: robust accuracy against eps
    (``<board>_eps.svg``) or, for a certified board, certified accuracy against radius
    (``<dataset>_certified.png``). The leaderboards and the site keep the same files."""
    out: dict[str, tuple[str, bytes]] = {}
    for name in src.board_names():
        df = src.board(name)
        if name.endswith("_certified"):
            dataset = name.removesuffix("_certified")
            out[name] = (f"{dataset}_certified.png", certified_png(df[df["dataset"] == dataset], src.boards / "certified"))
        else:
            out[name] = (f"{name}_eps.svg", eps_svg(df, name))
    return out


def plot_files(src: Sources = Sources(), made: dict[str, tuple[str, bytes]] | None = None) -> dict[Path, bytes]:
    """Every plot the CSVs give, path -> bytes: ``leaderboards/plots/<board>_eps.svg`` and
    ``leaderboards/certified/<dataset>_certified.png`` (``made``: :func:`board_plots`, if already drawn)."""
    made = board_plots(src) if made is None else made
    return {src.boards / ("certified" if name.endswith("_certified") else "plots") / file: data for name, (file, data) in made.items()}
