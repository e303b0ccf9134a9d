"""The result tables of the README and the docs, and the leaderboard plots, generated from
the CSVs and the zoo cards (``rbsnn report``), so no number in a document is typed by hand.

    rbsnn report           # rewrite the documents' tables, leaderboards/plots/ and site/
    rbsnn report --check   # exit 1, writing nothing, if any of them differs from what the CSVs give

Each table sits between ``<!-- table:NAME -->`` and ``<!-- /table -->`` in a document
(:meth:`Sources.documents`: README.md, docs/, benchmarks/README.md); everything between the
markers is replaced. A row that is re-made changes the documents the next time this runs,
and ``tests/test_report.py`` fails until it does. Everything is read from and written to a
checkout (:class:`Sources`; default: this one).
"""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.atomic import atomic_write_bytes
from ..core.budget import eps_label
from ..core.errors import UserInputError
from ..core.json_input import parse_json
from ..models.registry import get_model_entry
from .leaderboard import at_own_t, per_example_name
from .plots import board_plots, plot_files
from .site import site_files
from .sources import EPS_8, Sources

#: what each zoo model is (prose, not results)
DEFENSES = {
    "at-snn": "PGD-AT (eps 0.1)", "rat-snn": "PGD-AT + Parseval (SNN-RAT)", "gnr-snn": "l1 input-gradient norm",
    "ttfs-snn": "TTFS coding", "sr-snn": "gradient sparsity", "rsc-snn": "Poisson coding, rate 1",
    "rsc-snn-r0.5": "Poisson coding, rate 0.5", "mps-snn": "DLIF + MS-MPPD", "snn-cnn": "none", "snn-mlp": "none",
    "qcfs-snn": "QCFS conversion", "ann-cnn": "none (ReLU twin)",
    **{f"smooth-snn-s{s}": f"Gaussian noise training, sigma {s}" for s in ("0.25", "0.5", "1")},
}
#: what each zoo model is, for the zoo table (prose, not results)
WHAT = {
    "snn-cnn": "spiking CNN: 2x (conv-BN-LIF-avgpool), linear-BN-LIF(128), linear; direct coding, T=4",
    "rsc-snn": "same network with Poisson (Bernoulli) rate coding, T=8, trained through the encoder",
    "rsc-snn-r0.5": "`rsc-snn` at coding rate 0.5 (`--build rate=0.5 --name rsc-snn-r0.5`)",
    "ann-cnn": "the ANN twin of `snn-cnn` (ReLU)",
    "snn-mlp": "linear-BN-LIF(256), linear; direct coding, T=4",
    "mps-snn": "`snn-cnn` layout with DLIF neurons, T=8, MS-MPPD training",
    "sr-snn": "`snn-cnn` + gradient-sparsity regulariser",
    "gnr-snn": "`snn-cnn` + input-gradient-norm regulariser",
    "ttfs-snn": "`snn-cnn` layout, TTFS coding, IF neurons, temporal-weighted readout, T=8",
    "at-snn": "`snn-cnn` + PGD adversarial training",
    "rat-snn": "`snn-cnn` + PGD-AT + Parseval orthogonality",
    "qcfs-snn": "`ann-cnn` layout with QCFS activations (L=4), run as IF SNN, T=16",
    **{f"smooth-snn-s{s}": f"`snn-cnn` trained with Gaussian input noise at sigma {s} (for certification)" for s in ("0.25", "0.5", "1")},
}
STANDARD_MEMBERS = ("apgd-ce", "apgd-t", "worst-surrogate", "assg", "apgd-surrogates", "square")


def pct(v) -> str:
    return "—" if pd.isna(v) else f"{float(v):.2f}"


def markdown_cell(text: str) -> str:
    """``text`` safe inside one cell of a GitHub Markdown table: ``& < >`` as HTML entities (a
    board's or card's text must not become an element: GitHub renders inline HTML in tables),
    ``|`` escaped (it would end the cell) and a line break as a space (it would end the row).
    Markdown emphasis and code spans the report writes itself (``**``, backticks) stay."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub Markdown table; every cell through :func:`markdown_cell`."""
    lines = ["| " + " | ".join(map(markdown_cell, header)) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(markdown_cell, r)) + " |" for r in rows])


