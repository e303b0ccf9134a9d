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

import math
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from .attacks import ATTACKS, NORMS, check_norm
from .attacks.apgd import apgd_ticks
from .attacks.gradient import copies_per_pass, has_input_gradient
from .attacks.sapgd import ASSG, ASSG_STEPS, assg_config, assg_params
from .core.atomic import atomic_write_bytes
from .core.errors import UnknownNameError, UserInputError
from .core.limits import MAX_SAMPLES, MAX_STEPS, check_count, check_seed
from .core.neurons import GRAD_MODES
from .core.surrogate import Surrogate
from .data.catalog import DATASETS, load_dataset
from .data.dataset import Dataset
from .data.events import require_event_data
from .evaluation.compiled import COMPILE_MODES, CompileStats, compiled_path, skipped_reason, worth_compiling
from .evaluation.cost import counting_passes
from .evaluation.ensemble19 import LOSSES, RATE_ESTIMATORS, SURROGATE_ESTIMATORS, ensemble19_evaluation
from .evaluation.harness import AttackConfig, accuracies, evaluate, evaluate_worst_case, sweep_surrogates
from .evaluation.memory import available_bytes, check_attack_memory, saved_bytes_per_input
from .evaluation.standard import (
    APGD_STEPS, APGD_SURROGATES, EXACT_TARGETED_STEPS, EXACT_TARGETS, STANDARD_SURROGATES, spike_free, standard_evaluation,
    transfer_source_names,
)
from .interop.foreign_neurons import (
    BPDA_SURROGATE, ResetEachPass, attack_surrogate, check_stateless, find_neurons, has_exact_gradient, neuron_summary,
    require_module, require_neurons, with_reset, zero_backward_neurons,
)
from .interop.spike_tracing import trace_spikes
from .models import zoo
from .models.zoo import load_checkpoint
from .results.leaderboard import json_cell, per_example_name
from .results.provenance import host, today, version

#: Default budget per threat model as typed (``rbsnn eval --eps``; inputs in [0, 1]; events: a count) ...
DEFAULT_EPS_TEXT = {"linf": "8/255", "l2": "0.5", "events": "20"}
#: ... and its value.
DEFAULT_EPS = {norm: float(Fraction(text)) for norm, text in DEFAULT_EPS_TEXT.items()}
#: Composite attacks defined for the Linf ball only.
LINF_ONLY = ("assg", "ensemble19")
#: EOT samples per gradient and scoring draws for a stochastic model (fixed: results must not depend on the host).
STOCHASTIC_EOT = 10
STOCHASTIC_DRAWS = 10
#: Examples the input checks (output shape, finiteness, statefulness, gradient path) run on.
CHECK_EXAMPLES = 8


