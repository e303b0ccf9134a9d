"""Model zoo: ``zoo/<dataset>/<model>.safetensors`` + ``<model>.json`` card.

The card holds everything needed to rebuild the network (registry name,
input shape, classes, build kwargs) and to reproduce it (training command,
seed, commit) plus its measured clean test accuracy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save

from .atomic import atomic_write_bytes
from .errors import UserInputError
from .provenance import ROOT
from .registry import create_model

DEFAULT_ZOO = ROOT / "zoo"


def zoo_dir(path: str | Path | None = None) -> Path:
    """``path``, else ``$RBSNN_ZOO``, else the repository's ``zoo/``."""
    return Path(path or os.environ.get("RBSNN_ZOO") or DEFAULT_ZOO)


def checkpoint_paths(model: str, dataset: str, root: str | Path | None = None) -> tuple[Path, Path]:
    folder = zoo_dir(root) / dataset
    return folder / f"{model}.safetensors", folder / f"{model}.json"  # not with_suffix: names may contain dots


def save_checkpoint(model, card: dict[str, Any], root: str | Path | None = None) -> tuple[Path, Path]:
    """Write weights and card atomically (card last, so a card implies weights)."""
    weights, card_path = checkpoint_paths(card["model"], card["dataset"], root)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(weights, save(state))
    atomic_write_bytes(card_path, (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())
    return weights, card_path


def read_card(model: str, dataset: str, root: str | Path | None = None) -> dict[str, Any]:
    _, card_path = checkpoint_paths(model, dataset, root)
    if not card_path.is_file():
        raise UserInputError(
            f"no zoo checkpoint for model {model!r} on {dataset!r} at {card_path}; "
            f"train it with: rbsnn train --model {model} --dataset {dataset}"
        )
    return json.loads(card_path.read_text())


def zoo_models(dataset: str, root: str | Path | None = None) -> list[str]:
    """Names of every checkpoint in the zoo for ``dataset`` (registered models and named variants)."""
    folder = zoo_dir(root) / dataset
    return sorted(p.stem for p in folder.glob("*.json") if (folder / f"{p.stem}.safetensors").is_file())


def load_checkpoint(model: str, dataset: str, root: str | Path | None = None, **overrides: Any):
    """Rebuild ``model`` from its card and load its weights; returns ``(model, card)`` in eval mode.

    ``overrides`` change build arguments that do not change the weights'
    shapes (e.g. ``T`` of a converted or direct-coded SNN).
    """
    card = read_card(model, dataset, root)
    weights, _ = checkpoint_paths(model, dataset, root)
    kwargs = {**card["build_kwargs"], **overrides}
    net = create_model(card.get("architecture", card["model"]), tuple(card["in_shape"]), card["num_classes"], **kwargs)
    try:
        net.load_state_dict(load_file(str(weights)))
    except RuntimeError as e:
        if not overrides:
            raise
        first = str(e).strip().splitlines()[-1].strip()
        raise UserInputError(f"cannot run {model!r} with {overrides}: its weights do not fit ({first})") from None
    return net.eval(), card
