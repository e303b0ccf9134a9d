import re
import subprocess
import sys
from pathlib import Path

import robustbench_snn.attacks
import robustbench_snn.defenses
from robustbench_snn.provenance import ROOT


def test_attacks_and_defenses_live_under_the_package():
    assert robustbench_snn.attacks.__name__ == "robustbench_snn.attacks"
    assert Path(robustbench_snn.attacks.__file__).parent == ROOT / "attacks"
    assert Path(robustbench_snn.defenses.__file__).parent == ROOT / "defenses"


def test_no_bare_top_level_attacks_or_defenses(tmp_path):
    code = "import importlib.util as u; print(u.find_spec('attacks'), u.find_spec('defenses'), u.find_spec('robustbench_snn.attacks') is not None)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["None", "None", "True"]


def test_no_source_imports_bare_attacks_or_defenses():
    pattern = re.compile(r"^\s*(from|import)\s+(attacks|defenses)\b", re.M)
    sources = [p for d in ("robustbench_snn", "attacks", "defenses", "tests", "benchmarks") for p in (ROOT / d).rglob("*.py")]
    assert sources
    assert [str(p) for p in sources if pattern.search(p.read_text())] == []
