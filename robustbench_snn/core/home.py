"""Where a user's own results go: a data folder outside the checkout.

A user's ``rbsnn train``, ``eval``, ``certify``, ``submit``, ``sweep`` and ``site`` write
here by default, so a run never changes the repository's tracked files. The repository's
own zoo (``zoo/``), boards (``leaderboards/``), archive (``submissions/``) and ``site/`` are
written only when a maintainer asks for it with ``--publish``.

The folder is ``$RBSNN_HOME`` if set, else ``$XDG_DATA_HOME/robustbench-snn``, else
``~/.local/share/robustbench-snn`` (the XDG base-directory convention for user data)::

    <home>/zoo/<dataset>/<model>.safetensors     your checkpoints (read before the repository's zoo/)
    <home>/leaderboards/<dataset>_<norm>.csv     your rows (rbsnn leaderboard shows them beside ours)
    <home>/leaderboards/certified/               per-example certificates and plots
    <home>/submissions/<dataset>/<name>/         the submissions you evaluated
    <home>/site/                                 rbsnn site's default output
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository root: the checkout that holds zoo/, leaderboards/, submissions/ and site/.
ROOT = Path(__file__).resolve().parents[2]
#: The repository's committed boards, archive and site (written only with ``--publish``).
COMMITTED_BOARDS = ROOT / "leaderboards"
COMMITTED_SUBMISSIONS = ROOT / "submissions"
COMMITTED_SITE = ROOT / "site"


def user_home() -> Path:
    """``$RBSNN_HOME``, else ``$XDG_DATA_HOME/robustbench-snn``, else ``~/.local/share/robustbench-snn``."""
    if os.environ.get("RBSNN_HOME"):
        return Path(os.environ["RBSNN_HOME"])
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "robustbench-snn"


def boards_dir(publish: bool = False) -> Path:
    """The folder of the boards a run writes: the repository's with ``publish``, else the user's."""
    return COMMITTED_BOARDS if publish else user_home() / "leaderboards"


def submissions_dir(publish: bool = False) -> Path:
    """Where ``rbsnn submit`` keeps the submissions it evaluated."""
    return COMMITTED_SUBMISSIONS if publish else user_home() / "submissions"


def site_dir(publish: bool = False) -> Path:
    """Where ``rbsnn site`` writes by default."""
    return COMMITTED_SITE if publish else user_home() / "site"
