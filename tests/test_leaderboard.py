import os
import re

import pandas as pd
import pytest

from robustbench_snn.core import atomic
from robustbench_snn.core.home import ROOT
from robustbench_snn.results.leaderboard import COLUMNS, format_table, read, upsert


def row(**kw):
    base = {c: "x" for c in COLUMNS}
    base.update(model="snn-cnn", dataset="digits", T=4, norm="linf", eps=8 / 255, attack="pgd", n_examples=500, clean_acc=98.4, robust_acc=93.6)
    base.update(kw)
    return base


def test_upsert_replaces_same_key_and_appends_new(tmp_path):
    path = tmp_path / "lb.csv"
    upsert(path, row())
    upsert(path, row(robust_acc=90.0))
    df = read(path)
    assert len(df) == 1 and df.loc[0, "robust_acc"] == 90.0
    upsert(path, row(eps=16 / 255))
    upsert(path, row(model="ann-cnn"))
    upsert(path, row(attack="fgsm"))
    assert len(read(path)) == 4
    assert list(read(path).columns) == COLUMNS


def test_eps_key_is_rounded_so_recomputed_floats_match(tmp_path):
    path = tmp_path / "lb.csv"
    upsert(path, row(eps=8 / 255))
    upsert(path, row(eps=float("0.031372549")))
    assert len(read(path)) == 1


def test_write_is_atomic_old_file_survives_a_failed_write(tmp_path, monkeypatch):
    path = tmp_path / "lb.csv"
    upsert(path, row())
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(atomic.FileWriteError, match=r"could not write .*lb\.csv \(disk full\); it is unchanged"):  # one line for the CLI
        upsert(path, row(robust_acc=1.0))
    assert path.read_bytes() == before
    assert sorted(f for f in os.listdir(tmp_path) if not f.endswith(".lock")) == ["lb.csv"]  # no temporary left behind


def test_unknown_column_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown leaderboard columns"):
        upsert(tmp_path / "lb.csv", row(bogus=1))


def test_table_sorted_by_robust_accuracy(tmp_path):
    path = tmp_path / "lb.csv"
    upsert(path, row(model="a", robust_acc=10.0))
    upsert(path, row(model="b", robust_acc=50.0))
    upsert(path, row(model="c", robust_acc=30.0))
    lines = format_table(read(path)).splitlines()
    assert [ln.split()[0] for ln in lines[1:]] == ["b", "c", "a"]


def test_read_rejects_non_leaderboard(tmp_path):
    p = tmp_path / "x.csv"
    pd.DataFrame({"a": [1]}).to_csv(p, index=False)
    with pytest.raises(ValueError, match="missing columns"):
        read(p)


FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "'quoted", "''", "plain"]


@pytest.mark.parametrize("cell", FORMULAS)
def test_formula_cells_are_neutralised_on_write_and_restored_on_read(tmp_path, cell):
    """OWASP CSV injection: a cell a spreadsheet would evaluate is written with a leading
    quote, and the reader gives back exactly the text that was written (rows round-trip)."""
    import csv

    path = tmp_path / "lb.csv"
    upsert(path, row(defense=cell, encoder=cell, model=f"m{cell}"))
    with open(path, newline="") as f:
        written = next(csv.DictReader(f))
    for col in ("defense", "encoder", "model"):
        assert not written[col].startswith(("=", "+", "-", "@", "\t", "\r")), written[col]
    back = read(path).iloc[0]
    assert (back.defense, back.encoder, back.model) == (cell, cell, f"m{cell}")
    upsert(path, row(defense=cell, encoder=cell, model=f"m{cell}", robust_acc=50.0))  # read, replaced, written again
    again = read(path)
    assert len(again) == 1 and again.iloc[0].defense == cell and again.iloc[0].robust_acc == 50.0


def test_a_carriage_return_in_a_cell_is_refused_and_nothing_written(tmp_path):
    """pandas writes a CR inside a cell unquoted, which every reader takes for the end of the row."""
    from robustbench_snn.core.errors import UserInputError

    path = tmp_path / "lb.csv"
    upsert(path, row())
    before = path.read_bytes()
    with pytest.raises(UserInputError, match="the row's defense holds a carriage return"):
        upsert(path, row(defense="\rx", model="other"))
    assert path.read_bytes() == before


@pytest.mark.parametrize(("field", "value", "says"), [
    ("robust_acc", 1e308, "robust_acc 1e+308 is not a number in [0, 100]"),
    ("robust_acc", 250, "robust_acc 250"),
    ("clean_acc", -50, "clean_acc -50"),
    ("n_examples", -1, "n_examples -1 is not a whole number in [1, 1e+07]"),
    ("n_examples", 2.5, "n_examples 2.5 is not a whole number"),
    ("eps", 1e309, "eps inf is not a finite number >= 0"),
    ("eps", float("inf"), "eps inf"),
    ("eps", -0.5, "eps -0.5"),
    ("T", float("inf"), "T inf"),
    ("acc_apgd-ce", 101, "acc_apgd-ce 101"),
    ("robust_acc", 99.0, "robust_acc 99 exceeds clean_acc 98.4"),
])
def test_a_hand_edited_impossible_number_is_refused_on_reading_with_line_and_field(tmp_path, field, value, says):
    """Hand-edited rows (issue 43): every reader (leaderboard, report, site, eval's upsert) goes
    through read(), which names the file, the line and the field."""
    from robustbench_snn.core.errors import UserInputError

    path = tmp_path / "lb.csv"
    upsert(path, row(model="a", **{"acc_apgd-ce": 50.0}))
    text = path.read_text().splitlines()
    header = text[0].split(",")
    good = row(model="b", **{field: value})
    cells = ["" if c not in good else str(good[c]) for c in header]
    path.write_text("\n".join([*text, ",".join(cells)]) + "\n")
    with pytest.raises(UserInputError, match=f"lb.csv row 3: {re.escape(says)}"):
        read(path)