def default_rows(df: pd.DataFrame, attack: str, eps: float, steps: int | None = 10) -> pd.DataFrame:
    """Each zoo model's row for ``attack`` at ``eps`` at its own T (no ``--T`` in the command)."""

    sel = (df.attack == attack) & ((df.eps - eps).abs() < 1e-5) & (df.source == "zoo") & at_own_t(df)
    if steps is not None:
        sel &= df.steps == steps
    return df[sel].set_index("model")


def bold_best(values: dict[str, str]) -> dict[str, str]:
    numeric = {k: float(v) for k, v in values.items() if v != "—"}
    best = max(numeric.values()) if numeric else None
    return {k: f"**{v}**" if v != "—" and float(v) == best else v for k, v in values.items()}


def encoder_cell(r) -> str:
    if r.encoder == "none":
        return "—"
    name = {"direct": "direct", "poisson": "Poisson", "ttfs": "TTFS"}.get(str(r.encoder).split("(")[0], r.encoder)
    return f"{name}, {int(r['T'])}" + (f" (EOT {int(r.eot)})" if r.eot > 1 else "")


def digits_pgd(src: Sources) -> str:
    linf, l2 = src.board("digits_linf"), src.board("digits_l2")
    cols = {
        "PGD-10 Linf 8/255": default_rows(linf, "pgd", EPS_8), "FGSM 8/255": default_rows(linf, "fgsm", EPS_8, steps=None),
        "PGD-10 Linf 0.1": default_rows(linf, "pgd", 0.1), "PGD-10 L2 0.5": default_rows(l2, "pgd", 0.5),
    }
    base = cols["PGD-10 Linf 8/255"]
    models = sorted(base.index, key=lambda m: -cols["PGD-10 Linf 0.1"].robust_acc.get(m, -1))
    cells = {c: bold_best({m: pct(t.robust_acc.get(m)) for m in models}) for c, t in cols.items()}
    clean = bold_best({m: pct(base.clean_acc[m]) for m in models})
    rows = [[m, DEFENSES.get(m, base.defense[m]), encoder_cell(base.loc[m]), clean[m], *(cells[c][m] for c in cols)] for m in models]
    return markdown(["model", "defense", "encoder, T", "clean", *cols], rows)


def qcfs_by_T(src: Sources) -> str:
    linf = src.board("digits_linf")
    q = linf[(linf.model == "qcfs-snn") & (linf.attack == "pgd") & (linf.steps == 10)]
    rows = []
    for T in sorted(q["T"].unique()):
        at = q[q["T"] == T]
        pick = lambda eps: at[(at.eps - eps).abs() < 1e-5].iloc[0]  # noqa: E731
        rows.append([str(int(T)), pct(pick(EPS_8).clean_acc), pct(pick(EPS_8).robust_acc), pct(pick(0.1).robust_acc)])
    return markdown(["qcfs-snn T", "clean", "PGD-10 Linf 8/255", "PGD-10 Linf 0.1"], rows)


def mnist_pgd(src: Sources) -> str:
    linf = src.board("mnist_linf")
    small, large = default_rows(linf, "pgd", EPS_8), default_rows(linf, "pgd", 0.1)
    models = sorted(small.index, key=lambda m: -large.robust_acc.get(m, -1))
    rows = [[m + (f" (EOT {int(small.eot[m])})" if small.eot[m] > 1 else ""), pct(small.clean_acc[m]), pct(small.robust_acc[m]),
             pct(large.robust_acc.get(m))] for m in models]
    return markdown(["model", "clean (1,000)", "PGD-10 Linf 8/255", "PGD-10 Linf 0.1"], rows)


def after_transfers(row: pd.Series) -> float | None:
    """The cumulative selection score after the last transfer member of a standard row; a row
    without transfer columns (made before they were recorded) gives its robust accuracy, one
    whose transfers were skipped (``params["transfer"]``: no source, or a model without spikes)
    None. On a stochastic model this is not ``robust_acc``, which scores the kept inputs with
    held-out draws."""
    for member in ("transfer-snn", "transfer-ann"):
        if not pd.isna(row.get(f"acc_{member}")):
            return row[f"acc_{member}"]
    return None if "skipped" in row_params(row).get("transfer", {}) else row.robust_acc


