"""Model zoo: ``<zoo>/<dataset>/<model>.safetensors`` + ``<model>.json`` card.

The card holds everything needed to rebuild the network (registry name,
input shape, classes, build kwargs) and to reproduce it (training command,
seed, commit) plus its measured clean test accuracy.

Two zoos, as two boards (:mod:`robustbench_snn.core.home`): ``rbsnn train`` writes the user's
zoo, ``<home>/zoo``, and only ``--publish`` (a maintainer's action) writes the repository's
``zoo/``, so a user's training never changes a tracked file. Reading looks in the user's
zoo first, then the repository's. ``--zoo-dir`` or ``$RBSNN_ZOO`` names one zoo, used
alone for both.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from safetensors.torch import load, save

from ..core.atomic import atomic_write_bytes
from ..core.errors import UserInputError
from ..core.home import ROOT, user_home
from ..core.json_input import json_object
from ..core.limits import MAX_SAMPLES, MAX_T
from .registry import create_model

DEFAULT_ZOO = ROOT / "zoo"


def user_zoo() -> Path:
    """The zoo ``rbsnn train`` writes by default: ``<home>/zoo``."""
    return user_home() / "zoo"


def zoo_dir(path: str | Path | None = None, *, publish: bool = False) -> Path:
    """The zoo a checkpoint is written to: ``path``, else ``$RBSNN_ZOO``, else the
    repository's ``zoo/`` with ``publish``, else the user's (:func:`user_zoo`)."""
    return Path(path or os.environ.get("RBSNN_ZOO") or (DEFAULT_ZOO if publish else user_zoo()))


def zoo_roots(path: str | Path | None = None) -> tuple[Path, ...]:
    """The zoos read, in order: ``path`` (or ``$RBSNN_ZOO``) alone, else the user's then the repository's."""
    given = path or os.environ.get("RBSNN_ZOO")
    return (Path(given),) if given else (user_zoo(), DEFAULT_ZOO)


def is_committed_zoo(path: str | Path | None) -> bool:
    """Whether ``path`` is the repository's ``zoo/`` (a row's command then needs no ``--zoo-dir``)."""
    return path is not None and Path(path).resolve() == DEFAULT_ZOO.resolve()


def _files(folder: Path, model: str) -> tuple[Path, Path]:
    return folder / f"{model}.safetensors", folder / f"{model}.json"  # not with_suffix: names may contain dots


#: Zoo checkpoint names: file names inside zoo/<dataset>/, never paths.
ZOO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


def check_zoo_name(name: str, flag: str = "zoo model") -> None:
    """Refuse in one line a name that cannot be a checkpoint's file name in a zoo folder."""
    if not isinstance(name, str) or not ZOO_NAME.match(name):
        raise UserInputError(f"bad {flag} {name!r}; a zoo name is letters, digits, '.', '_', '+' or '-' (at most 64, no '/')")


def checkpoint_paths(model: str, dataset: str, root: str | Path | None = None) -> tuple[Path, Path]:
    """``(weights, card)`` of ``model`` in the first zoo of :func:`zoo_roots` holding its card
    (the last zoo's paths if none does, for the message that names them)."""
    check_zoo_name(model)
    roots = zoo_roots(root)
    found = next((r for r in roots if _files(r / dataset, model)[1].is_file()), roots[-1])
    return _files(found / dataset, model)


def write_paths(model: str, dataset: str, root: str | Path | None = None, *, publish: bool = False) -> tuple[Path, Path]:
    """``(weights, card)`` where a new checkpoint of ``model`` is written (:func:`zoo_dir`)."""
    return _files(zoo_dir(root, publish=publish) / dataset, model)


#: Fields every card needs to rebuild its network.
CARD_REQUIRED = ("model", "dataset", "in_shape", "num_classes", "build_kwargs")


def save_checkpoint(model, card: dict[str, Any], root: str | Path | None = None, *, publish: bool = False) -> tuple[Path, Path]:
    """Write weights and card (to :func:`zoo_dir`) atomically, the card last and holding the
    weights' SHA-256: a kill between the two renames leaves a card that names other weights,
    which :func:`load_checkpoint` refuses, never a silently mismatched pair."""
    weights, card_path = write_paths(card["model"], card["dataset"], root, publish=publish)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = save(state)
    card = {**card, "weights_sha256": hashlib.sha256(blob).hexdigest()}
    atomic_write_bytes(weights, blob)
    write_card(card_path, card)
    return weights, card_path


