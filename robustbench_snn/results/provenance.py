"""Where a number came from: project version, git commit, date."""

from __future__ import annotations

import datetime as _dt
import shlex
import subprocess
from importlib.metadata import version as installed_version
from pathlib import Path

import torch

from ..core.home import ROOT


#: What determines a trained model: the code and the pinned stack.
CODE_PATHS = ("robustbench_snn", "pyproject.toml", "requirements")
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


def cpu_fingerprint() -> str:
    """``capability/vendor/model`` of this CPU, e.g. ``AVX2/AuthenticAMD/AMD EPYC``.

    Which kernels oneDNN and MKL run -- hence the float rounding of a training
    run -- depends on the instruction set torch dispatches to
    (``torch.backends.cpu.get_cpu_capability()``) and, for MKL, on the vendor:
    measured here, the digits zoo retrained with its cards' commands gives
    weights differing by up to ~2e-3 both on an AVX-512/AMX Xeon and on an AVX2
    EPYC (same accuracy within 0.1 point). Bit-for-bit comparisons are only
    meaningful between runs with the same fingerprint.
    """

    vendor = model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "vendor_id" and vendor == "unknown":
                vendor = value.strip()
            elif key.strip() == "model name" and model == "unknown":
                model = value.strip()
    except OSError:  # not Linux: the capability alone
        pass
    return f"{torch.backends.cpu.get_cpu_capability()}/{vendor}/{model}"


def host() -> dict:
    """The machine a number was made on, as cards and rows record it: ``cpu``
    (:func:`cpu_fingerprint`) and torch's ``threads``. Kernels differ by CPU (AVX2 / AVX-512,
    MKL's per-vendor paths) and a reduction's order by thread count, so the same command can
    land on other float roundings elsewhere."""

    return {"cpu": cpu_fingerprint(), "threads": torch.get_num_threads()}


def same_numerics(card: dict) -> bool:
    """True when a run recorded in ``card`` (its ``torch`` and :func:`host`) used the same
    numerical stack as this process, so its weights must match bit for bit. Cards without
    ``cpu`` (written before it was recorded) never do."""

    return card.get("torch") == torch.__version__ and all(card.get(k) == v for k, v in host().items())


def today() -> str:
    return _dt.date.today().isoformat()


def version() -> str:
    """The installed project's version (pyproject.toml's, through the package metadata)."""
    return installed_version("robustbench-snn")


def command_line(subcommand: str, *flags: tuple[str, object]) -> str:
    """The canonical ``rbsnn`` command line recorded in cards and rows; flags whose value is None are left out."""

    return shlex.join(["rbsnn", subcommand] + [a for flag, value in flags if value is not None for a in (flag, str(value))])
