"""README tables, plots and site are generated from the leaderboards and zoo cards (``rbsnn report``), never typed."""

import shutil
from pathlib import Path

import pytest

from robustbench_snn.cli import main
from robustbench_snn.results import report
from robustbench_snn.results.provenance import ROOT


def checkout_copy(tmp_path: Path) -> report.Sources:
    """What ``rbsnn report`` reads and writes, copied out of this checkout."""
    for folder in ("leaderboards", "zoo", "site"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.safetensors", "*.lock"))
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "benchmarks").mkdir()
    for measured in (ROOT / "benchmarks").glob("*.csv"):
        shutil.copy(measured, tmp_path / "benchmarks")
    return report.Sources(tmp_path)


@pytest.mark.artifacts
def test_committed_readme_plots_and_site_are_what_the_csvs_give(capsys):
    named = {m["name"] for doc in report.Sources().documents() for m in report.MARKED.finditer(doc.read_text())}
    assert named == set(report.TABLES)  # every table shown somewhere, and no unknown one
    assert main(["report", "--check"]) == 0, capsys.readouterr().err + "\nrun `rbsnn report`"


def test_check_fails_on_one_changed_number_and_report_repairs_it(tmp_path, capsys):
    src = checkout_copy(tmp_path)
    text = src.readme.read_text()
    table = text[text.index("<!-- table:digits-standard -->"):]
    number = table.split("**")[1]  # the first bold robust accuracy of the table
    changed = float(number) - 1.0
    src.readme.write_text(text.replace(f"**{number}**", f"**{changed:.2f}**", 1))
    assert main(["report", "--check", "--root", str(tmp_path)]) == 1
    assert "README.md" in capsys.readouterr().err
    assert main(["report", "--root", str(tmp_path)]) == 0
    assert src.readme.read_text() == text


def test_a_changed_row_changes_table_plot_and_site(tmp_path):
    src = checkout_copy(tmp_path)
    board = src.boards / "digits_linf.csv"
    lines = board.read_text().splitlines(keepends=True)
    header = lines[0].split(",")
    model, attack, robust = header.index("model"), header.index("attack"), header.index("robust_acc")
    for i, line in enumerate(lines):
        cells = line.split(",")
        if cells[model] == "snn-cnn" and cells[attack] == "standard" and abs(float(cells[header.index("eps")]) - 8 / 255) < 1e-5:
            cells[robust] = "12.34"
            lines[i] = ",".join(cells)
    board.write_text("".join(lines))
    assert "**12.34**" in report.TABLES["digits-standard"](src)
    stale = {p.relative_to(tmp_path).as_posix() for p in report.stale(src)}
    assert {"README.md", "leaderboards/plots/digits_linf_eps.svg", "site/digits_linf.html", "site/digits_linf_eps.svg"} <= stale
    assert not any("mnist" in p for p in stale)  # only what the row feeds


def test_plots_are_byte_reproducible():
    assert report.plot_files() == report.plot_files()


