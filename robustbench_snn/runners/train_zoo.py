"""``rbsnn train`` as a library call: train a registered model (:mod:`robustbench_snn.training`)
and write its checkpoint and card into a zoo, every option checked before the first epoch, the
run resumable (its training state is written after every epoch and every 10 minutes inside one)."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.errors import UserInputError
from ..core.limits import MAX_T, check_count
from ..core.surrogate import Surrogate
from ..data.catalog import load_dataset
from ..data.dataset import Dataset
from ..defenses import get_defense
from ..evaluation.settings import check_choice, resolve_device
from ..models.registry import create_model, get_model_entry
from ..models.zoo import check_zoo_name, checkpoint_paths, load_checkpoint, save_checkpoint, write_paths
from ..results.leaderboard import check_folder_writable
from ..results.provenance import command_line
from ..training.trainer import AUGMENTATIONS, TrainConfig, default_augment, default_epochs, train_model
from .zoo_eval import resolve_zoo_dir



def literal(text: str) -> int | float | str | tuple[int | float, ...]:
    """``'8'`` -> 8, ``'0.5'`` -> 0.5, ``'32,64,128'`` -> (32, 64, 128), anything else stays a string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if "," in text:
        items = [literal(t.strip()) for t in text.split(",")]
        if all(isinstance(v, (int, float)) for v in items):
            return tuple(items)
    return text


def build_arguments(build: list[tuple[str, str]], T: int | None, surrogate: str | None) -> dict[str, Any]:
    """The model's build arguments from ``--build KEY=VALUE`` pairs, ``--T`` and ``--surrogate``."""
    args = {k: literal(v) for k, v in build}
    if T is not None:
        args["T"] = T
    if surrogate is not None:
        args["surrogate"] = str(Surrogate.parse(surrogate))
    return args


