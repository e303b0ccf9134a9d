"""A submission folder, read and checked before any of its code runs: ``card.json`` (who,
what and the claim: :data:`CARD_FIELDS`), no pickle anywhere, ``weights.safetensors``
loaded strictly into what ``model.py``'s factory builds, and the card's ``T`` and encoder
held against what the built model measures."""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..attacks import NORMS
from ..core.budget import Eps
from ..core.errors import UnknownNameError, UserInputError
from ..core.json_input import parse_json
from ..data.catalog import DATASETS
from ..data.events import EVENT_DATASETS, require_event_data
from ..evaluation.model_checks import is_stochastic
from ..interop.foreign_neurons import measured_time_steps, with_reset

MODEL_FILE, WEIGHTS_FILE, CARD_FILE, MEASURED_FILE = "model.py", "weights.safetensors", "card.json", "measured.json"
#: Suffixes of pickle-based containers (torch.save, pickle, joblib, Lightning): never loaded.
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
NEURON_LIBRARIES = ("robustbench_snn", "spikingjelly", "snntorch", "pytorch")
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
    eps: Eps


def _bad(field: str, value: Any) -> UserInputError:
    return UserInputError(f"{CARD_FILE}: bad {field} {value!r}; expected {CARD_FIELDS.get(field) or OPTIONAL_FIELDS[field]}")


def validate_card(card: Any) -> dict[str, Any]:
    """Return ``card`` if it follows the schema, else raise one :class:`UserInputError` naming the first problem."""
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
        Eps.parse(card["eps"], card["threat_model"])
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

    if not isinstance(model, nn.Module):
        raise UserInputError(f"{card['factory']}() in {path} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def load_weights(model: nn.Module, path: Path) -> None:
    """Load ``path`` (safetensors) into ``model`` strictly; name missing, extra and mis-shaped tensors."""
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


def check_folder(folder: str | Path) -> tuple[Path, dict[str, Any], Eps]:
    """``(folder, card, eps)`` of a submission folder checked without running its code: a
    folder, no pickle in it, a valid card, ``model.py`` and the weights present."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"submission folder {str(folder)!r} does not exist or is not a folder")
    refuse_pickles(folder)
    card = read_card(folder)
    for name in (MODEL_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise UserInputError(f"no {name} in {folder}; a submission holds {MODEL_FILE}, {WEIGHTS_FILE} and {CARD_FILE}")
    return folder, card, Eps.parse(card["eps"], card["threat_model"])


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