def test_report_and_site_reject_bad_paths(tmp_path, capsys):
    assert main(["report", "--root", str(tmp_path / "nowhere")]) == 2
    assert "--root" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["site", "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


@pytest.mark.parametrize("card, message", [
    ("{bad", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object, got list"),
    ('{"model": "snn-mlp", "dataset": "digits", "in_shape": [1, 8, 8], "num_classes": 10, "build_kwargs": {}}',
     "lacks defense, clean_acc, epochs, train_seconds, which the zoo table shows"),
])
def test_a_broken_zoo_card_stops_report_with_one_line(card, message, tmp_path, capsys):
    checkout_copy(tmp_path)
    (tmp_path / "zoo" / "digits" / "snn-mlp.json").write_text(card)
    readme = (tmp_path / "README.md").read_bytes()
    for argv in (["report", "--root", str(tmp_path)], ["report", "--check", "--root", str(tmp_path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("rbsnn: error: zoo card ") and err.count("\n") == 1 and message in err, err
    assert (tmp_path / "README.md").read_bytes() == readme


@pytest.mark.parametrize("content, message", [
    (b"", "is not a readable per-example CSV"),
    (b"id,label,clean\n0,7,1\n", "its robust column must hold one score in [0, 1] per example"),
    (b"id,label,clean,robust\n0,7,1,abc\n", "its robust column must hold one score in [0, 1] per example"),
    (b"id,label,clean,robust\n0,7,1,1\n", "holds 1 examples, fewer than the 500"),
], ids=["empty", "no-robust-column", "text-score", "too-short"])
def test_a_broken_per_example_file_stops_report_with_one_line(content, message, tmp_path, capsys):
    """The MNIST standard table reads the rsc-snn row's per-example file for its first 500
    images: a damaged one is named in one line, not a pandas traceback."""
    checkout_copy(tmp_path)
    (path,) = (tmp_path / "leaderboards" / "per_example").glob("mnist_rsc-snn_T8_linf_eps8-255_standard_standard_bptt.csv")
    path.write_bytes(content)
    assert main(["report", "--check", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rbsnn: error: ") and message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("table", sorted(report.TABLES))
def test_every_table_renders_markdown(table):
    lines = report.TABLES[table](report.Sources()).splitlines()
    assert lines[0].startswith("| ") and set(lines[1]) <= set("|-") and len(lines) > 2


def test_peers_compare_standard_on_the_peers_images_through_its_per_example_file(tmp_path):
    """MNIST: standard runs on 1,000 images, its peers on the first 500; the peers table reads
    standard's accuracy on those 500 from its per-example file, and says — without one."""
    import pandas as pd

    from robustbench_snn.results import leaderboard

    src = checkout_copy(tmp_path)
    board = src.boards / "mnist_linf.csv"
    rows = leaderboard.read(board)
    rows = rows[~((rows.model == "snn-cnn") & rows.attack.isin(["ensemble19", "assg"]))]  # start from no peer rows
    rows.to_csv(board, index=False)
    shutil.rmtree(src.boards / "per_example", ignore_errors=True)
    std = rows[(rows.model == "snn-cnn") & (rows.attack == "standard")].iloc[0].to_dict()
    assert std["n_examples"] == 1000
    for attack, robust in (("ensemble19", 52.0), ("assg", 45.2)):
        leaderboard.upsert(board, {**std, "attack": attack, "surrogate_attack": attack, "n_examples": 500, "robust_acc": robust})
    line = next(l for l in report.TABLES["mnist-peers"](src).splitlines() if l.startswith("| snn-cnn |"))
    assert line.split(" | ")[2:4] == ["500", "—"] and line.endswith("| — |")

    folder = src.boards / "per_example"
    folder.mkdir()
    robust = [1.0] * 220 + [0.0] * 280 + [1.0] * 500  # 44.00 on the first 500, 72.00 on all 1,000
    pd.DataFrame({"example": range(1000), "label": 0, "clean": 1.0, "robust": robust}).to_csv(
        folder / leaderboard.per_example_name(std), index=False)
    cells = next(l for l in report.TABLES["mnist-peers"](src).splitlines() if l.startswith("| snn-cnn |")).strip("| ").split(" | ")
    assert cells[2:4] == ["500", "44.00"] and cells[5] == "52.00" and cells[7] == "45.20" and cells[-1] == "-1.20"


@pytest.mark.artifacts
@pytest.mark.parametrize("board", ["digits_linf", "mnist_linf", "cifar10-jpeg_linf"])
def test_committed_standard_rows_are_at_most_half_a_point_above_their_best_peer(board):
    """The ensemble contains the published SNN attacks: on every zoo model and eps with an
    ``ensemble19`` or ``assg`` row, ``standard`` ends within ``PEER_TOLERANCE`` of the better
    one, on the same images."""
    comparisons = report.peer_comparisons(report.Sources(), board)
    assert comparisons, f"{board} has no peer rows"
    above = [(c.model, c.eps, c.robust) for c in comparisons if c.gap is not None and c.gap > report.PEER_TOLERANCE]
    assert not above, above


def test_a_standard_row_above_its_best_peer_is_measured_as_such(tmp_path):
    """The gap is standard less the better peer: a peer that found more adversarials makes it positive."""
    src = checkout_copy(tmp_path)
    board = src.boards / "cifar10-jpeg_linf.csv"
    from robustbench_snn.results import leaderboard

    rows = leaderboard.read(board)
    peer = rows[(rows.model == "snn-cnn") & (rows.attack == "assg")].iloc[0].to_dict()
    leaderboard.upsert(board, {**peer, "robust_acc": 0.0})
    std = rows[(rows.model == "snn-cnn") & (rows.attack == "standard")].iloc[0].to_dict()
    leaderboard.upsert(board, {**std, "robust_acc": 1.5})
    (c,) = [c for c in report.peer_comparisons(src, "cifar10-jpeg_linf") if c.model == "snn-cnn"]
    assert c.gap == pytest.approx(1.5) and c.gap > report.PEER_TOLERANCE


def test_the_transfer_column_is_the_selection_score_not_the_held_out_one():
    """On a stochastic model a standard row's ``robust_acc`` scores the kept inputs with held-out
    draws; the cumulative ``+transfer`` column is the members' selection score after the last
    transfer, a row without transfer columns shows its robust accuracy, and one whose transfers
    were skipped none."""
    import pandas as pd

    row = pd.Series({"robust_acc": 85.87, "acc_transfer-ann": 84.24, "acc_transfer-snn": 84.21})
    assert report.after_transfers(row) == 84.21
    assert report.after_transfers(row.drop("acc_transfer-snn")) == 84.24
    assert report.after_transfers(pd.Series({"robust_acc": 95.22, "acc_transfer-snn": float("nan")})) == 95.22
    skipped = '{"transfer": {"skipped": "no spike in the model"}}'  # a row whose transfers did not run shows none
    assert report.after_transfers(pd.Series({"robust_acc": 32.4, "params": skipped})) is None


def test_hostile_cells_are_inert_in_the_readme_and_the_csv(tmp_path, capsys):
    """A board row whose text cells carry HTML, a table-splitting ``|`` and a spreadsheet
    formula: `rbsnn report` writes a README whose rendered tables (GitHub's CommonMark with
    tables, by markdown-it-py) hold no injected element and keep their columns, and the CSV
    keeps the formula as text."""
    from markdown_it import MarkdownIt

    from robustbench_snn.results.leaderboard import read, upsert

    src = checkout_copy(tmp_path)
    board = src.boards / "digits_linf.csv"
    rows = read(board)
    hostile = rows[(rows.model == "snn-cnn") & (rows.attack == "standard") & ((rows.eps - 8 / 255).abs() < 1e-5)].iloc[0].to_dict()
    hostile.update(model="<script>alert(1)</script>", defense="<img src=x onerror=alert(2)>", flags="a|b|c",
                   encoder='=HYPERLINK("http://evil","x")')
    upsert(board, {k: v for k, v in hostile.items() if not (isinstance(v, float) and v != v)})
    assert main(["report", "--root", str(tmp_path)]) == 0, capsys.readouterr().err
    text = src.readme.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # the row is in a table, as text
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    html = [t.content for t in tokens if t.type in ("html_block", "html_inline")]
    html += [c.content for t in tokens if t.children for c in t.children if c.type == "html_inline"]
    assert not [h for h in html if "<script" in h or "<img" in h], html
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    assert "<script" not in rendered and "<img src=x" not in rendered
    for table in text.split("<!-- table:")[1:]:  # every generated table keeps its header's column count
        lines = [line for line in table.split("<!-- /table -->")[0].splitlines() if line.startswith("|")]
        widths = {line.replace("\\|", "").count("|") for line in lines}
        assert len(widths) <= 1, (table[:40], widths)
    with open(board, newline="") as f:
        assert "'=HYPERLINK(" in f.read()
    assert read(board).encoder.eq('=HYPERLINK("http://evil","x")').sum() == 1


def test_natural_images_table_shows_each_card_its_rows_and_what_is_missing(tmp_path):
    """Every cifar10-jpeg card gets a line; a model without a row shows a dash, a fine-tuned
    model names its start (its time excludes the start's), and a row changes its cell."""
    import json

    import pandas as pd

    src = checkout_copy(tmp_path)
    cards = {p.stem: json.loads(p.read_text()) for p in (src.root / "zoo" / "cifar10-jpeg").glob("*.json")}
    table = report.natural_images(src)
    lines = {line.split("|")[1].strip(" `"): line for line in table.splitlines()[2:]}
    assert set(lines) == set(cards)
    for name, card in cards.items():
        start = (card.get("init_from") or "").partition("@")[0]
        assert (f"{card['epochs']} from `{start}`," if start else f"| {card['epochs']}, ") in lines[name]
    fine_tuned = next(n for n, c in cards.items() if c.get("init_from"))
    board = src.boards / "cifar10-jpeg_linf.csv"
    df = pd.read_csv(board)
    df = df[~((df.model == "snn-cnn") & (df.attack == "assg"))]  # a row not measured: a dash, not a number
    df.loc[(df.model == fine_tuned) & (df.attack == "pgd"), "robust_acc"] = 12.3
    df.to_csv(board, index=False)
    lines = {line.split("|")[1].strip(" `"): line for line in report.natural_images(src).splitlines()[2:]}
    assert lines["snn-cnn"].rstrip().endswith("| — |") and "12.30 (1,000)" in lines[fine_tuned]


def test_the_zoo_table_lists_every_digits_or_mnist_card_once():
    """A model with a card on only one of the two data sets (plif-net takes 28x28 and up) has its
    line, a dash where it has no card."""
    src = report.Sources()
    digits, mnist = src.zoo_cards("digits"), src.zoo_cards("mnist")
    lines = {line.split("|")[1].strip(" `"): [c.strip() for c in line.split("|")[3:7]] for line in report.zoo_table(src).splitlines()[2:]}
    assert set(lines) == digits.keys() | mnist.keys() and mnist.keys() - digits.keys()
    for m, (d_clean, d_time, m_clean, _) in lines.items():
        assert (d_clean == "—") == (m not in digits) and (d_time == "—") == (m not in digits)
        assert m_clean == (f"{mnist[m]['clean_acc']:.2f}" if m in mnist else "—")