def row_params(row: pd.Series) -> dict:
    """A row's ``params`` JSON as a dict (empty where the row has none)."""
    params = row.get("params")
    if not isinstance(params, str):
        return {}
    value = parse_json(params, f"the params cell of row {row.get('model')!r}, {row.get('attack')!r}")
    return value if isinstance(value, dict) else {}


def standard_table(src: Sources, name: str) -> str:
    linf = src.board(name)
    std = linf[(linf.attack == "standard") & ((linf.eps - EPS_8).abs() < 1e-5) & (linf.source == "zoo")].set_index("model")
    pgd = default_rows(linf, "pgd", EPS_8)
    rows = []
    for m in std.sort_values("robust_acc", ascending=False).index:
        r = std.loc[m]
        members = [pct(r.get(f"acc_{k}")) for k in STANDARD_MEMBERS]
        rows.append([m, f"{int(r.n_examples):,}", pct(r.clean_acc), pct(pgd.robust_acc.get(m)), f"**{pct(r.robust_acc)}**", *members,
                     pct(after_transfers(r)), r["flags"] or "—"])
    return markdown(["model", "images", "clean", "PGD-10 8/255", "standard 8/255", "APGD-CE", "+APGD-T", "+worst surrogate", "+ASSG",
                     "+APGD surrogates", "+Square", "+transfer", "flags"], rows)


PEERS = ("standard", "ensemble19", "assg")
#: How far ``standard`` may end above its best peer (points): the ensemble must be at least as
#: strong as the published SNN attacks it contains, up to the noise of a stochastic model's draws.
PEER_TOLERANCE = 0.5


@dataclass(frozen=True)
class PeerComparison:
    """``standard`` and its peers on one zoo model at one eps, on the images the peers ran on:
    robust accuracy (%) per attack (``standard``'s None when it ran on more images and has no
    per-example file), and each attack's row."""

    model: str
    eps: float
    images: int
    robust: dict[str, float | None]
    rows: dict[str, pd.Series]

    @property
    def gap(self) -> float | None:
        """``standard`` less its best peer (points); None when ``standard`` is missing."""
        if self.robust.get("standard") is None:
            return None
        return self.robust["standard"] - min(v for a, v in self.robust.items() if a != "standard")


def peer_comparisons(src: Sources, name: str) -> list[PeerComparison]:
    """Every zoo model and eps of board ``name`` with an ``ensemble19`` or ``assg`` row, beside
    its ``standard`` row where one exists. Where ``standard`` ran on more images (the MNIST rows:
    1,000 images, the peers the first 500), its accuracy on the peers' images is read from its
    per-example file (``leaderboards/per_example/``, ``rbsnn eval --per-example``)."""
    linf = src.board(name)
    rows_of = linf[linf.attack.isin(PEERS) & (linf.source == "zoo")].copy()
    rows_of["eps_key"] = rows_of.eps.round(5)
    comparisons = []
    for (model, eps), group in rows_of.groupby(["model", "eps_key"], sort=False):
        by = group.set_index("attack")
        found = {a: by.loc[a] for a in PEERS[1:] if a in by.index}
        if not found:
            continue
        images = int(min(r.n_examples for r in found.values()))
        robust: dict[str, float | None] = {a: float(r.robust_acc) for a, r in found.items()}
        if "standard" in by.index:
            found = {"standard": by.loc["standard"], **found}
            robust["standard"] = _accuracy_on_first(src, by.loc["standard"], images)
        comparisons.append(PeerComparison(model, float(eps), images, robust, found))
    return comparisons


def peers_table(src: Sources, name: str) -> str:
    """``standard`` beside its peers (:func:`peer_comparisons`): robust accuracy and the
    attack's backward passes per example (:func:`attack_cost`), on the images the peers ran on;
    ``—`` where ``standard`` ran on more images and has no per-example file."""
    rows = []
    for c in peer_comparisons(src, name):
        cells = []
        for attack in PEERS:
            if c.robust.get(attack) is not None:
                cells += [pct(c.robust[attack]), attack_cost(c.rows[attack])]
            else:
                cells += ["—", "—"]
        rows.append([c.model, eps_label(c.eps), f"{c.images:,}", *cells, "—" if c.gap is None else f"{c.gap:+.2f}"])
    rows.sort(key=lambda r: (r[1] != "8/255", r[0]))
    return markdown(["model", "eps", "images", "standard", "backward / ex.", "ensemble19", "backward / ex.", "assg", "backward / ex.",
                     "standard - best peer"], rows)