@dataclass
class BenchmarkResult:
    """What one evaluation measured, and the parameters that actually ran.

    Accuracies are percentages with two decimals, as in the leaderboard CSVs.
    ``per_attack`` maps each member to the robust accuracy after it joined
    (cumulative, non-increasing) for ``standard``, or each surrogate's own
    robust accuracy for a sweep. ``params`` maps each member to its parameters.
    """

    clean_acc: float
    robust_acc: float
    flags: list[str]
    per_attack: dict[str, float]
    params: dict[str, dict[str, Any]]
    seconds: float
    model_info: dict[str, Any]
    settings: dict[str, Any]
    member_seconds: dict[str, float] = field(default_factory=dict)
    clean_per_example: torch.Tensor | None = None
    robust_per_example: torch.Tensor | None = None
    #: forward and backward passes per example, counted (:mod:`.cost`), transfer sources included
    passes: dict[str, float] = field(default_factory=dict)
    #: the per-example scores behind ``per_attack`` (fractions in [0, 1])
    per_attack_per_example: dict[str, torch.Tensor] = field(default_factory=dict)
    #: forward and backward passes in all, counted (``passes`` divides them by the examples)
    pass_totals: dict[str, int] = field(default_factory=dict)

    def row(self, **extra: Any) -> dict[str, Any]:
        """The leaderboard row (``leaderboard.COLUMNS`` plus ``acc_<member>`` columns);
        ``extra`` adds or overrides provenance fields such as ``command`` and ``commit``."""

        s, info = self.settings, self.model_info
        row = {
            "model": info["name"], "dataset": s["dataset"], "defense": info.get("defense", "unknown"),
            "encoder": info["encoder"], "T": info["T"], "neuron": info["neuron"],
            "surrogate_train": info.get("surrogate_train", "unknown"), "surrogate_attack": s["surrogate_attack"],
            "grad": s["grad"], "attack": s["attack"], "norm": s["threat_model"], "eps": s["eps"], "steps": s["steps"],
            "alpha": s["alpha"], "eot": s["eot"], "draws": s["draws"], "n_examples": s["n_examples"],
            "clean_acc": self.clean_acc, "robust_acc": self.robust_acc,
            "attacks": ",".join(self.per_attack) if s["attack"] in COMPOSITE_ATTACKS or s["surrogate"] == "all" else "",
            "flags": ";".join(self.flags), "params": json_cell(self.params),
            "fwd_per_example": self.passes.get("forward"), "bwd_per_example": self.passes.get("backward"),
            "seconds": round(self.seconds, 1),
            "source": info.get("source", "api"), "claimed_clean": None, "claimed_robust": None, "seed": s["seed"], "date": today(), "version": version(),
            "commit": "unknown", "command": "",
        }
        if s["attack"] in COMPOSITE_ATTACKS:
            row.update({f"acc_{k}": v for k, v in self.per_attack.items()})
        row.update(extra)
        return row

    def per_example_table(self, example_ids: torch.Tensor, labels: torch.Tensor):
        """One line per evaluated example, in order: ``example`` (its index in the split),
        ``label``, ``clean`` and ``robust`` (fractions of the scoring draws that predicted the
        label; 0 or 1 for a deterministic model) and, for a composite attack, ``acc_<member>``:
        the per-example scores behind the row's column of that name. Each column's mean x 100
        is the row's number, so a subset's accuracy (the first 500 images, the images one
        member broke) can be read off without re-running the attack."""

        if self.clean_per_example is None or self.robust_per_example is None:
            raise ValueError("this result holds no per-example scores")
        table = {
            "example": example_ids.cpu().long().numpy(), "label": labels.cpu().long().numpy(),
            "clean": self.clean_per_example.cpu().double().numpy(), "robust": self.robust_per_example.cpu().double().numpy(),
        }
        if self.settings["attack"] in COMPOSITE_ATTACKS:
            table.update({f"acc_{k}": v.cpu().double().numpy() for k, v in self.per_attack_per_example.items()})
        return pd.DataFrame(table)

    def save_per_example(self, folder: Path, row: dict[str, Any], example_ids: torch.Tensor, labels: torch.Tensor) -> Path:
        """Write :meth:`per_example_table` atomically to ``folder`` under the row's
        :func:`~robustbench_snn.results.leaderboard.per_example_name` (``rbsnn eval`` and ``rbsnn sweep
        --per-example``); returns the file's path."""

        folder.mkdir(parents=True, exist_ok=True)
        path = folder / per_example_name(row)
        atomic_write_bytes(path, self.per_example_table(example_ids, labels).to_csv(index=False, float_format="%.6g").encode())
        return path


def parse_eps(value: float | str | None, threat_model: str, name: str = "eps") -> float:
    """``8/255``, ``'8/255'``, ``0.03`` or ``None`` (the threat model's default) -> float >= 0;
    ``name`` is how the value is called in the error message (``--alpha`` on the command line)."""
    if value is None:
        return DEFAULT_EPS[threat_model]
    try:
        eps = float(Fraction(value)) if isinstance(value, str) else float(value)
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        raise UserInputError(f"bad {name} {value!r}; give a number or a fraction such as 8/255") from None
    if not (eps >= 0 and eps < float("inf")):
        raise UserInputError(f"bad {name} {value!r}; it must be a finite number >= 0")
    if 0 < eps < 5e-7:  # a board keeps eps to 6 decimals: the row would say 0, a budget that was not run
        raise UserInputError(f"bad {name} {value!r}; a budget above 0 must be at least 5e-7 (boards keep 6 decimals, so it would read as 0)")
    if threat_model == "linf" and eps > 1:
        raise UserInputError(f"bad {name} {value!r}; inputs are in [0, 1], so a Linf budget must be in [0, 1]")
    if threat_model == "events" and eps != int(eps):
        raise UserInputError(f"bad {name} {value!r}; under --norm events the budget is a whole number of events (e.g. 20)")
    return eps


