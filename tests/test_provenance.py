import shutil
import subprocess

import pytest

from robustbench_snn.results.provenance import CODE_PATHS, git_commit


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_dirty_only_when_result_determining_files_change(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    for f in ("README.md", "robustbench_snn/attacks/pgd.py", "leaderboards/x.csv", "zoo/digits/m.json"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("v1\n")
    git("add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init")
    clean = git_commit(tmp_path)
    assert len(clean) == 12 and "+dirty" not in clean
    (tmp_path / "README.md").write_text("v2\n")
    (tmp_path / "leaderboards/x.csv").write_text("v2\n")
    assert git_commit(tmp_path) == clean
    (tmp_path / "zoo/digits/m.json").unlink()  # weights: dirty for an evaluation, not for training
    assert git_commit(tmp_path) == clean + "+dirty"
    assert git_commit(tmp_path, CODE_PATHS) == clean
    (tmp_path / "robustbench_snn/attacks/pgd.py").write_text("v2\n")
    assert git_commit(tmp_path) == clean + "+dirty"


def test_outside_git_is_unknown(tmp_path):
    assert git_commit(tmp_path) == "unknown"