def attack_cost(row: pd.Series) -> str:
    """A row's backward passes per example, as its attack's cost: less the masking checks'
    where the row records them apart (``params["masking-checks"]``, ``standard`` rows since
    the checks were counted apart: no peer runs them), marked ``*`` where a ``standard`` row
    predates that and its number includes them; ``—`` where the row predates the cost columns."""
    if pd.isna(row.bwd_per_example):
        return "—"
    checks = row_params(row).get("masking-checks")
    if checks is not None:
        return f"{row.bwd_per_example - checks['backward'] / row.n_examples:,.1f}"
    return f"{row.bwd_per_example:,.1f}" + ("*" if row.name == "standard" else "")


def _accuracy_on_first(src: Sources, row: pd.Series, images: int) -> float | None:
    """A row's robust accuracy (%) on its first ``images`` examples: the row's own number when it
    ran on exactly those, else the mean of its per-example file's first lines (None if absent)."""

    if int(row.n_examples) == images:
        return float(row.robust_acc)
    path = src.boards / "per_example" / per_example_name({**row.to_dict(), "attack": row.name})
    if int(row.n_examples) < images or not path.is_file():
        return None
    robust = _per_example_scores(path)
    if len(robust) < images:
        raise UserInputError(f"{path} holds {len(robust)} examples, fewer than the {images} its row's table needs; re-make it with the row's command")
    return round(100 * float(robust.iloc[:images].mean()), 2)


def _per_example_scores(path: Path) -> pd.Series:
    """The ``robust`` column of a per-example file, each score a number in [0, 1] (one line naming the file otherwise)."""
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise UserInputError(f"{path} is not a readable per-example CSV: {e}") from None
    robust = pd.to_numeric(table["robust"], errors="coerce") if "robust" in table.columns else None
    if robust is None or robust.isna().any() or not robust.between(0, 1).all():
        raise UserInputError(f"{path}: its robust column must hold one score in [0, 1] per example; re-make it with the row's command")
    return robust


def submissions(src: Sources) -> str:
    linf = src.board("digits_linf")
    rows = []
    for _, r in linf[linf.source == "submitted"].sort_values("robust_acc", ascending=False).iterrows():
        rows.append([r.model, r.neuron, pct(r.clean_acc), pct(r.claimed_robust), f"**{pct(r.robust_acc)}**",
                     *(pct(r.get(f"acc_{k}")) for k in STANDARD_MEMBERS), r["flags"] or "—"])
    return markdown(["submission", "neurons", "clean", "claimed (PGD-10)", "standard", "APGD-CE", "+APGD-T", "+worst surrogate",
                     "+ASSG", "+APGD surrogates", "+Square", "flags"], rows)


def certified(src: Sources, name: str, mechanism: str) -> str:
    cert = src.board(name)
    cert = cert[cert.mechanism == mechanism]
    radii = [c for c in cert.columns if c.startswith("cert_") and cert[c].notna().all()]
    unit = "L2" if radii[0].startswith("cert_l2") else "Linf"
    header = ["model", "sigma" if mechanism == "gaussian" else "mechanism",
              *(f"certified acc. {unit} r={c.split('@')[1]}" if i == 0 else c.split("@")[1] for i, c in enumerate(radii)),
              "ACR", "abstain", "cross-check (attempts / violations)", "seconds"]
    rows = []
    for _, r in cert.sort_values("model").iterrows():
        what = r.sigma if mechanism == "gaussian" else f"encoder (T={int(r['T'])})"
        rows.append([r.model, what, *(f"{r[c]:.1f}" for c in radii), f"{r.acr:.6g}", f"{r.abstain:.1f}",
                     f"{int(r.crosscheck_attempts)} / {int(r.crosscheck_violations)}", f"{r.seconds:.1f}"])
    return markdown(header, rows)


