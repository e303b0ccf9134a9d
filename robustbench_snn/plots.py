"""Certified-accuracy curves (PNG) for the models on a certified leaderboard."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd

from .atomic import atomic_write_bytes

matplotlib.use("Agg")  # files only, no display


def certified_curve(per_example: pd.DataFrame, radii) -> list[float]:
    """Certified accuracy (%) at each radius from Cohen-format records."""
    ok = per_example[per_example["correct"] == 1]["radius"]
    return [100 * float((ok >= r).sum()) / max(1, len(per_example)) for r in radii]


def plot_certified(board: pd.DataFrame, per_example_dir: Path, out: Path) -> Path:
    """One panel per norm: certified accuracy vs radius, one line per leaderboard row
    whose per-example file is in ``per_example_dir``; written atomically to ``out``."""
    import io

    import matplotlib.pyplot as plt
    import numpy as np

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
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())
    return out