def check_budget(eps: float, threat_model: str, input_values: int) -> None:
    """Refuse an L2 budget larger than the diagonal of the input box ``[0, 1]^d``
    (``sqrt(d)``): every input would be reachable, so the number describes nothing
    about the model and the row's eps would be a typo on record. Likewise an events budget
    above the number of event cells ``d`` (a flip attack cannot flip more)."""
    if threat_model == "events" and eps > input_values:
        raise UserInputError(f"bad eps {eps:g} under events: an input has {input_values} event cells (time bins x polarities x "
                             f"pixels), so at most {input_values} events can be flipped; valid: 0-{input_values}")
    if threat_model == "l2" and eps > math.sqrt(input_values):
        raise UserInputError(f"bad eps {eps:g} under l2: inputs have {input_values} values in [0, 1], so a budget above "
                             f"sqrt({input_values}) = {math.sqrt(input_values):.4g} covers the whole input box; valid: "
                             f"0-{math.sqrt(input_values):.4g}")


def check_attack_fits(attack: str, threat_model: str, flag: str = "threat model") -> None:
    """Refuse an attack outside its threat models (``flag``: how the threat model is called
    in the message, ``--norm`` on the command line)."""

    if attack in LINF_ONLY and threat_model != "linf":
        raise UserInputError(f"attack {attack!r} is defined for the linf ball, got {flag} {threat_model}; valid: linf")
    if attack in ATTACKS:
        check_norm(attack, threat_model)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserInputError("device 'cuda' requested but no CUDA device is available; valid: auto, cpu")
    if device not in ("cpu", "cuda"):
        raise UnknownNameError("device", device, ["auto", "cpu", "cuda"])
    return device


def describe(model: nn.Module) -> dict[str, Any]:
    """Encoder, T, neuron and training surrogate of ``model`` for its row."""

    inner = model.model if isinstance(model, ResetEachPass) else model
    if hasattr(inner, "config") and callable(inner.config):
        try:
            config = inner.config()
            return {"encoder": config["encoder"], "T": config["T"], "neuron": config["neuron"], "surrogate_train": config["surrogate"]}
        except (NotImplementedError, KeyError, TypeError, AttributeError, IndexError):
            pass  # a user's own config(): describe it from the outside
    info = inner.describe() if hasattr(inner, "describe") and callable(inner.describe) else {}
    return {"encoder": info.get("encoder", "unknown"), "T": info.get("T", 0), "neuron": neuron_summary(inner), "surrogate_train": "own"}