def check_build(model: str, data: Dataset, build: dict[str, Any], given: list[tuple[str, str]]) -> nn.Module:
    """Build the network once and run it on two training examples before training, so a bad
    build argument (a width of 0, a fractional ``T``) is one line instead of a traceback from
    deep inside a factory or from the first batch; returns the probe network."""

    for key, value in build.items():
        if any(isinstance(v, (int, float)) and not (0 <= v < float("inf")) for v in (value if isinstance(value, tuple) else (value,))):
            raise UserInputError(f"bad --build {key}={value!r}; it must be a finite number >= 0 (or a comma-separated list of them)")
    if "T" in build:
        check_count("--build T", build["T"], MAX_T)
    shown = ", ".join(f"{k}={v}" for k, v in given) or "(none)"
    try:
        with warnings.catch_warnings(), torch.no_grad():  # a degenerate width warns before it fails: the error says it once
            warnings.simplefilter("ignore")
            probe = create_model(model, data.in_shape, data.num_classes, **build).eval()
            logits = probe(data.x[:2])
    except UserInputError:
        raise
    except (TypeError, ValueError, IndexError, RuntimeError, ZeroDivisionError) as e:
        raise UserInputError(f"bad --build for model {model!r} ({shown}): {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if tuple(logits.shape) != (len(data.x[:2]), data.num_classes):
        raise UserInputError(f"bad --build for model {model!r} ({shown}): the network gives logits of shape "
                             f"{tuple(logits.shape)}, not (examples, {data.num_classes})")
    return probe


def weights_misfit(weights: dict[str, torch.Tensor], target: nn.Module) -> str | None:
    """Where ``weights`` do not fit ``target``'s state (a missing, extra or differently shaped
    tensor), or ``None`` when ``target.load_state_dict(weights)`` takes them as they are."""

    want = {k: list(v.shape) for k, v in target.state_dict().items()}
    have = {k: list(v.shape) for k, v in weights.items()}
    for key in sorted(want.keys() | have.keys()):
        if want.get(key) != have.get(key):
            return f"{key}: {have.get(key, 'absent')} in the checkpoint, {want.get(key, 'absent')} in the network"
    return None


def initial_weights(init_from: str, model: str, name: str, dataset: str, zoo_dir: str | None, target: nn.Module) -> tuple[str, dict]:
    """``(label, state_dict)`` of the zoo checkpoint ``init_from``; label = name and weights hash.

    The checkpoint may be of another architecture when its weights fit ``target`` tensor for
    tensor: ``rsc-snn`` is ``snn-cnn``'s body behind a Poisson encoder without weights, so it
    can start from a trained direct-coded ``snn-cnn`` (the card records the start)."""

    check_zoo_name(init_from, "--init-from")
    if init_from == name:
        raise UserInputError(f"--init-from {init_from!r} is the checkpoint this run writes; give the result another --name")
    loaded, card = load_checkpoint(init_from, dataset, zoo_dir)
    arch = card.get("architecture", card["model"])
    weights = loaded.state_dict()
    misfit = weights_misfit(weights, target)
    if misfit is not None:
        raise UserInputError(f"--init-from {init_from!r} (a {arch!r} network) does not fit {model!r} as built ({misfit}); "
                             f"valid: checkpoints whose weights fit {model!r} tensor for tensor")
    digest = hashlib.sha256(checkpoint_paths(init_from, dataset, zoo_dir)[0].read_bytes()).hexdigest()[:12]
    return f"{init_from}@{digest}", weights


@dataclass
class TrainedModel:
    name: str
    card: dict[str, Any]
    weights: Path
    card_path: Path


def train_zoo_model(
    model: str, *, dataset: str = "digits", epochs: int | None = None, lr: float | None = None, batch_size: int = 64,
    T: int | None = None, surrogate: str | None = None, n_train: int | None = None, defense: str | None = None,
    defense_params: list[tuple[str, str]] = (), build: list[tuple[str, str]] = (), name: str | None = None,
    resume: bool = False, init_from: str | None = None, augment: str | None = None, compile: bool = False,
    publish: bool = False, data_dir: str | None = None, zoo_dir: str | None = None, seed: int = 0, device: str = "auto",
    quiet: bool = False,
) -> TrainedModel:
    """Train ``model`` on ``dataset`` and write it into the zoo (yours, or with ``publish`` the
    repository's); the card records the ``rbsnn train`` command that reproduces it."""

    entry = get_model_entry(model)
    chosen = defense if defense is not None else entry.defense
    params = dict(defense_params)
    get_defense(chosen, params)  # unknown defense or parameter: fail before loading data
    zoo_name = name if name is not None else (model if chosen == entry.defense else f"{model}+{chosen}")
    check_zoo_name(zoo_name, "--name")
    zoo_dir = resolve_zoo_dir(zoo_dir, publish)
    device = resolve_device(device)
    train = load_dataset(dataset, "train", data_dir).head(n_train)
    test = load_dataset(dataset, "test", data_dir)
    build_kwargs = build_arguments(list(build), T, surrogate)
    probe = check_build(model, train, build_kwargs, list(build))
    if augment is not None:
        check_choice("augmentation", augment, AUGMENTATIONS)
    cfg = TrainConfig(epochs=epochs or default_epochs(dataset), lr=lr or entry.train_defaults.get("lr", TrainConfig.lr),
                      batch_size=batch_size, seed=seed, augment=augment or default_augment(dataset))
    command = command_line(
        "train", ("--model", model), ("--dataset", dataset), ("--epochs", cfg.epochs), ("--lr", f"{cfg.lr:g}"),
        ("--batch-size", cfg.batch_size), ("--seed", cfg.seed), ("--T", T), ("--surrogate", build_kwargs.get("surrogate")),
        ("--n-train", n_train), ("--data-dir", data_dir), ("--defense", defense),
        *[("--defense-param", f"{k}={v}") for k, v in defense_params], *[("--build", f"{k}={v}") for k, v in build],
        ("--name", name), ("--init-from", init_from), ("--augment", augment), ("--compile", "on" if compile else None),
    )
    start_from = initial_weights(init_from, model, zoo_name, dataset, zoo_dir, probe) if init_from is not None else None
    weights_path = write_paths(zoo_name, dataset, zoo_dir, publish=publish)[0]
    check_folder_writable(weights_path.parent, "--zoo-dir")  # every input checked: now the folder, before the epochs
    state_path = weights_path.with_name(f"{zoo_name}.train-state.pt")
    trained, card = train_model(
        model, train, test, cfg, build_kwargs, command=command, quiet=quiet, device=device, defense=chosen,
        defense_params=params, name=zoo_name, state_path=state_path, resume=resume, init_from=start_from, compile=compile,
    )
    weights, card_path = save_checkpoint(trained, card, zoo_dir, publish=publish)
    state_path.unlink(missing_ok=True)  # the run finished; nothing left to resume
    return TrainedModel(zoo_name, card, weights, card_path)
