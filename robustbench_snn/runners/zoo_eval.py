"""``rbsnn eval`` and ``rbsnn sweep`` as library calls on the zoo: models by name (or
``all``), every option checked before any work, one :class:`~.sweep.EvalSpec` per row, and
one evaluation from its checkpoint to its upserted row."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..attacks.norms import NORMS
from ..core.budget import Eps
from ..core.errors import UnknownNameError, UserInputError
from ..core.neurons import GRAD_MODES
from ..core.surrogate import SurrogateChoice
from ..data.catalog import DATASETS
from ..data.dataset import Dataset
from ..data.events import EVENT_DATASETS, require_event_data
from ..evaluation.compiled import COMPILE_MODES
from ..evaluation.model_checks import possible_surrogate_attack_labels
from ..evaluation.settings import attack_names, check_attack_fits, check_choice
from ..models.registry import list_models
from ..models.zoo import DEFAULT_ZOO, missing_checkpoint, zoo_models
from ..results.benchmark_result import BenchmarkResult
from ..results.leaderboard import check_folder_writable, refuse_smaller, upsert
from .sweep import EvalSpec


def resolve_zoo_dir(zoo_dir: str | None, publish: bool) -> str | None:
    """Refuse a zoo folder that is a file; when publishing with no zoo named, read only the
    repository's zoo, so a committed row never comes from a user's checkpoint."""

    if zoo_dir is not None and Path(zoo_dir).exists() and not Path(zoo_dir).is_dir():
        raise UserInputError(f"--zoo-dir {zoo_dir!r} is a file, not a folder")
    if publish and zoo_dir is None and not os.environ.get("RBSNN_ZOO"):
        return str(DEFAULT_ZOO)
    return zoo_dir


def per_example_folder(value: str | None) -> Path | None:
    """``--per-example DIR``, checked writable before any work."""

    if value is None:
        return None
    check_folder_writable(Path(value), "--per-example")
    return Path(value)


def require_zoo_model(model: str, dataset: str, available: list[str], allow_all: bool = False) -> None:
    """Fail before any work, naming the fix, unless ``model`` has a zoo checkpoint for ``dataset``."""

    if model in available:
        return
    if model in list_models():
        raise missing_checkpoint(model, dataset)
    raise UnknownNameError("model", model, (["all"] if allow_all else []) + sorted(set(available) | set(list_models())))


def zoo_model_names(model: str, dataset: str, zoo_dir: str | None) -> list[str]:
    """``[model]`` checked against the zoo, or every checkpoint of ``dataset`` for ``all``."""

    check_choice("dataset", dataset, DATASETS)
    available = zoo_models(dataset, zoo_dir)
    if model == "all":
        if not available:
            raise UserInputError(f"no zoo checkpoints for {dataset!r}; train one with `rbsnn train --model M --dataset {dataset}`")
        return available
    require_zoo_model(model, dataset, available, allow_all=True)
    return [model]


def check_eval_options(spec: EvalSpec) -> Eps:
    """Every option of one ``rbsnn eval`` / ``sweep`` row checked before any work, in the
    command line's words (``--norm``, ``--eps``...); returns the budget."""

    check_choice("attack", spec.attack, attack_names())
    check_choice("gradient mode", spec.grad, GRAD_MODES)
    check_choice("norm", spec.norm, NORMS)
    check_choice("compile mode", spec.compile, COMPILE_MODES)
    require_event_data(spec.norm, spec.dataset, spec.dataset in EVENT_DATASETS)
    check_attack_fits(spec.attack, spec.norm, "--norm")
    eps = spec.budget
    if spec.alpha is not None and Eps.parse(spec.alpha, spec.norm, "--alpha").value == 0:
        raise UserInputError(f"bad --alpha {spec.alpha!r}; the step size must be > 0")
    SurrogateChoice.parse(spec.surrogate)
    return eps


@dataclass
class ZooEvaluation:
    """One zoo model evaluated: its result and its row, not yet written anywhere."""

    result: BenchmarkResult
    row: dict
    data: Dataset

    def save(self, out: Path | None, force: bool = False, per_example_dir: Path | None = None) -> Path | None:
        """Upsert the row into ``out`` (unless None) and write the per-example scores into
        ``per_example_dir`` (if given); returns the per-example file."""
        if out is not None:
            upsert(out, self.row, force=force)
        if per_example_dir is None:
            return None
        return self.result.save_per_example(per_example_dir, self.row, self.data.example_ids, self.data.y)


def evaluate_zoo_model(spec: EvalSpec, data: Dataset, *, out: Path | None, commit: str, device: str, progress: bool,
                       force: bool = False, announce: Callable[[str], None] = lambda _: None,
                       resume_file: Path | None = None) -> ZooEvaluation:
    """Evaluate ``spec``'s checkpoint on ``data`` into a row, refusing first, unless ``force``,
    a run that would replace a row of ``out`` evaluated on more examples. Nothing is written
    (:meth:`ZooEvaluation.save` does), so a caller can show the numbers before any file can
    fail. ``announce`` hears what is about to run; ``resume_file``: where a composite attack
    logs its members (:mod:`robustbench_snn.evaluation.member_log`)."""

    model, card = spec.checkpoint()
    eps = spec.budget.value
    if out is not None and not force:
        key = {"model": spec.model, "dataset": spec.dataset, "norm": spec.norm, "eps": eps, "attack": spec.attack, "grad": spec.grad}
        refuse_smaller(out, key, possible_surrogate_attack_labels(spec.surrogate, spec.attack, card["surrogate"]), len(data))
    announce(f"{spec.model} on {spec.dataset} ({len(data)} examples): {spec.attack} {spec.norm} eps={spec.eps_text} "
             f"steps={spec.steps} surrogate={spec.surrogate or 'own'} grad={spec.grad}")
    result = spec.run(model, card, data, device=device, progress=progress, resume_file=resume_file)
    s = result.settings
    return ZooEvaluation(result, result.row(command=spec.command(s["eot"], s["draws"], len(data)), commit=commit), data)
