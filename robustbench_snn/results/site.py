"""The leaderboard site (``rbsnn site --out DIR``; ``rbsnn report`` keeps ``site/`` current).

One static folder that opens from disk with no network: ``index.html`` lists
the boards, and each leaderboard CSV gets a page ``<board>.html`` with

* a table sortable by any column (numbers sort as numbers), filtered by attack
  and eps, ranked by the current order;
* the masking flags as badges whose meaning shows on hover
  (:data:`~robustbench_snn.evaluation.masking.FLAG_MEANINGS`), the row's ``source``
  (zoo / submitted / api) and, for submissions, claimed against measured;
* RobustBench's "best known" column: the lowest robust accuracy any attack on
  the board reached for that model, T and eps;
* per row, on expanding it: the per-attack breakdown (``acc_*`` columns), the
  parameters that ran and the command that reproduces the row;
* the board's plot as a file beside the page (robust accuracy against eps,
  or certified accuracy against radius).

CSS and JavaScript are inline; nothing is fetched. Every byte depends only on
the CSVs, so the committed site is checked like the documents' tables.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path

import pandas as pd

from ..core.atomic import atomic_write_bytes
from ..core.budget import eps_label
from ..evaluation.masking import FLAG_MEANINGS
from .leaderboard import PER_ATTACK_PREFIX, WEAKER_THAN_SMALLER_EPS, best_known, shown_flags
from .plots import board_plots
from .sources import EPS_8, Sources

#: Flags other modules raise, with their meaning.
OTHER_FLAGS = {
    "claim-exceeds-measured": "the submission's claimed robust accuracy is more than 2 points above the measured one",
    WEAKER_THAN_SMALLER_EPS: "robust accuracy above what an attack reached at a smaller eps on the same model: every larger "
                             "eps-ball holds the smaller ones, so this row's attack is weaker than one already run, and the "
                             "best known column (and the plot) show the lower value",
}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; white-space: nowrap; border-radius: 0.6rem; padding: 0 0.45rem; margin: 0 0.1rem 0.1rem 0; font-size: 0.75rem; }
.flag { background: #fde2e1; color: #8a1c14; border: 1px solid #f3a29b; cursor: help; }
.src-zoo { background: #e6eefc; color: #1d3f7a; }
.src-submitted { background: #e3f5e1; color: #1d5a17; }
.src-api { background: #f1e6fc; color: #4b1d7a; }
tr.detail td { background: #fafafa; }
tr.detail pre { margin: 0.3rem 0; white-space: pre-wrap; font-size: 0.75rem; }
button.expand { border: none; background: none; cursor: pointer; font-size: 0.8rem; padding: 0 0.3rem 0 0; }
.filters { margin: 0.8rem 0; }
.filters label { margin-right: 1rem; }
img.plot { max-width: 46rem; display: block; margin: 0.8rem 0; }
"""

#: Sorting (numbers as numbers, from data-value), filtering and row expansion.
SCRIPT = """
(function () {
  const table = document.querySelector("table.board");
  if (!table) return;
  const body = table.tBodies[0];
  const pairs = () => Array.from(body.querySelectorAll("tr.row")).map(r => [r, r.nextElementSibling]);
  function renumber() {
    let rank = 0;
    for (const [row] of pairs()) {
      if (row.hidden) continue;
      rank += 1;
      row.querySelector("td.rank").textContent = rank;
    }
  }
  table.querySelectorAll("th").forEach((th, col) => {
    th.addEventListener("click", () => {
      const numeric = th.dataset.type === "num";
      const dir = th.getAttribute("aria-sort") === "descending" ? 1 : -1;
      table.querySelectorAll("th").forEach(h => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      const key = row => {
        const v = row.cells[col].dataset.value;
        if (!numeric) return v || "";
        return v === undefined || v === "" ? NaN : parseFloat(v);
      };
      const sorted = pairs().sort((a, b) => {
        const x = key(a[0]), y = key(b[0]);
        if (numeric) {
          if (isNaN(x) && isNaN(y)) return 0;
          if (isNaN(x)) return 1;
          if (isNaN(y)) return -1;
          return dir * (x - y);
        }
        return dir * x.localeCompare(y);
      });
      for (const [row, detail] of sorted) { body.appendChild(row); body.appendChild(detail); }
      renumber();
    });
  });
  const selects = document.querySelectorAll(".filters select");
  function filter() {
    for (const [row, detail] of pairs()) {
      row.hidden = Array.from(selects).some(s => s.value !== "" && row.dataset[s.name] !== s.value);
      if (row.hidden) detail.hidden = true;
    }
    renumber();
  }
  selects.forEach(s => s.addEventListener("change", filter));
  body.addEventListener("click", e => {
    const button = e.target.closest("button.expand");
    if (!button) return;
    const detail = button.closest("tr").nextElementSibling;
    detail.hidden = !detail.hidden;
    button.setAttribute("aria-expanded", String(!detail.hidden));
    button.textContent = detail.hidden ? "\\u25B8" : "\\u25BE";
  });
  filter();
})();
"""


