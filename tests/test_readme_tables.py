"""README result tables are generated from the leaderboards and zoo cards, never typed."""

import importlib.util

from robustbench_snn.provenance import ROOT


def load_tables():
    spec = importlib.util.spec_from_file_location("tables", ROOT / "leaderboards" / "tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_tables_match_the_leaderboards():
    tables = load_tables()
    text = tables.README.read_text()
    assert sorted(m["name"] for m in tables.MARKED.finditer(text)) == sorted(tables.TABLES)  # each table once
    assert tables.render(text) == text, "README.md tables differ from leaderboards/: run .venv/bin/python leaderboards/tables.py"


def test_a_changed_row_changes_the_table(monkeypatch):
    tables = load_tables()
    board = tables.board
    def edited(name):
        df = board(name)
        if name == "digits_linf":
            df.loc[(df.model == "snn-cnn") & (df.attack == "standard"), "robust_acc"] = 12.34
        return df
    monkeypatch.setattr(tables, "board", edited)
    assert "**12.34**" in tables.TABLES["digits-standard"]() and "12.34" not in tables.README.read_text()
