"""Nothing machine-local in what the repository publishes: a committed row's command, a zoo or
submission card, the README, docs and site name no path that only one machine has (the team's
shared folder, a temporary folder, a home folder), so every command shown runs anywhere that has
the data under its data root ($RBSNN_DATA)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from robustbench_snn.core.home import ROOT

MACHINE_LOCAL = re.compile(r"\.\./shared\b|(?<![\w.])/(?:tmp|root|home|work|Users)/")
PUBLISHED = ("leaderboards/**/*.csv", "zoo/**/*.json", "submissions/**/*.json", "examples/**/*.json", "README.md",
             "CHANGELOG.md", "docs/**/*.md", "site/*.html", "benchmarks/README.md",
             "runs/*.md", "runs/*.sh")


def published_files() -> list[Path]:
    return sorted({p for pattern in PUBLISHED for p in ROOT.glob(pattern) if p.is_file()})


def test_the_pattern_finds_what_it_must():
    for text in ("--data-dir ../shared/data/mnist", "--out /tmp/x.csv", "/root/cache", "/home/ann/data"):
        assert MACHINE_LOCAL.search(text), text
    for text in ("--data-dir data/mnist", "$RBSNN_DATA/mnist", "robustbench_snn/core/home.py", "https://x.org/tmp/a", "~/.local/share/robustbench-snn"):
        assert not MACHINE_LOCAL.search(text), text


@pytest.mark.artifacts
def test_no_committed_file_names_a_machine_local_path():
    files = published_files()
    assert any(p.suffix == ".csv" for p in files) and any(p.name == "README.md" for p in files)
    found = [f"{p.relative_to(ROOT)}:{i}: {m.group(0)}" for p in files
             for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1) for m in [MACHINE_LOCAL.search(line)] if m]
    assert found == []
