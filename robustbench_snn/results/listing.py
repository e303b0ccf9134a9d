"""``rbsnn list``: what the package registers -- models with their zoo checkpoints, defenses,
attacks (single and composite) and datasets -- as the text the command prints."""

from __future__ import annotations

from ..attacks.spec import ATTACKS
from ..core.errors import UnknownNameError, UserInputError
from ..data.catalog import DATASETS
from ..defenses import DEFENSES
from ..evaluation.composite import COMPOSITES
from ..models.registry import get_model_entry, list_models
from ..models.zoo import read_card, zoo_models


def zoo_line(name: str, dataset: str) -> str:
    """One zoo checkpoint's card in a line; an unreadable card says why instead of hiding the others."""
    try:
        card = read_card(name, dataset)
        return f"{dataset:<7} {card['clean_acc']:6.2f}% clean  defense={card['defense']}  encoder={card['encoder']}  T={card['T']}"
    except (UserInputError, KeyError, TypeError, ValueError) as e:
        return f"{dataset:<7} (unreadable card: {e})"


def catalogue(dataset: str | None = None) -> str:
    """Every registered name with its one-line description, and the zoo checkpoints of
    ``dataset`` (default: of every dataset)."""

    if dataset is not None and dataset not in DATASETS:
        raise UnknownNameError("dataset", dataset, DATASETS)
    datasets = [dataset] if dataset else list(DATASETS)
    zoo = {ds: zoo_models(ds) for ds in datasets}
    width = max(map(len, list_models()))
    lines = ["models (architectures, and recipes = architecture + defense; zoo checkpoints below each):"]
    for name in list_models():
        entry = get_model_entry(name)
        recipe = f" (= {entry.architecture} + {entry.defense})" if entry.architecture != name else ""
        lines.append(f"  {name:<{width}} defense={entry.defense:<8} {entry.description}{recipe}")
        if entry.configs:
            lines.append(f"  {'':<{width}} configs (--build config=NAME): {', '.join(entry.configs)}")
        lines += [f"  {'':<{width}} zoo {zoo_line(name, ds)}" for ds in datasets if name in zoo[ds]]
    variants = [(ds, n) for ds in datasets for n in zoo[ds] if n not in list_models()]
    if variants:
        lines.append("zoo variants (trained with --name):")
        lines += [f"  {n:<{width}} {zoo_line(n, ds)}" for ds, n in variants]
    lines.append("defenses:")
    lines += [f"  {name:<{width}} {DEFENSES.description(name)}" for name in DEFENSES]
    lines.append("attacks:")
    lines += [f"  {name:<{width}} {registry.description(name)}" for registry in (ATTACKS, COMPOSITES) for name in registry]
    lines.append("datasets: " + ", ".join(DATASETS))
    return "\n".join(lines)