def check_model(model: nn.Module, x: torch.Tensor, num_classes: int) -> None:
    """Refuse, with a one-line reason, a model whose output on ``x`` is not finite logits ``[B, K]``."""
    try:
        with torch.no_grad():
            out = model(x)
    except UserInputError:
        raise
    except Exception as e:  # noqa: BLE001 - a user's model may fail in any way; say how, in one line
        raise UserInputError(f"the model failed on a batch of shape {list(x.shape)}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    if not isinstance(out, torch.Tensor):
        raise UserInputError(f"the model returned {type(out).__name__}, expected a logits tensor [B, {num_classes}] (wrap time-major models in TimeMajor)")
    if tuple(out.shape) != (len(x), num_classes):
        raise UserInputError(
            f"the model's output has shape {list(out.shape)} for {len(x)} inputs; expected [{len(x)}, {num_classes}] "
            f"(logits; wrap a model returning [T, B, K] in TimeMajor)"
        )
    if not torch.isfinite(out).all():
        raise UserInputError(f"the model's output is not finite (NaN or inf in {int((~torch.isfinite(out)).sum())} of {out.numel()} logits)")


def is_stochastic(model: nn.Module, x: torch.Tensor) -> bool:
    """``model.stochastic`` if it says; else whether two passes on ``x`` differ."""
    declared = getattr(model, "stochastic", None)
    if isinstance(declared, bool):
        return declared
    with torch.no_grad():
        return not torch.equal(model(x), model(x))


def surrogate_attack_label(surrogate: str | None, attack: str, surrogate_train: str, *, whitebox: bool, bpda: bool) -> str:
    """The row's ``surrogate_attack`` (part of its key): the attack's surrogate, the sweep,
    ``not-differentiable``, the BPDA surrogate, the composite attack's name, or the model's own."""

    if surrogate == "all":
        return f"all({len(sweep_surrogates())})"
    if surrogate is not None:
        return str(Surrogate.parse(surrogate))
    if not whitebox:
        return "not-differentiable"
    if bpda:
        return f"bpda:{BPDA_SURROGATE}"
    return attack if attack in COMPOSITE_ATTACKS else surrogate_train


def possible_surrogate_attack_labels(surrogate: str | None, attack: str, surrogate_train: str) -> set[str]:
    """Every ``surrogate_attack`` a run can record before its model checks are known (for the
    ``--force`` check made before the attack)."""
    return {surrogate_attack_label(surrogate, attack, surrogate_train, whitebox=w, bpda=b) for w in (True, False) for b in (True, False)}


@dataclass(frozen=True)
class ModelFacts:
    """What the checks before an evaluation found out about the model."""

    neurons: int  # recognised spiking neurons
    stochastic: bool  # repeated passes on one input may differ
    bpda: bool  # some foreign neuron's own backward is zero: the attacks use BPDA_SURROGATE there
    whitebox: bool  # the logits have an autograd path to the input (under the attack's surrogate)
    saved_bytes: int = 0  # what autograd keeps for one input's backward (robustbench_snn.evaluation.memory)
    tracing: dict | None = None  # spike sites found in the traced graph, or why it was not traced (robustbench_snn.interop.spike_tracing)


@dataclass
class Run:
    """One evaluation as it will run: the wrapped model, the data, the attack settings."""

    model: nn.Module
    data: Any
    cfg: Any  # harness.AttackConfig
    surrogate: Any  # the attack's Surrogate, or None (each neuron's own)
    member_surrogate: str  # what the white-box members backpropagate, for params
    kw: dict[str, Any]  # draws, seed, quiet
    batch_size: int
    facts: ModelFacts
    sources: Any  # () -> ({member: model}, {member: source name}), for transfer members
    evidence: bool = True  # gather masking evidence (False on a shard other than the first)


@dataclass
class Outcome:
    result: Any  # harness.EvalResult
    per_example: dict[str, torch.Tensor]  # member or surrogate -> per-example scores (BenchmarkResult.per_attack)
    params: dict[str, dict[str, Any]]
    flags: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    steps: int | None = None  # for the row's steps / alpha columns
    alpha: float | None = None


def _percent(per_example: dict[str, torch.Tensor]) -> dict[str, float]:
    """Each member's accuracy (mean of its per-example scores) as a percentage with two decimals, as rows hold them."""

    return {k: round(100 * v, 2) for k, v in accuracies(per_example).items()}


#: Attacks that are compositions of members (name -> runner), beside the registered single attacks.
COMPOSITE_ATTACKS: dict[str, Any] = {}
#: name -> one line for ``rbsnn list``
COMPOSITE_HELP: dict[str, str] = {}


def register_composite(name: str, help: str):
    def deco(fn):
        COMPOSITE_ATTACKS[name], COMPOSITE_HELP[name] = fn, help
        return fn

    return deco


@register_composite("standard", "APGD-CE, APGD-T, PGD under 4 surrogates + RGA, ASSG + SA-PGD, APGD-CE under 5 surrogate families + RGA, Square, transfers; per example (no spike in the model: APGD-CE, continued APGD-T, Square)")
def run_standard(run: Run) -> Outcome:
    """The standard ensemble (:func:`.standard.standard_evaluation`), members counted per example."""

    sources, names = ({}, {}) if spike_free(run.model, run.cfg) else run.sources()  # no transfer member there
    std = standard_evaluation(run.model, run.data, run.cfg, sources, whitebox=run.facts.whitebox, source_names=names,
                              evidence=run.evidence, **run.kw)
    params = std.params
    for member in ("apgd-ce", "apgd-t"):
        if member in params:
            params[member]["surrogate"] = run.member_surrogate
    if not sources and "transfer" not in params:
        params["transfer"] = {"skipped": f"no source models (ann-cnn, snn-cnn) in the zoo for {run.data.name!r}"}
    return Outcome(std.result, std.per_example, params, std.flags, std.seconds, APGD_STEPS, None)


@register_composite("ensemble19", "peer: APGD-CE and APGD-DLR under 19 gradient estimators (Ozdenizci & Legenstein 2024)")
def run_ensemble19(run: Run) -> Outcome:
    """Özdenizci & Legenstein's 19-estimator ensemble (:mod:`.ensemble19`), a peer of ``standard``."""

    ens = ensemble19_evaluation(run.model, run.data, run.cfg, **run.kw)
    flags = [] if run.facts.whitebox else ["no-gradient"]
    return Outcome(ens.result, ens.per_example, ens.params, flags, ens.seconds, APGD_STEPS, None)


@register_composite("assg", "peer: SA-PGD through the adaptive-sharpness surrogate (Wang et al. 2025), Linf")
def run_assg(run: Run) -> Outcome:
    """ASSG + SA-PGD (Wang et al., arXiv 2512.22522; :mod:`.assg`, :mod:`.attacks.sapgd`), a peer of ``standard``."""

    res = evaluate(run.model, run.data, assg_config(run.cfg), spec=ASSG, label="assg", batch_size=run.batch_size, **run.kw)
    flags = [] if run.facts.whitebox else ["no-gradient"]
    return Outcome(res, {}, {"assg": assg_params(run.model, run.cfg.eot)}, flags, {}, ASSG_STEPS, None)


def run_sweep(run: Run) -> Outcome:
    """``surrogate="all"``: the attack once per surrogate of the sweep, worst case per example."""

    res, each = evaluate_worst_case(run.model, run.data, run.cfg, sweep_surrogates(), batch_size=run.batch_size, **run.kw)
    params = {run.cfg.attack: {**ATTACKS[run.cfg.attack].records(run.cfg, "all", run.kw["seed"]), "surrogates": list(each)}}
    return _single_outcome(run, res, each, params)


def run_single(run: Run) -> Outcome:
    """One registered attack."""

    res = evaluate(run.model, run.data, run.cfg, surrogate=run.surrogate, batch_size=run.batch_size, **run.kw)
    return _single_outcome(run, res, {}, {run.cfg.attack: ATTACKS[run.cfg.attack].records(run.cfg, run.member_surrogate, run.kw["seed"])})


def _single_outcome(run: Run, res, per_example, params) -> Outcome:
    attack = run.cfg.attack
    flags = ["no-gradient"] if not run.facts.whitebox and ATTACKS[attack].follows_gradient else []
    return Outcome(res, per_example, params, flags, {}, 1 if attack == "fgsm" else run.cfg.steps, params[attack].get("alpha"))


def prepare_model(model: nn.Module, data, device: str, surrogate, sweep: bool) -> tuple[nn.Module, ModelFacts]:
    """``model`` on ``device`` in eval mode, wrapped to reset its neurons before every pass,
    and checked: finite logits of the right shape, no state left across passes. A model with
    no recognised neuron and no provable freedom from spikes is traced, and spike sites found
    in its graph get a surrogate backward (:func:`.spike_tracing.trace_spikes`)."""

    model = with_reset(model.to(device).eval())
    probe = data.x[:CHECK_EXAMPLES].to(device)
    other = data.x[CHECK_EXAMPLES : 2 * CHECK_EXAMPLES + 1].to(device) if len(data) > CHECK_EXAMPLES else probe[:1]
    tracing = None
    with torch.random.fork_rng(devices=[]):  # the checks draw no numbers the evaluation would see
        check_model(model, probe, data.num_classes)
        check_stateless(model, probe, other)
        if not find_neurons(model) and not has_exact_gradient(model):
            traced = trace_spikes(model, probe)
            tracing = traced.record()
            model = traced.model or model
        stochastic = is_stochastic(model, probe)
        bpda = surrogate is None and not sweep and bool(zero_backward_neurons(model))
        with attack_surrogate(model, surrogate):
            whitebox = has_input_gradient(model, probe)
            saved = saved_bytes_per_input(model, probe[:1])
    return model, ModelFacts(len(find_neurons(model)), stochastic, bpda, whitebox, saved, tracing)


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
) -> BenchmarkResult:
    """Attack ``model`` on ``dataset`` and score it (see the module docstring).
    It runs with autograd enabled whatever the caller's grad mode: under
    ``torch.no_grad()`` or ``torch.inference_mode()``, or after a model file's
    ``torch.set_grad_enabled(False)``,
    every white-box member would otherwise get a zero gradient and report a
    robustness the model does not have.

    ``attack``: ``standard`` (the ensemble of :mod:`.standard`) or any
    registered attack (``pgd``, ``apgd-ce``, ``square``...). ``surrogate``:
    ``None`` (each neuron's own, BPDA where it is zero), ``name[:width]``, or
    ``all`` (worst case over the sweep). ``eot`` / ``draws`` default to
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
    """

    start = time.perf_counter()
    # --- validate every argument before any work -------------------------------------
    require_module(model, "benchmark")
    if threat_model not in NORMS:
        raise UnknownNameError("threat model", threat_model, NORMS)
    if attack not in (*ATTACKS, *COMPOSITE_ATTACKS):
        raise UnknownNameError("attack", attack, [*ATTACKS, *COMPOSITE_ATTACKS])
    if grad not in GRAD_MODES:
        raise UnknownNameError("gradient mode", grad, GRAD_MODES)
    if compile not in COMPILE_MODES:
        raise UnknownNameError("compile mode", compile, COMPILE_MODES)
    check_attack_fits(attack, threat_model)
    eps_value = parse_eps(eps, threat_model)
    alpha_value = parse_eps(alpha, threat_model, "alpha") if alpha is not None else None
    if alpha_value == 0:
        raise UserInputError("bad alpha 0; the step size must be > 0")
    for label, value, high in (("eot", eot, MAX_SAMPLES), ("draws", draws, MAX_SAMPLES), ("steps", steps, MAX_STEPS),
                               ("batch_size", batch_size, None), ("n_examples", n_examples, None)):
        if value is not None:
            check_count(label, value, high)
    check_seed(seed)
    if info is not None and not isinstance(info, dict):
        raise UserInputError(f"bad info {info!r}; give a dict of extra row fields")
    if name is not None and not isinstance(name, str):
        raise UserInputError(f"bad name {name!r}; give the model's name as a string")
    sweep = surrogate == "all"
    attack_sg = Surrogate.parse(surrogate) if surrogate is not None and not sweep else None
    device = resolve_device(device)
    if data is not None and not isinstance(data, Dataset):
        raise UserInputError(f"bad data {type(data).__name__}; give a robustbench_snn.data.dataset.Dataset (load_dataset(...)), or a dataset name")
    if data is None:
        if dataset not in DATASETS:
            raise UnknownNameError("dataset", dataset, DATASETS)
        data = load_dataset(dataset, "test", data_dir).head(n_examples)
    data.check()
    if shard is not None and not (isinstance(shard, tuple) and len(shard) == 2 and 0 <= shard[0] < shard[1] <= len(data)):
        raise UserInputError(f"bad shard {shard!r}; it must be (start, stop) with 0 <= start < stop <= {len(data)}")
    events = data.x.dim() == 5  # event frames [N, T, 2, H, W] (robustbench_snn.data.events)
    numel = data.x[0].numel()  # input values per example
    require_event_data(threat_model, data.name, events, "threat_model")
    check_budget(eps_value, threat_model, numel)
    _check_transfer_sources(transfer_sources, data.name, zoo_dir)
    # --- the model: reset before every pass, checked -------------------------------
    model, facts = prepare_model(model, data, device, attack_sg, sweep)
    n_total = len(data)  # what the row describes; a shard attacks part of it
    if shard is not None:
        data = data.subset(torch.arange(*shard))
    if surrogate is not None:
        require_neurons(model, f"surrogate {surrogate!r}")
    if grad != "bptt":
        require_neurons(model, f"gradient mode {grad!r}")
    eot = eot or (STOCHASTIC_EOT if facts.stochastic else 1)
    draws = draws or (STOCHASTIC_DRAWS if facts.stochastic else 1)
    if attack in ATTACKS:
        ATTACKS[attack].check_eot(threat_model, eot, f"attack {attack!r}")
    described = describe(model)
    batch = min(batch_size, len(data))
    check_attack_memory(facts.saved_bytes, batch, copies_per_pass(batch * numel, eot), described.get("T"), available_bytes(device))
    model_info = {"name": name or type(model.model if isinstance(model, ResetEachPass) else model).__name__, **described, **(info or {})}
    own = f"bpda:{BPDA_SURROGATE}" if facts.bpda else described["surrogate_train"]  # "none": ANN; "own": unrecognised spiking code
    surrogate_label = surrogate_attack_label(surrogate, attack, described["surrogate_train"], whitebox=facts.whitebox, bpda=facts.bpda)
    cfg = AttackConfig(attack if attack not in COMPOSITE_ATTACKS else "pgd", threat_model, eps_value, steps, alpha_value, eot, grad=grad)
    # --- run (the model and the transfer sources on the compiled path) --------------
    stats = CompileStats(compile)

    plan_as = "standard/spike-free" if attack == "standard" and spike_free(model, cfg) else attack  # its smaller ensemble
    work, graphs = n_total * eot * gradient_steps(plan_as, cfg, sweep) * numel, expected_graphs(plan_as, sweep)
    compile_mode = worth_compiling(compile, work, graphs)
    if compile_mode != compile:
        stats.skipped = skipped_reason(work, graphs)
    # transfer sources are attacked for cfg.steps PGD steps, one draw: their own decision
    source_mode = worth_compiling(compile, n_total * cfg.steps * numel)
    with ExitStack() as stack:
        # inference too: an attack's scoring passes, Square's queries and the masking checks
        stack.enter_context(compiled_path(model, compile_mode, stats, inference=True))
        passes = stack.enter_context(counting_passes(model))

        def sources():
            found = _transfer_sources(transfer_sources, data.name, model_info["name"], zoo_dir, device)
            for source in found[0].values():
                stack.enter_context(compiled_path(source, source_mode, stats))
                stack.enter_context(counting_passes(source, passes))
            return found

        run = Run(
            model, data, cfg, attack_sg, str(attack_sg) if attack_sg is not None else own,
            {"draws": draws, "seed": seed, "quiet": not progress}, batch_size, facts, sources, shard is None or shard[0] == 0,
        )
        runner = COMPOSITE_ATTACKS.get(attack) or (run_sweep if sweep else run_single)
        out = runner(run)
    out.params["compile"] = stats.record()
    if facts.tracing is not None:
        out.params["spike-tracing"] = facts.tracing
    out.params["host"] = host()
    if events and threat_model in ("linf", "l2"):
        out.params["threat model"] = {"frame-space": "the binned event frames are perturbed as images; no sensor can produce that"}
    if stats.compiles:
        out.seconds["compile"] = stats.seconds
    settings = {
        "dataset": data.name, "threat_model": threat_model, "eps": eps_value, "attack": attack, "steps": out.steps,
        "alpha": out.alpha, "eot": eot, "draws": draws, "seed": seed, "grad": grad, "surrogate": surrogate,
        "surrogate_attack": surrogate_label, "n_examples": n_total, "device": device, "batch_size": batch_size,
        "compile": compile, **({"shard": list(shard)} if shard is not None else {}),
    }
    res = out.result
    return BenchmarkResult(
        round(100 * res.clean_acc, 2), round(100 * res.robust_acc, 2), out.flags, _percent(out.per_example), out.params,
        time.perf_counter() - start, model_info, settings, out.seconds, res.clean_per_example, res.robust_per_example,
        passes.per_example(len(data)), out.per_example, {"forward": passes.forward, "backward": passes.backward},
    )