def write_card(card_path: Path, card: dict[str, Any]) -> None:
    """A zoo card as every card is written: sorted, indented JSON, atomically."""
    atomic_write_bytes(card_path, (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())


def missing_checkpoint(model: str, dataset: str, where: Path | None = None) -> UserInputError:
    """The one error for a model without a checkpoint, naming the command that makes it."""
    at = f" at {where}" if where is not None else ""
    return UserInputError(f"no zoo checkpoint for model {model!r} on {dataset!r}{at}; "
                          f"train it with: rbsnn train --model {model} --dataset {dataset}")


def read_card(model: str, dataset: str, root: str | Path | None = None, *, also: tuple[str, ...] = (),
              needed_by: str = "") -> dict[str, Any]:
    """``model``'s card on ``dataset``, refused in one line if it is missing, not a JSON
    object, or lacks a field loading needs (:data:`CARD_REQUIRED`) or one of ``also``,
    which ``needed_by`` (what reads them) names in the message."""
    _, card_path = checkpoint_paths(model, dataset, root)
    if not card_path.is_file():
        raise missing_checkpoint(model, dataset, card_path)
    card = json_object(card_path.read_bytes(), f"zoo card {card_path}")
    missing = [f for f in (*CARD_REQUIRED, *also) if f not in card]
    if missing:
        by = f", which {needed_by} shows" if needed_by and set(missing) <= set(also) else ""
        raise UserInputError(f"zoo card {card_path} lacks {', '.join(missing)}{by}; retrain it with its command or remove it")
    shape, classes = card["in_shape"], card["num_classes"]
    checks = (
        (isinstance(card["build_kwargs"], dict), "build_kwargs is not a JSON object"),
        (isinstance(shape, list) and 1 <= len(shape) <= 4 and all(type(n) is int and 1 <= n <= 4096 for n in shape),
         "in_shape is not a list of 1 to 4 whole numbers in 1-4096"),
        (type(classes) is int and 2 <= classes <= 100_000, "num_classes is not a whole number in 2-100000"),
    )
    for ok, wrong in checks:
        if not ok:
            raise UserInputError(f"zoo card {card_path}: {wrong}; retrain it with its command or remove it")
    for field, low, high, whole in CARD_NUMBERS:
        value = card.get(field)
        if field in card and not _number_in(value, low, high, whole):
            kind = "a whole number" if whole else "a number"
            raise UserInputError(f"zoo card {card_path}: {field} {value!r} is not {kind} in [{low:g}, {high:g}] (the zoo table "
                                 "and the rows show it); retrain it with its command or remove it")
    return card


#: ``(field, low, high, whole)``: numbers a card may hold, checked where present, since the zoo
#: table, ``rbsnn list`` and the rows show them: accuracies are percentages, a run has at least
#: one epoch and a time that is not negative, T is 0 (an ANN) to MAX_T.
CARD_NUMBERS = (
    ("clean_acc", 0, 100, False), ("vote_acc", 0, 100, False), ("epochs", 1, 1_000_000, True),
    ("train_seconds", 0, 1e9, False), ("T", 0, MAX_T, True), ("n_test", 1, 10_000_000, True),
    ("clean_acc_draws", 1, MAX_SAMPLES, True), ("threads", 1, 100_000, True),
)


def _number_in(value: object, low: float, high: float, whole: bool) -> bool:
    """A JSON number (not a bool) in [low, high], whole if asked."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return low <= value <= high and (not whole or isinstance(value, int))


def zoo_models(dataset: str, root: str | Path | None = None) -> list[str]:
    """Names of every checkpoint for ``dataset`` in the zoos read (:func:`zoo_roots`): registered
    models and named variants."""
    folders = [r / dataset for r in zoo_roots(root)]
    return sorted({p.stem for f in folders for p in f.glob("*.json") if (f / f"{p.stem}.safetensors").is_file()})


def load_checkpoint(model: str, dataset: str, root: str | Path | None = None, **overrides: Any):
    """Rebuild ``model`` from its card and load its weights; returns ``(model, card)`` in eval mode.

    ``overrides`` change build arguments that do not change the weights'
    shapes (e.g. ``T`` of a converted or direct-coded SNN).
    """
    card = read_card(model, dataset, root)
    weights, _ = checkpoint_paths(model, dataset, root)
    blob = weights.read_bytes()
    if "weights_sha256" in card and hashlib.sha256(blob).hexdigest() != card["weights_sha256"]:
        raise UserInputError(
            f"{weights} is not the file its card {model}.json was written with (SHA-256 differs: an interrupted "
            f"write or a copied file); retrain with: {card.get('command', 'rbsnn train ...')}"
        )
    kwargs = {**card["build_kwargs"], **overrides}
    try:
        net = create_model(card.get("architecture", card["model"]), tuple(card["in_shape"]), card["num_classes"], **kwargs)
    except UserInputError:
        raise
    except (TypeError, ValueError) as e:  # e.g. --T on a network without time steps
        what = f"with {overrides}" if overrides else f"from its card's build arguments {card['build_kwargs']}"
        raise UserInputError(f"cannot build {model!r} {what}: {str(e).splitlines()[0]}") from None
    try:
        state = load(blob)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types for corrupt files
        raise UserInputError(f"{weights} is not a readable safetensors file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[-1].strip()
        if overrides:
            raise UserInputError(f"cannot run {model!r} with {overrides}: its weights do not fit ({first})") from None
        raise UserInputError(f"{weights} does not fit the network its card describes ({first})") from None
    return net.eval(), card