def test_an_impossible_row_is_never_written(tmp_path):
    """The write side of the same ranges: eval, sweep merges, submit and certify upsert through
    here, so a tampered shard's robust 500% or clean -300% never reaches a board."""
    from robustbench_snn.core.errors import UserInputError

    path = tmp_path / "lb.csv"
    upsert(path, row())
    before = path.read_bytes()
    for bad, says in (({"robust_acc": 500.0}, "robust_acc 500"), ({"clean_acc": -300.0}, "clean_acc -300"),
                      ({"robust_acc": 99.0, "clean_acc": 50.0}, "robust_acc 99 exceeds clean_acc 50")):
        with pytest.raises(UserInputError, match=f"not written to .*lb.csv: {says}"):
            upsert(path, row(model="other", **bad))
    assert path.read_bytes() == before


def test_a_board_without_its_accuracy_columns_is_refused_in_one_line(tmp_path):
    """A board file with no robust_acc column was a traceback in `rbsnn leaderboard`, and
    `eval --out` into it wrote rows it then refused to read."""
    from robustbench_snn.core.errors import UserInputError

    path = tmp_path / "lb.csv"
    upsert(path, row())
    frame = pd.read_csv(path).drop(columns=["robust_acc"])
    frame.to_csv(path, index=False)
    before = path.read_bytes()
    with pytest.raises(UserInputError, match="is not a leaderboard: missing columns robust_acc"):
        read(path)
    with pytest.raises(UserInputError, match="missing columns robust_acc"):
        upsert(path, row(model="other"))
    assert path.read_bytes() == before


def test_a_board_file_not_named_dataset_norm_stops_site_and_report_in_one_line(tmp_path):
    from robustbench_snn.core.errors import UserInputError
    from robustbench_snn.results.report import Sources

    (tmp_path / "leaderboards").mkdir()
    upsert(tmp_path / "leaderboards" / "scores.csv", row())
    with pytest.raises(UserInputError, match=r"scores.csv is not named <dataset>_<norm>.csv"):
        Sources(tmp_path).board_names()


@pytest.mark.parametrize(("board", "fields", "says"), [
    ("digits_linf", {"dataset": "mnist"}, "dataset 'mnist' on the board 'digits_linf'"),
    ("digits_linf", {"norm": "l2"}, "norm 'l2' on the board 'digits_linf'"),
])
def test_a_row_filed_under_another_boards_name_stops_site_and_report_in_one_line(tmp_path, board, fields, says):
    """The report and the site title a board by its file name: a row of another dataset or
    threat model in it would be published as what it is not."""
    from robustbench_snn.core.errors import UserInputError
    from robustbench_snn.results.report import Sources
    from robustbench_snn.results.site import site_files

    (tmp_path / "leaderboards").mkdir()
    path = tmp_path / "leaderboards" / f"{board}.csv"
    upsert(path, row())
    assert len(Sources(tmp_path).board(board)) == 1  # its own rows read
    upsert(path, row(model="misfiled", **fields))  # sorted first: line 2
    for make in (lambda: Sources(tmp_path).board(board), lambda: site_files(Sources(tmp_path))):
        with pytest.raises(UserInputError, match=f"{board}.csv row 2: {says}") as e:
            make()
        assert "\n" not in str(e.value)


@pytest.mark.parametrize(("field", "value", "says"), [
    ("acr", "5.8e307", "acr 5.8e+307 is not a number in [0, 1e+06]"),
    ("abstain", "250", "abstain 250 is not a number in [0, 100]"),
    ("cert_l2@0.25", "-3", "cert_l2@0.25 -3 is not a number in [0, 100]"),
    ("n_examples", "0", "n_examples 0 is not a whole number"),
])
def test_a_hand_edited_certified_board_is_refused_with_line_and_field(tmp_path, field, value, says):
    from robustbench_snn.core.errors import UserInputError
    from robustbench_snn.results.leaderboard import CERTIFIED
    from robustbench_snn.results.provenance import ROOT

    frame = pd.read_csv(ROOT / "leaderboards" / "digits_certified.csv", dtype=str)
    frame.loc[1, field] = value
    frame.to_csv(tmp_path / "digits_certified.csv", index=False)
    with pytest.raises(UserInputError, match=f"digits_certified.csv row 3: {re.escape(says)}"):
        read(tmp_path / "digits_certified.csv", CERTIFIED)


def test_the_text_board_marks_a_row_weaker_than_a_smaller_eps(capsys):
    """`rbsnn leaderboard` shows the site's derived flag too: on the committed MNIST board the
    two PGD-10 rows at 0.1 above their model's standard evaluation at 8/255 are FLAGGED."""
    from robustbench_snn.cli import main

    assert main(["leaderboard", "--file", str(ROOT / "leaderboards" / "mnist_linf.csv")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "weaker-than-smaller-eps" in line]
    assert sorted(line.split()[0] for line in lines) == ["rat-snn", "snn-cnn"]
    assert all("FLAGGED" in line and " 0.1" in line for line in lines)


def test_a_budget_of_minus_zero_is_the_row_at_zero(tmp_path):
    """``--eps -0`` is 0: its row replaces the eps-0 row instead of sitting beside it."""
    path = tmp_path / "lb.csv"
    upsert(path, row(eps=0.0, robust_acc=98.4))
    upsert(path, row(eps=-0.0, robust_acc=98.4, model="snn-cnn"))
    board = read(path)
    assert len(board) == 1 and repr(float(board.eps.iloc[0])) == "0.0"
