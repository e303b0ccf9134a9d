"""The source models of the standard evaluation's transfer members: the dataset's zoo
``ann-cnn`` and ``snn-cnn`` by default (:data:`~.standard.TRANSFER_SOURCES`), or the
models and zoo names a caller gives."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..core.errors import UserInputError
from ..models import zoo
from ..models.zoo import load_checkpoint
from .settings import check_folder_argument
from .standard import transfer_source_names


def load_transfer_sources(
    given: dict[str, nn.Module | str] | None, dataset: str, target: str, zoo_dir: str | Path | None, device: str,
) -> tuple[dict[str, nn.Module], dict[str, str]]:
    """``({member: model}, {member: source name})`` for the standard evaluation's transfer
    members. ``given``: None (:data:`~.standard.TRANSFER_SOURCES`, each skipped when the zoo
    lacks it), or ``{member: model or zoo name}`` (a named model must be in the zoo)."""

    sources, names = {}, {}
    for member, source in (transfer_source_names(target) if given is None else dict(given)).items():
        if isinstance(source, nn.Module):
            sources[member], names[member] = source, getattr(source, "name", member)
        elif (root := zoo_holding(source, dataset, zoo_dir)) is not None:
            sources[member], names[member] = load_checkpoint(source, dataset, root)[0].to(device), source
    return sources, names


def zoo_holding(source: str, dataset: str, zoo_dir: str | Path | None) -> Path | None:
    """The zoo holding ``source`` for ``dataset``: the zoos read (``zoo_dir`` or ``$RBSNN_ZOO``,
    else the user's), else the repository's; None if none does."""

    roots = dict.fromkeys([*zoo.zoo_roots(zoo_dir), zoo.DEFAULT_ZOO])
    return next((root for root in roots if source in zoo.zoo_models(dataset, root)), None)


def check_transfer_sources(given: dict[str, nn.Module | str] | None, dataset: str, zoo_dir: str | Path | None) -> None:
    """Refuse, before any attack, sources that are not ``{member: model or zoo name}`` and a
    source named by a zoo name the zoo lacks."""
    check_folder_argument("zoo_dir", zoo_dir)
    if given is not None and not (isinstance(given, dict)
                                  and all(isinstance(k, str) and isinstance(v, (str, nn.Module)) for k, v in given.items())):
        raise UserInputError(f"bad transfer_sources {given!r}; give a dict of member name -> nn.Module or zoo model name")
    for member, source in (given or {}).items():
        if isinstance(source, str) and zoo_holding(source, dataset, zoo_dir) is None:
            raise UserInputError(f"transfer source {source!r} for {member} has no {dataset!r} checkpoint in {zoo_dir or 'the zoo'}")