def described(card: dict) -> str:
    """A card's architecture as the registry describes it (the zoo table's "what" for a model
    without prose in :data:`WHAT`), else its defense."""

    try:
        return get_model_entry(card.get("architecture", card["model"])).description
    except UserInputError:
        return str(card["defense"])


def zoo_table(src: Sources) -> str:
    digits, mnist = src.zoo_cards("digits"), src.zoo_cards("mnist")
    rows = []
    for m in sorted(digits.keys() | mnist.keys()):  # a model may have one of the two (plif-net takes 28x28 and up)
        c, mc = digits.get(m), mnist.get(m)
        vote = f" (vote of {c['vote_draws']}: {c['vote_acc']:.2f})" if c and "vote_acc" in c else ""
        rows.append([f"`{m}`", WHAT.get(m) or described(c or mc), f"{c['clean_acc']:.2f}{vote}" if c else "—",
                     f"{c['train_seconds']:.0f} s" if c else "—",
                     f"{mc['clean_acc']:.2f}" if mc else "—", f"{mc['epochs']}, {mc['train_seconds']:.0f} s" if mc else "—"])
    return markdown(["model", "what", "digits clean", "digits train time", "MNIST clean (10,000)", "MNIST epochs, time"], rows)


def natural_images(src: Sources, dataset: str = "cifar10-jpeg") -> str:
    """Every zoo card of ``dataset`` with its clean accuracy on the whole test split and its
    training cost (from the card), beside its Linf 8/255 rows: PGD-10 (what papers report),
    ``standard``, and the peers ``ensemble19`` and ``assg`` where they ran; ``—`` marks a row
    not measured yet, so the table shows what the track lacks as plainly as what it has."""
    cards = src.zoo_cards(dataset)
    board = src.board(f"{dataset}_linf")
    at_8 = board[((board.eps.astype(float) - EPS_8).abs() < 1e-5) & (board.source == "zoo")]
    rows = []
    for m, c in sorted(cards.items(), key=lambda kv: -kv[1]["clean_acc"]):
        mine = at_8[at_8.model == m]

        def cell(attack: str, steps: int | None = None) -> str:
            hit = mine[(mine.attack == attack) & ((mine.steps == steps) if steps is not None else True)]
            if not len(hit):
                return "—"
            r = hit.iloc[0]
            return f"{pct(r.robust_acc)} ({int(r.n_examples):,})"

        build = ", ".join(f"{k} {'-'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in c.get("build_kwargs", {}).items())
        arch = c.get("architecture", m) + (f" ({build})" if build else "")
        coding = "—" if c["encoder"] == "none" else f"{c['encoder']}, {c['T']}"
        start = str(c.get("init_from") or "").partition("@")[0]  # a fine-tuning's time excludes its start's
        rows.append([f"`{m}`", arch, str(c["defense"]), coding, f"{c['clean_acc']:.2f}",
                     f"{c['epochs']}{f' from `{start}`' if start else ''}, {c['train_seconds'] / 3600:.1f} h",
                     cell("pgd", 10), cell("standard"),
                     cell("ensemble19"), cell("assg")])
    if not rows:
        return f"(no {dataset} checkpoints in zoo/ yet)"
    return markdown(["model", "architecture", "defense", "encoder, T", "clean (10,000)", "epochs, train time",
                     "PGD-10 8/255 (images)", "standard 8/255", "ensemble19", "assg"], rows)


def event_rows(src: Sources, dataset: str) -> str:
    """Standard evaluations on an event dataset in both threat models, beside random flips."""
    frames, flips = src.board(f"{dataset}_linf"), src.board(f"{dataset}_events")
    std_f = frames[(frames.attack == "standard") & ((frames.eps - EPS_8).abs() < 1e-5)].set_index("model")
    std_e = flips[flips.attack == "standard"].set_index("model")
    rnd = flips[flips.attack == "random-flip"].set_index("model")
    rows = []
    for m in sorted(set(std_f.index) | set(std_e.index) | set(rnd.index)):  # a model with any of the three rows
        r = next(board.loc[m] for board in (std_f, std_e, rnd) if m in board.index)
        k = f"{std_e.eps[m]:g}" if m in std_e.index else f"{rnd.eps[m]:g}" if m in rnd.index else "—"
        rows.append([m, str(r.defense), pct(r.clean_acc), pct(std_f.robust_acc.get(m)), std_f["flags"].get(m) or "—", k,
                     pct(std_e.robust_acc.get(m)), pct(rnd.robust_acc.get(m)), std_e["flags"].get(m) or "—"])
    return markdown(["model", "defense", "clean", "standard, frame-space Linf 8/255", "flags", "K events", "standard, events",
                     "random flips, same K", "flags"], rows)


def benchmark_scripts(src: Sources) -> str:
    """``benchmarks/*.py``, each with the first paragraph of its docstring: what it measures."""
    rows = []
    for path in sorted((src.root / "benchmarks").glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        rows.append([f"`{path.name}`", " ".join(doc.split("\n\n")[0].split())])
    return markdown(["script", "what it measures"], rows)


def sweep_overhead(src: Sources) -> str:
    """``benchmarks/sweep_overhead.csv`` (written by ``benchmarks/sweep_overhead.py``) as a table."""
    path = src.root / "benchmarks" / "sweep_overhead.csv"
    if not path.is_file():
        return "(not measured yet: run .venv/bin/python benchmarks/sweep_overhead.py)"
    df = pd.read_csv(path)
    return markdown(list(df.columns), [[str(v) for v in r] for r in df.itertuples(index=False)])


TABLES: dict[str, Callable[[Sources], str]] = {
    "digits-pgd": digits_pgd, "qcfs-T": qcfs_by_T, "mnist-pgd": mnist_pgd, "submissions": submissions,
    "digits-standard": lambda src: standard_table(src, "digits_linf"), "mnist-standard": lambda src: standard_table(src, "mnist_linf"),
    "digits-peers": lambda src: peers_table(src, "digits_linf"), "mnist-peers": lambda src: peers_table(src, "mnist_linf"), "sweep-overhead": sweep_overhead,
    "digits-events": lambda src: event_rows(src, "digits-events"),
    "mnist-events": lambda src: event_rows(src, "mnist-events"),
    "zoo": zoo_table, "cifar10-jpeg": natural_images, "certified-digits-gaussian": lambda src: certified(src, "digits_certified", "gaussian"),
    "certified-digits-encoder": lambda src: certified(src, "digits_certified", "encoder"),
    "certified-mnist-gaussian": lambda src: certified(src, "mnist_certified", "gaussian"),
    "benchmarks": benchmark_scripts,
}
MARKED = re.compile(r"(<!-- table:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


def render(text: str, src: Sources = Sources()) -> str:
    """``text`` with every marked table regenerated from ``src``."""

    def fill(m: re.Match) -> str:
        if m["name"] not in TABLES:
            raise UserInputError(f"a document names an unknown table {m['name']!r}; known: {', '.join(TABLES)}")
        return f"{m[1]}{TABLES[m['name']](src)}\n{m[4]}"

    return MARKED.sub(fill, text)


def outputs(src: Sources = Sources(), extra: dict[Path, bytes] | None = None) -> dict[Path, bytes]:
    """Every file ``rbsnn report`` writes, path -> bytes: the documents with tables, the plots
    and the site (each plot drawn once, for both places), and ``extra`` (the CLI's reference)."""
    made = board_plots(src)
    files = {doc: render(doc.read_text(), src).encode() for doc in src.documents()}
    files.update(plot_files(src, made))
    files.update({src.site / rel: data for rel, data in site_files(src, made).items()})
    files.update(extra or {})
    return files


def _differing(files: dict[Path, bytes]) -> list[Path]:
    return [path for path, data in files.items() if not path.is_file() or path.read_bytes() != data]


def stale(src: Sources = Sources(), extra: dict[Path, bytes] | None = None) -> list[Path]:
    """The files whose committed bytes differ from what the CSVs give (``rbsnn report --check``)."""
    return _differing(outputs(src, extra))


def write(src: Sources = Sources(), extra: dict[Path, bytes] | None = None) -> list[Path]:
    """Write every output that changed (atomically); returns the paths written."""
    files = outputs(src, extra)
    changed = _differing(files)
    for path in changed:
        atomic_write_bytes(path, files[path])
    return changed