def _num(value, digits: int = 2) -> tuple[str, str]:
    """(shown text, sort value) of a number cell; NaN shows as a dash and sorts last."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return "—", ""
    v = float(value)
    return f"{v:,.{digits}f}", repr(v)


def _td(text: str, value: str | None = None, cls: str = "", raw: bool = False) -> str:
    attrs = (f' class="{cls}"' if cls else "") + (f' data-value="{escape(value)}"' if value is not None else "")
    return f"<td{attrs}>{text if raw else escape(text)}</td>"


def _num_td(value, digits: int = 2) -> str:
    text, key = _num(value, digits)
    return _td(text, key, "num")


def flag_badges(flags: str) -> str:
    """One badge per flag, its meaning in ``title`` (shown on hover)."""
    meanings = {**FLAG_MEANINGS, **OTHER_FLAGS}
    return "".join(f'<span class="badge flag" title="{escape(meanings.get(f, "see docs/evaluation-protocol.md, gradient masking"))}">{escape(f)}</span>'
                   for f in str(flags or "").split(";") if f)


def _page(title: str, body: str, script: bool = True) -> bytes:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{escape(title)}</title>\n<link rel=\"icon\" href=\"data:,\">\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"{body}\n" + (f"<script>{SCRIPT}</script>\n" if script else "") + "</body>\n</html>\n"
    ).encode()


def _filters(df: pd.DataFrame, default_attack: str) -> str:
    def select(name: str, label: str, values: list[tuple[str, str]], chosen: str) -> str:
        options = [f'<option value=""{" selected" if not chosen else ""}>all</option>']
        options += [f'<option value="{escape(v)}"{" selected" if v == chosen else ""}>{escape(t)}</option>' for v, t in values]
        return f'<label>{label} <select name="{name}">{"".join(options)}</select></label>'

    attacks = sorted(df["attack"].astype(str).unique())
    eps = sorted(df["eps"].unique())
    return ('<div class="filters">' + select("attack", "attack", [(a, a) for a in attacks], default_attack)
            + select("eps", "eps", [(eps_label(e), eps_label(e)) for e in eps], "") + "</div>")


ROBUST_HEADER = [("#", "num"), ("model", "text"), ("source", "text"), ("defense", "text"), ("encoder, T", "text"),
                 ("attack", "text"), ("eps", "num"), ("examples", "num"), ("clean", "num"), ("robust", "num"),
                 ("best known", "num"), ("claimed clean / robust", "num"), ("flags", "text"), ("backward / ex.", "num"),
                 ("seconds", "num"), ("commit", "text")]


def _detail(r: pd.Series, columns: int) -> str:
    per_attack = [(c.removeprefix(PER_ATTACK_PREFIX), r[c]) for c in r.index if c.startswith(PER_ATTACK_PREFIX) and pd.notna(r[c])]
    breakdown = "".join(f"<tr><td>{escape(a)}</td><td class=\"num\">{float(v):.2f}</td></tr>" for a, v in per_attack)
    parts = []
    if breakdown:
        parts.append("<b>per attack</b> (robust accuracy after each member joined, or of each estimator)"
                     f"<table class=\"breakdown\">{breakdown}</table>")
    params = str(r.get("params") or "")
    if params:
        try:
            params = json.dumps(json.loads(params), indent=1, sort_keys=True)
        except (ValueError, RecursionError):  # shown as written (escaped), whatever a hand-edited cell holds
            pass
        parts.append(f"<b>parameters that ran</b><pre>{escape(params)}</pre>")
    parts.append(f"<b>reproduce</b><pre><code>{escape(str(r.get('command', '')))}</code></pre>")
    return f'<tr class="detail" hidden><td colspan="{columns}">{"".join(parts)}</td></tr>'


def _model_cell(model: str, expands_to: str) -> str:
    """The model's cell, with the button that expands the row's detail (``expands_to`` on hover)."""
    return _td(f'<button class="expand" aria-expanded="false" title="{expands_to}">&#x25B8;</button>{escape(model)}', model, raw=True)


def _board_table(header: list[tuple[str, str]], rows: list[str]) -> str:
    """The sortable table: ``header`` (label, "num" | "text"), ``rows`` each a row and its detail row."""
    head = "".join(f'<th data-type="{kind}">{escape(label)}</th>' for label, kind in header)
    return f'<table class="board"><thead><tr>{head}</tr></thead>\n<tbody>\n' + "\n".join(rows) + "\n</tbody></table>"


def robust_page(name: str, df: pd.DataFrame, plot: str) -> bytes:
    """The page of a robust-accuracy board (``<dataset>_<norm>.csv``), its plot the file ``plot``."""
    best = best_known(df).set_index(["model", "T", "eps"])["robust_acc"]
    shown = shown_flags(df)
    default_attack = "standard" if (df["attack"] == "standard").any() else ""
    rows = []
    for i, r in df.sort_values(["robust_acc", "clean_acc"], ascending=False, kind="stable").iterrows():
        flags = shown[i]
        source = str(r.get("source") or "zoo")
        encoder = "—" if r["encoder"] == "none" or pd.isna(r["T"]) else f"{r['encoder']}, {int(r['T'])}"
        claimed = "—"
        claim_key = ""
        if pd.notna(r.get("claimed_robust")):
            claimed = f"{float(r['claimed_clean']):.2f} / {float(r['claimed_robust']):.2f}"
            claim_key = repr(float(r["claimed_robust"]))
        cells = [
            _td("", None, "rank num"),
            _model_cell(str(r["model"]), "per-attack breakdown and command"),
            _td(f'<span class="badge src-{escape(source)}">{escape(source)}</span>', source, raw=True),
            _td(str(r.get("defense", ""))), _td(encoder), _td(str(r["attack"])),
            _td(eps_label(float(r["eps"])), repr(float(r["eps"])), "num"),
            _num_td(r["n_examples"], 0), _num_td(r["clean_acc"]), _num_td(r["robust_acc"]),
            _num_td(best.get((r["model"], r["T"], r["eps"]))),
            _td(claimed, claim_key, "num"),
            _td(flag_badges(flags), flags, raw=True),
            _num_td(r.get("bwd_per_example"), 0), _num_td(r.get("seconds"), 0), _td(str(r.get("commit", ""))[:8]),
        ]
        data = f'data-attack="{escape(str(r["attack"]))}" data-eps="{escape(eps_label(float(r["eps"])))}"'
        rows.append(f'<tr class="row" {data}>{"".join(cells)}</tr>{_detail(r, len(ROBUST_HEADER))}')
    dataset, norm = name.rsplit("_", 1)
    body = (
        f'<p><a href="index.html">all boards</a></p><h1>{escape(dataset)}, {escape(norm)}</h1>\n'
        f"<p>{len(df)} rows. Accuracies in %, on the first test images (as many as the examples column says). Hover a flag for its meaning; "
        "click a model to expand its per-attack breakdown and the command that reproduces the row; click a header to sort.</p>\n"
        f'<img class="plot" src="{escape(plot)}" alt="robust accuracy against eps, {escape(name)}">\n'
        f"{_filters(df, default_attack)}\n" + _board_table(ROBUST_HEADER, rows)
    )
    return _page(f"rbsnn: {name}", body)


def certified_page(name: str, df: pd.DataFrame, plot: str) -> bytes:
    """The page of a certified board (``<dataset>_certified.csv``): one row per certificate; its plot the file ``plot``."""
    radii = [c for c in df.columns if c.startswith("cert_") and df[c].notna().any()]
    header = [("#", "num"), ("model", "text"), ("mechanism", "text"), ("sigma", "text"), ("norm", "text"),
              ("examples", "num"), ("draws n", "num"), *((c.removeprefix("cert_"), "num") for c in radii),
              ("ACR", "num"), ("abstain", "num"), ("cross-check violations", "num"), ("seconds", "num"), ("commit", "text")]
    rows = []
    for _, r in df.sort_values("acr", ascending=False, kind="stable").iterrows():
        cells = [
            _td("", None, "rank num"),
            _model_cell(str(r["model"]), "command"),
            _td(str(r["mechanism"])), _td(str(r["sigma"])), _td(str(r["norm"])), _num_td(r["n_examples"], 0), _num_td(r["n"], 0),
            *(_num_td(r[c], 1) for c in radii), _num_td(r["acr"], 4), _num_td(r["abstain"], 1),
            _num_td(r["crosscheck_violations"], 0), _num_td(r["seconds"], 0), _td(str(r.get("commit", ""))[:8]),
        ]
        detail = f'<tr class="detail" hidden><td colspan="{len(header)}"><b>reproduce</b><pre><code>{escape(str(r["command"]))}</code></pre></td></tr>'
        rows.append(f'<tr class="row">{"".join(cells)}</tr>{detail}')
    dataset = name.removesuffix("_certified")
    body = (
        f'<p><a href="index.html">all boards</a></p><h1>{escape(dataset)}, certified (randomized smoothing)</h1>\n'
        "<p>Certified accuracy (%) at each radius (Cohen et al. 2019); ACR is the average certified radius.</p>\n"
        f'<img class="plot" src="{escape(plot)}" alt="certified accuracy against radius, {escape(dataset)}">\n'
        + _board_table(header, rows)
    )
    return _page(f"rbsnn: {name}", body)


def index_page(boards: dict[str, pd.DataFrame]) -> bytes:
    items = []
    for name, df in boards.items():
        if name.endswith("_certified"):
            what = "certified accuracy (randomized smoothing)"
        else:
            eps = ", ".join(eps_label(e) for e in sorted(df["eps"].unique()))
            standard = df[df["attack"] == "standard"]
            what = f"robust accuracy, eps {eps}; {len(standard)} standard-evaluation rows"
        items.append(f'<li><a href="{escape(name)}.html">{escape(name)}</a>: {len(df)} rows, {escape(what)}</li>')
    body = ("<h1>robustbench-snn leaderboards</h1>\n<p>Adversarial robustness of spiking neural networks, generated from "
            "the leaderboard CSVs by <code>rbsnn site</code>. Each row records the command that reproduces it.</p>\n"
            f"<ul>{''.join(items)}</ul>\n<p>Standard evaluation at {eps_label(EPS_8)}: APGD-CE, APGD-T, worst surrogate, "
            "ASSG, Square and transfers, per-example worst case (docs/evaluation-protocol.md).</p>")
    return _page("robustbench-snn leaderboards", body, script=False)


def site_files(src: Sources = Sources(), made: dict[str, tuple[str, bytes]] | None = None) -> dict[str, bytes]:
    """Every file of the site, relative path -> bytes (``made``: the boards' plots,
    :func:`~robustbench_snn.results.plots.board_plots`, if already drawn)."""

    made = board_plots(src) if made is None else made
    boards = {name: src.board(name) for name in src.board_names()}
    files = {"index.html": index_page(boards)}
    for name, df in boards.items():
        plot, data = made[name]
        page = certified_page if name.endswith("_certified") else robust_page
        files[f"{name}.html"] = page(name, df, plot)
        files[plot] = data
    return files


def write_site(out: str | Path, src: Sources = Sources()) -> list[Path]:
    """Write the site into ``out`` (created if missing), atomically per file; returns the files."""

    out = Path(out)
    written = []
    for rel, data in site_files(src).items():
        atomic_write_bytes(out / rel, data)
        written.append(out / rel)
    return written
