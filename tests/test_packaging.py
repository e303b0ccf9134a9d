import re
import subprocess
import sys
from pathlib import Path

import robustbench_snn.attacks
import robustbench_snn.defenses
from robustbench_snn.core.home import ROOT


def test_every_module_lives_in_the_package_folder():
    """No package-dir remapping: the import path is the file path, for readers and static tools."""
    assert Path(robustbench_snn.attacks.__file__).parent == ROOT / "robustbench_snn" / "attacks"
    assert Path(robustbench_snn.defenses.__file__).parent == ROOT / "robustbench_snn" / "defenses"
    assert "package-dir" not in (ROOT / "pyproject.toml").read_text()
    assert not (ROOT / "attacks").exists() and not (ROOT / "defenses").exists()


def test_no_bare_top_level_attacks_or_defenses(tmp_path):
    code = "import importlib.util as u; print(u.find_spec('attacks'), u.find_spec('defenses'), u.find_spec('robustbench_snn.attacks') is not None)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["None", "None", "True"]


def test_no_source_imports_bare_attacks_or_defenses():
    pattern = re.compile(r"^\s*(from|import)\s+(attacks|defenses)\b", re.M)
    sources = [p for d in ("robustbench_snn", "tests", "benchmarks") for p in (ROOT / d).rglob("*.py")]
    assert sources
    assert [str(p) for p in sources if pattern.search(p.read_text())] == []
