"""The README is short and points into docs/, and every link between the documents resolves."""

from __future__ import annotations

import re
from pathlib import Path

from robustbench_snn.core.home import ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_the_readme_is_at_most_15_kb():
    assert (ROOT / "README.md").stat().st_size <= 15 * 1024


def test_every_relative_link_resolves():
    links = [(doc, target) for doc in documents() for target in LINK.findall(doc.read_text()) if "://" not in target]
    assert len(links) >= 10  # the README's table of contents at least
    assert [f"{doc.relative_to(ROOT)} -> {target}" for doc, target in links if not (doc.parent / target).exists()] == []


def test_the_readme_links_every_document():
    linked = {(ROOT / target).resolve() for target in LINK.findall((ROOT / "README.md").read_text()) if "://" not in target}
    docs = {p.resolve() for p in (ROOT / "docs").glob("*.md")}
    assert docs - linked == set()


def test_user_docs_carry_no_issue_numbers():
    """Work history goes to git and CHANGELOG.md; the README and the docs describe what is."""
    pattern = re.compile(r"\b[Ii]ssue \d+")
    found = [f"{doc.relative_to(ROOT)}:{i}" for doc in documents() if doc.name != "CHANGELOG.md"
             for i, line in enumerate(doc.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []
