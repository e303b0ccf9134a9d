"""``rbsnn submit DIR``: put anyone's SNN on the leaderboard, measured by us.

A submission folder holds exactly what RobustBench's model-zoo pull requests
hold (``.github/ISSUE_TEMPLATE/new-model.md``, ``model_info/``), in files:

* ``model.py`` -- defines the factory named in the card, returning the ``nn.Module``
  (``[B, C, H, W]`` in [0, 1] -> logits ``[B, K]``; wrap time-major nets in ``TimeMajor``);
* ``weights.safetensors`` -- its ``state_dict``, loaded strictly;
* ``card.json`` -- who, what and the claim (:data:`CARD_FIELDS`).

Nothing is unpickled: a ``.pt`` / ``.pth`` / ``.pkl`` (any pickle container)
in the folder is refused. ``model.py`` *is* code: :func:`run_submission` runs it only in a
confined child process (:mod:`.submission_worker`: time and memory limits, its own working
directory and environment), never in the process that writes the board; it still runs as
the user who calls ``rbsnn submit``, so a maintainer reviews it before running it, as
RobustBench reviews a pull request (README, "Evaluate your own SNN").

Every check runs before anything is written; then the standard evaluation
runs on the dataset's full test set (``n_examples`` for a dry run, recorded
in the row), the folder and a ``measured.json`` card are kept under
``submissions/<dataset>/<name>/`` and the row is upserted with
``source=submitted``, the claims, and ``claim-exceeds-measured`` when the
claimed robust accuracy is more than :data:`CLAIM_MARGIN` points above ours.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UnknownNameError, UserInputError
from .json_input import parse_json

if TYPE_CHECKING:  # torch is imported where a model is built, not when the CLI reads BATCH_SIZE
    from torch import nn

MODEL_FILE, WEIGHTS_FILE, CARD_FILE, MEASURED_FILE = "model.py", "weights.safetensors", "card.json", "measured.json"
#: Suffixes of pickle-based containers (torch.save, pickle, joblib, Lightning): never loaded.
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
NEURON_LIBRARIES = ("robustbench_snn", "spikingjelly", "snntorch", "pytorch")
#: Points by which a claimed robust accuracy may exceed the measured one before it is flagged.
CLAIM_MARGIN = 2.0
#: The flag of a submission whose claimed robust accuracy exceeds the measured one by more than CLAIM_MARGIN points.
CLAIM_FLAG = "claim-exceeds-measured"
#: Examples per attack batch when the command does not say (rbsnn eval and submit; the
#: module imports no torch so that the CLI can read it while building its parser).
BATCH_SIZE = 250
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

#: field -> (type check, description for the error message)
CARD_FIELDS: dict[str, str] = {
    "name": "leaderboard name: lowercase letters, digits, '.', '_' or '-', at most 64 characters",
    "authors": "a non-empty string or list of strings",
    "paper": "the paper's URL or citation (a non-empty string)",
    "dataset": "the dataset the model was trained for",
    "threat_model": "linf, l2, or events (event datasets only)",
    "eps": "the claimed budget: a number or a fraction such as \"8/255\"",
    "T": "time steps, a positive integer",
    "encoder": "the input coding (e.g. direct, poisson), a non-empty string",
    "neuron_library": f"one of {', '.join(NEURON_LIBRARIES)}",
    "factory": "the name of the function in model.py that returns the model",
    "claimed_clean": "claimed clean accuracy in percent, 0-100",
    "claimed_robust": "claimed robust accuracy in percent, 0-100, at most claimed_clean",
    "claim_attack": "the attack behind the claim (e.g. PGD-10), a non-empty string",
}
OPTIONAL_FIELDS = {"factory_kwargs": "keyword arguments for the factory (an object)", "defense": "the defense, a string", "notes": "free text"}


@dataclass
class Submission:
    folder: Path
    card: dict[str, Any]
    model: nn.Module
    eps: float


def _bad(field: str, value: Any) -> UserInputError:
    return UserInputError(f"{CARD_FILE}: bad {field} {value!r}; expected {CARD_FIELDS.get(field) or OPTIONAL_FIELDS[field]}")


def validate_card(card: Any) -> dict[str, Any]:
    """Return ``card`` if it follows the schema, else raise one :class:`UserInputError` naming the first problem."""
    from robustbench_snn.attacks import NORMS

    from .api import parse_eps
    from .data import DATASETS
    from .events import EVENT_DATASETS, require_event_data

    if not isinstance(card, dict):
        raise UserInputError(f"{CARD_FILE} must hold a JSON object, got {type(card).__name__}")
    missing = [f for f in CARD_FIELDS if f not in card]
    if missing:
        raise UserInputError(f"{CARD_FILE}: missing field(s) {', '.join(missing)}; required: {', '.join(CARD_FIELDS)}")
    unknown = sorted(set(card) - set(CARD_FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise UserInputError(f"{CARD_FILE}: unknown field(s) {', '.join(unknown)}; valid: {', '.join([*CARD_FIELDS, *OPTIONAL_FIELDS])}")
    if not isinstance(card["name"], str) or not NAME_PATTERN.match(card["name"]):
        raise _bad("name", card["name"])
    authors = card["authors"]
    if not (isinstance(authors, str) and authors.strip()) and not (
        isinstance(authors, list) and authors and all(isinstance(a, str) and a.strip() for a in authors)
    ):
        raise _bad("authors", authors)
    for f in ("paper", "encoder", "claim_attack"):
        if not isinstance(card[f], str) or not card[f].strip():
            raise _bad(f, card[f])
    if card["dataset"] not in DATASETS:
        raise UnknownNameError(f"{CARD_FILE} dataset", str(card["dataset"]), DATASETS)
    if card["threat_model"] not in NORMS:
        raise UnknownNameError(f"{CARD_FILE} threat_model", str(card["threat_model"]), NORMS)
    require_event_data(card["threat_model"], card["dataset"], card["dataset"] in EVENT_DATASETS, f"{CARD_FILE} threat_model")
    if not isinstance(card["eps"], (int, float, str)) or isinstance(card["eps"], bool):
        raise _bad("eps", card["eps"])
    try:
        parse_eps(card["eps"], card["threat_model"])
    except UserInputError:
        raise _bad("eps", card["eps"]) from None
    if not isinstance(card["T"], int) or isinstance(card["T"], bool) or not 1 <= card["T"] <= 10_000:
        raise _bad("T", card["T"])
    if card["neuron_library"] not in NEURON_LIBRARIES:
        raise UnknownNameError(f"{CARD_FILE} neuron_library", str(card["neuron_library"]), NEURON_LIBRARIES)
    if not isinstance(card["factory"], str) or not card["factory"].isidentifier():
        raise _bad("factory", card["factory"])
    for f in ("claimed_clean", "claimed_robust"):
        v = card[f]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 100:
            raise _bad(f, v)
    if card["claimed_clean"] <= 1:  # below chance on any dataset here: a fraction (0.97 for 97%), not a percentage
        raise UserInputError(f"bad {CARD_FILE} claimed_clean {card['claimed_clean']!r}: claims are percentages (97.0 for 97%), "
                             "and a clean accuracy of at most 1% is below chance")
    if card["claimed_robust"] > card["claimed_clean"]:
        raise _bad("claimed_robust", card["claimed_robust"])
    if not isinstance(card.get("factory_kwargs", {}), dict):
        raise _bad("factory_kwargs", card["factory_kwargs"])
    for f in ("defense", "notes"):
        if f in card and not isinstance(card[f], str):
            raise _bad(f, card[f])
    return card


def read_card(folder: Path) -> dict[str, Any]:
    path = folder / CARD_FILE
    if not path.is_file():
        raise UserInputError(f"no {CARD_FILE} in {folder}; a submission holds {MODEL_FILE}, {WEIGHTS_FILE} and {CARD_FILE}")
    return validate_card(parse_json(path.read_bytes(), str(path)))


def refuse_pickles(folder: Path) -> None:
    """Raise if ``folder`` holds a pickle-based file: nothing in a submission is unpickled."""
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in PICKLE_SUFFIXES:
            raise UserInputError(
                f"{p} is a pickle-based file, which is never loaded (unpickling runs arbitrary code); "
                f"save the weights with safetensors.torch.save_file(model.state_dict(), '{WEIGHTS_FILE}')"
            )


def build_model(folder: Path, card: dict[str, Any]) -> nn.Module:
    """Import ``model.py`` (user code: it runs) and call the card's factory. The process's
    argv, grad mode and default dtype are restored afterwards: what user code flips at import
    must not reach the evaluation."""
    import torch

    path = folder / MODEL_FILE
    if not path.is_file():
        raise UserInputError(f"no {MODEL_FILE} in {folder}; it must define {card['factory']}() returning the model")
    module_name = f"rbsnn_submission_{card['name'].replace('-', '_').replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    argv, sys.argv = sys.argv, [str(path)]  # argparse at import sees no options, not rbsnn's
    grad_mode, dtype = torch.is_grad_enabled(), torch.get_default_dtype()  # global switches user code may flip
    try:
        spec.loader.exec_module(module)
        factory = getattr(module, card["factory"], None)
        if not callable(factory):
            raise UserInputError(f"{path} defines no function {card['factory']!r} (the card's factory)")
        model = factory(**card.get("factory_kwargs", {}))
    except UserInputError:
        raise
    except SystemExit as e:  # sys.exit() or argparse at import: research scripts do; rbsnn must not exit with its code
        raise UserInputError(f"{path} exited (SystemExit {e.code!r}) while it was loaded; a submission's {MODEL_FILE} only "
                             f"defines the model: put script code under `if __name__ == \"__main__\":`") from None
    except Exception as e:  # noqa: BLE001 - user code may fail in any way; one line, naming the file
        raise UserInputError(f"{path} failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    finally:
        sys.argv = argv
        torch.set_grad_enabled(grad_mode)
        torch.set_default_dtype(dtype)
    from torch import nn

    if not isinstance(model, nn.Module):
        raise UserInputError(f"{card['factory']}() in {path} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def load_weights(model: nn.Module, path: Path) -> None:
    """Load ``path`` (safetensors) into ``model`` strictly; name missing, extra and mis-shaped tensors."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise UserInputError(f"no {WEIGHTS_FILE} in {path.parent}")
    try:
        weights = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserInputError(f"{path} is not a readable safetensors file: {str(e).splitlines()[0]}") from None
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    extra = [k for k in weights if k not in expected]
    shapes = [f"{k} {list(weights[k].shape)} (model: {list(v.shape)})" for k, v in expected.items() if k in weights and weights[k].shape != v.shape]
    problems = [f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}" for label, items in
                (("missing", missing), ("unexpected", extra), ("wrong shape", shapes)) if items]
    if problems:
        raise UserInputError(f"{path} does not fit the model -- " + "; ".join(problems))
    model.load_state_dict(weights, strict=True)


def check_folder(folder: str | Path) -> tuple[Path, dict[str, Any], float]:
    """``(folder, card, eps)`` of a submission folder checked without running its code: a
    folder, no pickle in it, a valid card, ``model.py`` and the weights present."""
    from .api import parse_eps

    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"submission folder {str(folder)!r} does not exist or is not a folder")
    refuse_pickles(folder)
    card = read_card(folder)
    for name in (MODEL_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise UserInputError(f"no {name} in {folder}; a submission holds {MODEL_FILE}, {WEIGHTS_FILE} and {CARD_FILE}")
    return folder, card, parse_eps(card["eps"], card["threat_model"])


def load_submission(folder: str | Path) -> Submission:
    """Validate a submission folder (:func:`check_folder`) and build its model with its
    weights (nothing written; ``model.py`` runs in this process)."""
    folder, card, eps = check_folder(folder)
    model = build_model(folder, card)
    load_weights(model, folder / WEIGHTS_FILE)
    return Submission(folder, card, model.eval(), eps)


#: Card encoders that draw random spikes (a substring of the card's ``encoder``).
STOCHASTIC_ENCODERS = ("poisson", "bernoulli", "rate")


def check_card_against_model(card: dict[str, Any], model: nn.Module, x) -> None:
    """Refuse a card whose ``T`` or ``encoder`` the model contradicts, since the row records
    them: ``T`` against the time steps its recognised neurons run on ``x``
    (:func:`~.interop.measured_time_steps`; not checked without recognised neurons), and a
    stochastic encoder name (:data:`STOCHASTIC_ENCODERS`) against whether two passes differ."""
    from .api import is_stochastic
    from .interop import measured_time_steps, with_reset

    model = with_reset(model)  # state reset before every pass, as the evaluation runs it
    steps = measured_time_steps(model, x)
    if steps is not None and steps != card["T"]:
        raise UserInputError(f"{CARD_FILE} says T {card['T']}, but the model's neurons run {steps} time steps per pass; "
                             "the row records the card's T, so it must be the model's")
    claims_random = any(k in card["encoder"].lower() for k in STOCHASTIC_ENCODERS)
    if claims_random != is_stochastic(model, x):
        said = "a random (rate) coding" if claims_random else "a deterministic coding"
        found = "gives the same output twice" if claims_random else "gives different outputs on the same input"
        raise UserInputError(f"{CARD_FILE} encoder {card['encoder']!r} names {said}, but the model {found}")


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
    result: Any  # api.BenchmarkResult, its flags including claim-exceeds-measured
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
    the standard evaluation in a confined child process (:mod:`.submission_worker`: ``model.py``
    never runs in this process; ``time_limit`` seconds, default scaled to the examples, and
    ``memory_limit_mb``), check what it returns, flag an overstated claim, then -- holding the
    name's lock, so of two simultaneous submissions of one name by different authors exactly one
    is kept -- check the name's owner again, upsert the row (``out``, default the user's board of
    the dataset, or with ``publish`` the repository's) and keep the submission under
    ``archive_root/<dataset>/<name>/`` (default :func:`~.home.submissions_dir`)."""
    from .api import possible_surrogate_attack_labels
    from .home import submissions_dir
    from .leaderboard import check_folder_writable, check_writable, default_path, locked, refuse_smaller, upsert
    from .provenance import ROOT, git_commit, today
    from .submission_worker import check_limits, default_memory_limit, default_time_limit, result_from_payload, run_in_worker
    from .zoo import zoo_models

    check_limits(time_limit, memory_limit_mb)
    folder, card, eps = check_folder(Path(folder).resolve())  # resolved: the child runs elsewhere
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
    from .atomic import atomic_write_bytes

    for name in (MODEL_FILE, WEIGHTS_FILE, CARD_FILE):
        src = folder / name
        if src.resolve() != (target / name).resolve():
            atomic_write_bytes(target / name, src.read_bytes())
    atomic_write_bytes(target / MEASURED_FILE, (json.dumps(measured, indent=2, sort_keys=True) + "\n").encode())
