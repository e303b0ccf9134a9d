"""``rbsnn submit DIR``: put anyone's SNN on the leaderboard, measured by us.

A submission folder holds exactly what RobustBench's model-zoo pull requests
hold (``.github/ISSUE_TEMPLATE/new-model.md``, ``model_info/``), in files:

* ``model.py`` -- defines the factory named in the card, returning the ``nn.Module``
  (``[B, C, H, W]`` in [0, 1] -> logits ``[B, K]``; wrap time-major nets in ``TimeMajor``);
* ``weights.safetensors`` -- its ``state_dict``, loaded strictly;
* ``card.json`` -- who, what and the claim (:data:`CARD_FIELDS`).

Nothing is unpickled: a ``.pt`` / ``.pth`` / ``.pkl`` (any pickle container)
in the folder is refused. ``model.py`` *is* code: :func:`run_submission` runs it only in a
confined child process (:mod:`.worker`: time and memory limits, its own working
directory and environment), never in the process that writes the board; it still runs as
the user who calls ``rbsnn submit``, so a maintainer reviews it before running it, as
RobustBench reviews a pull request (docs/bring-your-own-snn.md).

Every check runs before anything is written; then the standard evaluation
runs on the dataset's full test set (``n_examples`` for a dry run, recorded
in the row), the folder and a ``measured.json`` card are kept under
``submissions/<dataset>/<name>/`` and the row is upserted with
``source=submitted``, the claims, and ``claim-exceeds-measured`` when the
claimed robust accuracy is more than :data:`CLAIM_MARGIN` points above ours.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.atomic import atomic_write_bytes
from ..core.errors import UnknownNameError, UserInputError
from ..core.home import ROOT, submissions_dir
from ..core.json_input import parse_json
from ..core.limits import BATCH_SIZE
from ..evaluation.compiled import COMPILE_MODES
from ..evaluation.model_checks import possible_surrogate_attack_labels
from ..models.zoo import zoo_models
from ..results.leaderboard import check_folder_writable, check_writable, default_path, locked, refuse_smaller, upsert
from ..results.provenance import git_commit, today
from .card import CARD_FILE, MEASURED_FILE, MODEL_FILE, WEIGHTS_FILE, check_folder
from .worker import check_limits, default_memory_limit, default_time_limit, result_from_payload, run_in_worker

#: Points by which a claimed robust accuracy may exceed the measured one before it is flagged.
CLAIM_MARGIN = 2.0
#: The flag of a submission whose claimed robust accuracy exceeds the measured one by more than CLAIM_MARGIN points.
CLAIM_FLAG = "claim-exceeds-measured"


def submission_command(archived: Path, root: Path, n_examples: int | None, seed: int, data_dir: str | None,
                       batch_size: int = BATCH_SIZE, compile: str = "auto") -> str:
    """The command that re-makes the row from the archived folder: every setting that can
    change a number is on it when it differs from the default."""
    try:
        shown = archived.resolve().relative_to(root)
    except ValueError:
        shown = archived
    argv = ["rbsnn", "submit", str(shown)]
    for flag, value in (("--n-examples", n_examples), ("--seed", seed if seed else None), ("--data-dir", data_dir),
                        ("--batch-size", batch_size if batch_size != BATCH_SIZE else None),
                        ("--compile", compile if compile != "auto" else None)):
        if value is not None:
            argv += [flag, str(value)]
    return shlex.join(argv)


@dataclass
class SubmissionRun:
    card: dict[str, Any]
    result: Any  # results.benchmark_result.BenchmarkResult, its flags including claim-exceeds-measured
    row: dict[str, Any]
    out: Path  # the leaderboard written
    target: Path  # where the submission is kept


def run_submission(
    folder: str | Path,
    *,
    out: str | Path | None = None,
    archive_root: str | Path | None = None,
    n_examples: int | None = None,
    seed: int = 0,
    device: str = "auto",
    batch_size: int = BATCH_SIZE,
    data_dir: str | None = None,
    progress: bool = True,
    force: bool = False,
    compile: str = "auto",
    publish: bool = False,
    time_limit: float | None = None,
    memory_limit_mb: int | None = None,
) -> SubmissionRun:
    """What ``rbsnn submit`` does: validate the folder here (nothing written on any error), run
    the standard evaluation in a confined child process (:mod:`.worker`: ``model.py``
    never runs in this process; ``time_limit`` seconds, default scaled to the examples, and
    ``memory_limit_mb``), check what it returns, flag an overstated claim, then -- holding the
    name's lock, so of two simultaneous submissions of one name by different authors exactly one
    is kept -- check the name's owner again, upsert the row (``out``, default the user's board of
    the dataset, or with ``publish`` the repository's) and keep the submission under
    ``archive_root/<dataset>/<name>/`` (default :func:`~.home.submissions_dir`)."""
    check_limits(time_limit, memory_limit_mb)
    if compile not in COMPILE_MODES:
        raise UnknownNameError("compile mode", compile, COMPILE_MODES)
    folder, card, budget = check_folder(Path(folder).resolve())  # resolved: the child runs elsewhere
    eps = budget.value
    if card["name"] in zoo_models(card["dataset"]):
        raise UserInputError(f"submission name {card['name']!r} is a zoo model of {card['dataset']!r}; choose another name in card.json")
    out = Path(out) if out else default_path(card["dataset"], card["threat_model"], publish=publish)
    check_writable(out, "--out")
    if n_examples is not None and not force:
        refuse_smaller(out, {"model": card["name"], "dataset": card["dataset"], "norm": card["threat_model"], "eps": eps,
                             "attack": "standard", "grad": "bptt"}, possible_surrogate_attack_labels(None, "standard", "own"), n_examples)
    target = Path(archive_root or submissions_dir(publish)) / card["dataset"] / card["name"]
    check_folder_writable(target.parent, "--archive")  # before the evaluation: a row never points at an archive that failed
    if not force:
        refuse_taken_name(target, card)
    commit = git_commit()
    options = {"n_examples": n_examples, "data_dir": str(Path(data_dir).resolve()) if data_dir else None, "seed": seed,
               "device": device, "batch_size": batch_size, "progress": progress, "compile": compile}
    payload = run_in_worker(folder, options, time_limit=time_limit or default_time_limit(n_examples),
                            memory_limit=(memory_limit_mb << 20) if memory_limit_mb else default_memory_limit())
    result = result_from_payload(payload, card, eps, n_examples)
    if card["claimed_robust"] > result.robust_acc + CLAIM_MARGIN:
        result.flags = [*result.flags, CLAIM_FLAG]
    command = submission_command(target, ROOT, n_examples, seed, data_dir, batch_size, compile)
    row = result.row(command=command, commit=commit, claimed_clean=card["claimed_clean"], claimed_robust=card["claimed_robust"])
    with locked(target.parent / f"{card['name']}.submission"):  # one writer per name at a time
        if not force:
            refuse_taken_name(target, card)  # again: another author may have finished meanwhile
        upsert(out, row, force=force)  # first: a refused row leaves no archive behind
        archive(folder, target, {"card": card, "row": row, "date": today(), "per_attack": result.per_attack, "params": result.params})
    return SubmissionRun(card, result, row, out, target)


def _authors(card: dict[str, Any]) -> tuple[str, ...]:
    authors = card.get("authors", ())
    return tuple(a.strip() for a in ([authors] if isinstance(authors, str) else authors))


def refuse_taken_name(target: Path, card: dict[str, Any]) -> None:
    """Refuse a submission whose name another author's archived submission holds: its row and
    archive would be replaced without a word. The same authors resubmitting replace their own
    (an updated model); ``--force`` replaces another's."""
    kept = target / CARD_FILE
    if not kept.is_file():
        return
    try:
        previous = parse_json(kept.read_bytes(), str(kept))
    except (OSError, UserInputError):
        previous = {}
    theirs = _authors(previous) if isinstance(previous, dict) else ()
    if theirs != _authors(card):
        raise UserInputError(f"submission name {card['name']!r} is taken on {card['dataset']!r} by {', '.join(theirs) or 'another submission'} "
                             f"({target}); choose another name in card.json, or pass --force to replace theirs")


def archive(folder: Path, target: Path, measured: dict[str, Any]) -> None:
    """Keep the submission's three files and ``measured.json`` in ``target`` (atomic writes)."""
    for name in (MODEL_FILE, WEIGHTS_FILE, CARD_FILE):
        src = folder / name
        if src.resolve() != (target / name).resolve():
            atomic_write_bytes(target / name, src.read_bytes())
    atomic_write_bytes(target / MEASURED_FILE, (json.dumps(measured, indent=2, sort_keys=True) + "\n").encode())
