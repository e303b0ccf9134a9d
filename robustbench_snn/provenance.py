"""Where a number came from: project version, git commit, date."""

from __future__ import annotations

import datetime as _dt
import subprocess
from pathlib import Path

from . import __version__

#: The repository root (holds zoo/ and leaderboards/ in a source checkout).
ROOT = Path(__file__).resolve().parent.parent


#: What determines a trained model: the code and the pinned stack.
CODE_PATHS = ("robustbench_snn", "attacks", "defenses", "pyproject.toml", "requirements")
#: What determines an evaluation: the code, the pinned stack and the weights.
#: Edits elsewhere (README, the leaderboard CSV a run is itself writing, or for
#: training the zoo it is about to overwrite) do not make a result "dirty".
RESULT_PATHS = (*CODE_PATHS, "zoo")


def git_commit(root: Path = ROOT, paths: tuple[str, ...] = RESULT_PATHS) -> str:
    """Short commit hash, with ``+dirty`` when ``paths`` differ from it; 'unknown' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *paths], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def today() -> str:
    return _dt.date.today().isoformat()


def version() -> str:
    return __version__
