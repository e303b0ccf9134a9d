"""Where a number came from: project version, git commit, date."""

from __future__ import annotations

import datetime as _dt
import subprocess
from pathlib import Path

from . import __version__

#: The repository root (holds zoo/ and leaderboards/ in a source checkout).
ROOT = Path(__file__).resolve().parent.parent


#: What determines a number: the code, the weights and the pinned stack. Edits
#: elsewhere (README, the leaderboard CSVs a run is itself writing) do not
#: make a result "dirty".
RESULT_PATHS = ("robustbench_snn", "attacks", "defenses", "zoo", "pyproject.toml", "requirements")


def git_commit(root: Path = ROOT) -> str:
    """Short commit hash, with ``+dirty`` when :data:`RESULT_PATHS` differ from it; 'unknown' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *RESULT_PATHS], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def today() -> str:
    return _dt.date.today().isoformat()


def version() -> str:
    return __version__