def gradient_steps(attack: str, cfg, sweep: bool = False) -> int:
    """Input gradients per example ``attack`` makes at most (for ``standard``: its white-box
    and transfer members, ``standard/spike-free`` its ensemble on a model without spikes;
    ``sweep``: once per surrogate of the sweep); decides whether
    ``compile="auto"`` compiles."""

    if sweep:
        return len(sweep_surrogates()) * gradient_steps(attack, cfg)
    if attack == "standard/spike-free":  # a model with no spike: APGD-CE, the continued APGD-T (standard.py)

        return apgd_ticks(APGD_STEPS, cfg.eot) + EXACT_TARGETS * apgd_ticks(EXACT_TARGETED_STEPS, cfg.eot)
    if attack == "standard":

        apgd = ATTACKS["apgd-ce"].gradient_steps(APGD_STEPS, cfg.eot) + ATTACKS["apgd-t"].gradient_steps(APGD_STEPS, cfg.eot)
        apgd_surrogates = (len(APGD_SURROGATES) + 1) * ATTACKS["apgd-ce"].gradient_steps(APGD_STEPS, cfg.eot)
        # the surrogate sweep, two transfers, ASSG, APGD-CE under the surrogate families
        return apgd + (len(STANDARD_SURROGATES) + 2) * cfg.steps + gradient_steps("assg", cfg) + apgd_surrogates
    if attack == "assg":

        return (ASSG_STEPS + 1) * cfg.eot
    if attack == "ensemble19":

        return (len(SURROGATE_ESTIMATORS) + len(RATE_ESTIMATORS)) * sum(ATTACKS[loss].gradient_steps(APGD_STEPS, cfg.eot) for loss in LOSSES)
    return ATTACKS[attack].gradient_steps(cfg.steps, cfg.eot)


