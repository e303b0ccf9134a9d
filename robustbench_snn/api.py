"""``benchmark()``: the public API -- evaluate any SNN (or ANN) at full attack strength.

As RobustBench's ``benchmark(model, n_examples, dataset, threat_model, eps)``
(``robustbench/eval.py``), one library call does what ``rbsnn eval`` and
``rbsnn submit`` do; the CLI only loads a model, calls it and writes the row::

    from robustbench_snn import benchmark
    result = benchmark(my_snn, dataset="digits", threat_model="linf", eps=8/255)
    print(result.clean_acc, result.robust_acc, result.flags)

``model`` is any ``nn.Module`` mapping ``[B, C, H, W]`` in [0, 1] to logits
``[B, K]`` (wrap time-major models in :class:`~robustbench_snn.TimeMajor`).
Its spiking neurons -- ours, SpikingJelly's or snntorch's -- are found by
:mod:`.interop`: their state is reset before every forward pass, the attack
surrogate and gradient mode reach them, and neurons whose own backward is
zero get a real surrogate in the white-box members (BPDA). A model with no
input gradient at all is flagged ``no-gradient`` and attacked by the
black-box and transfer members only.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .core.errors import UserInputError
from .core.limits import MAX_NAME
from .evaluation.execute import execute
from .evaluation.member_log import MemberLog, evaluation_identity
from .evaluation.model_checks import check_model, describe, prepare_model
from .evaluation.plan import plan
from .evaluation.settings import check_arguments, check_resume_file, checked_data
from .evaluation.transfer_sources import check_transfer_sources
from .interop.foreign_neurons import require_module
from .results.benchmark_result import BenchmarkResult, record
from .results.provenance import CODE_PATHS, git_commit, version


@torch.inference_mode(False)
@torch.enable_grad()
def benchmark(
    model: nn.Module,
    *,
    dataset: str = "digits",
    threat_model: str = "linf",
    eps: float | str | None = None,
    attack: str = "standard",
    n_examples: int | None = None,
    data_dir: str | Path | None = None,
    surrogate: str | None = None,
    grad: str = "bptt",
    eot: int | None = None,
    draws: int | None = None,
    seed: int = 0,
    device: str = "auto",
    batch_size: int = 250,
    progress: bool = True,
    steps: int = 10,
    alpha: float | str | None = None,
    name: str | None = None,
    info: dict[str, Any] | None = None,
    transfer_sources: dict[str, nn.Module | str] | None = None,
    zoo_dir: str | Path | None = None,
    data=None,
    compile: str = "auto",
    shard: tuple[int, int] | None = None,
    resume_file: str | Path | None = None,
) -> BenchmarkResult:
    """Attack ``model`` on ``dataset`` and score it (see the module docstring): validate
    (:mod:`.evaluation.settings`), check the model (:mod:`.evaluation.model_checks`), plan
    (:mod:`.evaluation.plan`), run (:mod:`.evaluation.execute`), record
    (:mod:`.results.benchmark_result`).
    It runs with autograd enabled whatever the caller's grad mode: under
    ``torch.no_grad()`` or ``torch.inference_mode()``, or after a model file's
    ``torch.set_grad_enabled(False)``,
    every white-box member would otherwise get a zero gradient and report a
    robustness the model does not have.

    ``attack``: ``standard`` (the ensemble of :mod:`.standard`) or any
    registered attack (``pgd``, ``apgd-ce``, ``square``...). ``surrogate``:
    ``None`` (each neuron's own, BPDA where it is zero), ``name[:width]``, or
    ``all`` (worst case over every surrogate). ``eot`` / ``draws`` default to
    10 / 10 for stochastic models and 1 / 1 otherwise. ``transfer_sources``
    (standard only): ``{member: source model or zoo name}``; by default
    :data:`~.standard.TRANSFER_SOURCES` (the dataset's zoo ``ann-cnn`` and
    ``snn-cnn``, ``rsc-snn`` for ``snn-cnn`` itself) from ``zoo_dir`` or else the repository zoo.
    ``name`` and ``info`` (defense, surrogate_train, source...) only label
    the row. ``data`` replaces loading ``dataset`` (a :class:`~.data.Dataset`).
    ``compile``: ``auto`` runs the attack gradients of models whose structure is
    known through ``torch.compile``, ``on`` also a foreign model's whole forward,
    ``off`` everything eagerly (the reference path; :mod:`.compiled`).
    ``shard=(start, stop)`` attacks only those examples of the evaluation while
    planning it (checks, compile decision, ``n_examples``) as the whole: the
    per-example results are the whole run's, so :func:`.sweep.merge` of the
    shards gives its row. Only the first shard gathers the masking evidence.
    ``resume_file``: a composite attack (``standard``, ``ensemble19``) writes its state there
    after every member; a later call with the same arguments, model and examples resumes
    after the last member finished, with the same numbers, and the file is removed when the
    evaluation ends (:mod:`.evaluation.member_log`). A file of another evaluation is refused.
    """

    started = time.perf_counter()
    require_module(model, "benchmark")
    settings = check_arguments(threat_model=threat_model, eps=eps, attack=attack, steps=steps, alpha=alpha, grad=grad, eot=eot,
                               draws=draws, seed=seed, device=device, batch_size=batch_size, n_examples=n_examples,
                               compile=compile, surrogate=surrogate, shard=shard)
    resume_path = check_resume_file(resume_file)
    if info is not None and not isinstance(info, dict):
        raise UserInputError(f"bad info {info!r}; give a dict of extra row fields")
    if name is not None and not (isinstance(name, str) and name.strip() and name.isprintable() and len(name) <= MAX_NAME):
        raise UserInputError(f"bad name {name!r}; give the model's name: one printable line of 1-{MAX_NAME} characters")
    data = checked_data(settings, dataset, data, data_dir, n_examples)
    check_transfer_sources(transfer_sources, data.name, zoo_dir)
    model, facts = prepare_model(model, data, settings.device, settings.surrogate)
    planned = plan(settings, model, facts, data, name, info)
    log = member_log(resume_path, settings, model, data) if resume_path is not None else None
    outcome, passes, stats = execute(settings, planned, model, facts, data, quiet=not progress,
                                     transfer_sources=transfer_sources, zoo_dir=zoo_dir, log=log)
    attacked = len(data) if shard is None else shard[1] - shard[0]
    result = record(settings, planned, facts, outcome, passes, stats, data, attacked, started - (log.prior_seconds if log else 0.0))
    if log is not None:
        log.finish()
    return result


def member_log(path: Path, settings, model: nn.Module, data) -> MemberLog:
    """The resume file of this evaluation: its identity is the settings (but the batch size,
    which changes no number), the model's weights, the examples and the code's commit."""
    code = f"{version()}/{git_commit(paths=CODE_PATHS)}"
    return MemberLog(path, evaluation_identity(dataclasses.replace(settings, batch_size=0), model, data.x, data.example_ids, code))


__all__ = ["BenchmarkResult", "benchmark", "check_model", "describe"]