def expected_graphs(attack: str, sweep: bool = False) -> int:
    """Graphs ``compile="auto"`` would compile for ``attack``: one gradient graph per surrogate
    family and rate-gradient mode it differentiates through (a new width reuses its family's
    graph; the model's own surrogate counted apart; ASSG two: its passes that update the
    moments and those that read them), plus the frozen inference graph."""

    def families(specs) -> int:
        return len({Surrogate.parse(str(spec)).name for spec in specs})

    if sweep:

        return families(sweep_surrogates()) + 1
    if attack == "standard":

        return 1 + families(STANDARD_SURROGATES + APGD_SURROGATES) + 1 + 2 + 1  # own, the sweeps, rga, ASSG, inference
    if attack == "ensemble19":

        return families(SURROGATE_ESTIMATORS) + len(RATE_ESTIMATORS) + 1
    return 3 if attack == "assg" else 2


def _transfer_sources(given, dataset: str, target: str, zoo_dir, device: str) -> tuple[dict[str, nn.Module], dict[str, str]]:
    """``({member: model}, {member: source name})`` for the standard evaluation's transfer
    members. ``given``: None (:data:`~.standard.TRANSFER_SOURCES`, each skipped when the zoo
    lacks it), or ``{member: model or zoo name}`` (a named model must be in the zoo)."""

    sources, names = {}, {}
    for member, source in (transfer_source_names(target) if given is None else dict(given)).items():
        if isinstance(source, nn.Module):
            sources[member], names[member] = source, getattr(source, "name", member)
        elif (root := _zoo_root(source, dataset, zoo_dir)) is not None:
            sources[member], names[member] = load_checkpoint(source, dataset, root)[0].to(device), source
    return sources, names


def _zoo_root(source: str, dataset: str, zoo_dir) -> Path | None:
    """The zoo holding ``source`` for ``dataset``: the zoos read (``zoo_dir`` or ``$RBSNN_ZOO``,
    else the user's), else the repository's; None if none does."""

    roots = dict.fromkeys([*zoo.zoo_roots(zoo_dir), zoo.DEFAULT_ZOO])
    return next((root for root in roots if source in zoo.zoo_models(dataset, root)), None)


def _check_transfer_sources(given, dataset: str, zoo_dir) -> None:
    """Refuse, before any attack, a transfer source named by a zoo name the zoo lacks."""
    for member, source in (given or {}).items():
        if isinstance(source, str) and _zoo_root(source, dataset, zoo_dir) is None:
            raise UserInputError(f"transfer source {source!r} for {member} has no {dataset!r} checkpoint in {zoo_dir or 'the zoo'}")


__all__ = ["BenchmarkResult", "benchmark", "check_model", "describe"]
