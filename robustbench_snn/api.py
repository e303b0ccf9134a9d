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

import json
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import UnknownNameError, UserInputError

#: Default budget per threat model (inputs in [0, 1]).
DEFAULT_EPS = {"linf": 8 / 255, "l2": 0.5}
#: EOT samples per gradient and scoring draws for a stochastic model (fixed: results must not depend on the host).
STOCHASTIC_EOT = 10
STOCHASTIC_DRAWS = 10
#: Attacks that are compositions of members rather than one registered attack.
COMPOSITE_ATTACKS = ("standard",)
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

    def row(self, **extra: Any) -> dict[str, Any]:
        """The leaderboard row (``leaderboard.COLUMNS`` plus ``acc_<member>`` columns);
        ``extra`` adds or overrides provenance fields such as ``command`` and ``commit``."""
        from .provenance import today, version

        s, info = self.settings, self.model_info
        row = {
            "model": info["name"], "dataset": s["dataset"], "defense": info.get("defense", "unknown"),
            "encoder": info["encoder"], "T": info["T"], "neuron": info["neuron"],
            "surrogate_train": info.get("surrogate_train", "unknown"), "surrogate_attack": s["surrogate_attack"],
            "grad": s["grad"], "attack": s["attack"], "norm": s["threat_model"], "eps": s["eps"], "steps": s["steps"],
            "alpha": s["alpha"], "eot": s["eot"], "draws": s["draws"], "n_examples": s["n_examples"],
            "clean_acc": self.clean_acc, "robust_acc": self.robust_acc,
            "attacks": ",".join(self.per_attack) if s["attack"] in COMPOSITE_ATTACKS or s["surrogate"] == "all" else "",
            "flags": ";".join(self.flags), "params": json.dumps(self.params, sort_keys=True, separators=(",", ":")),
            "source": info.get("source", "api"), "claimed_clean": None, "claimed_robust": None, "seed": s["seed"], "date": today(), "version": version(),
            "commit": "unknown", "command": "",
        }
        if s["attack"] in COMPOSITE_ATTACKS:
            row.update({f"acc_{k}": v for k, v in self.per_attack.items()})
        row.update(extra)
        return row


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
    return eps


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
    from .interop import ResetEachPass, neuron_summary

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
    transfer_sources: dict[str, nn.Module] | None = None,
    zoo_dir: str | Path | None = None,
    data=None,
) -> BenchmarkResult:
    """Attack ``model`` on ``dataset`` and score it (see the module docstring).

    ``attack``: ``standard`` (the ensemble of :mod:`.standard`) or any
    registered attack (``pgd``, ``apgd-ce``, ``square``...). ``surrogate``:
    ``None`` (each neuron's own, BPDA where it is zero), ``name[:width]``, or
    ``all`` (worst case over the sweep). ``eot`` / ``draws`` default to
    10 / 10 for stochastic models and 1 / 1 otherwise. ``transfer_sources``
    (standard only): ``{member: source model}``; by default the dataset's zoo
    ``ann-cnn`` and ``snn-cnn`` from ``zoo_dir`` or else the repository zoo.
    ``name`` and ``info`` (defense, surrogate_train, source...) only label
    the row. ``data`` replaces loading ``dataset`` (a :class:`~.data.Dataset`).
    """
    from robustbench_snn.attacks import ATTACKS, NORMS, make_ball
    from robustbench_snn.attacks.gradient import has_input_gradient

    from .data import DATASETS, load_dataset
    from .harness import AttackConfig, evaluate, evaluate_worst_case, sweep_surrogates
    from .interop import BPDA_SURROGATE, ResetEachPass, attack_surrogate, check_stateless, find_neurons, require_neurons, with_reset, zero_backward_neurons
    from .neurons import GRAD_MODES
    from .standard import APGD_STEPS, standard_evaluation
    from .surrogate import Surrogate

    start = time.perf_counter()
    # --- validate every argument before any work -------------------------------------
    if not isinstance(model, nn.Module):
        raise UserInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if threat_model not in NORMS:
        raise UnknownNameError("threat model", threat_model, NORMS)
    if attack not in (*ATTACKS, *COMPOSITE_ATTACKS):
        raise UnknownNameError("attack", attack, [*ATTACKS, *COMPOSITE_ATTACKS])
    if grad not in GRAD_MODES:
        raise UnknownNameError("gradient mode", grad, GRAD_MODES)
    eps_value = parse_eps(eps, threat_model)
    alpha_value = parse_eps(alpha, threat_model, "alpha") if alpha is not None else None
    for label, value in (("eot", eot), ("draws", draws), ("steps", steps), ("batch_size", batch_size), ("n_examples", n_examples)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise UserInputError(f"bad {label} {value!r}; it must be a positive integer")
    sweep = surrogate == "all"
    attack_sg = Surrogate.parse(surrogate) if surrogate is not None and not sweep else None
    device = resolve_device(device)
    if data is None:
        if dataset not in DATASETS:
            raise UnknownNameError("dataset", dataset, DATASETS)
        data = load_dataset(dataset, "test", data_dir).head(n_examples)
    # --- the model: reset before every pass, checked -------------------------------
    model = with_reset(model.to(device).eval())
    probe = data.x[:CHECK_EXAMPLES].to(device)
    other = data.x[CHECK_EXAMPLES : 2 * CHECK_EXAMPLES + 1].to(device) if len(data) > CHECK_EXAMPLES else probe[:1]
    neurons = find_neurons(model)
    if (attack_sg is not None or sweep) and not neurons:
        require_neurons(model, f"surrogate {surrogate!r}")
    if grad != "bptt":
        require_neurons(model, f"gradient mode {grad!r}")
    with torch.random.fork_rng(devices=[]):  # the checks draw no numbers the evaluation would see
        check_model(model, probe, data.num_classes)
        check_stateless(model, probe, other)
        stochastic = is_stochastic(model, probe)
        bpda = [] if attack_sg is not None or sweep else zero_backward_neurons(model)
        with attack_surrogate(model, attack_sg):
            whitebox = has_input_gradient(model, probe)
    eot = eot or (STOCHASTIC_EOT if stochastic else 1)
    draws = draws or (STOCHASTIC_DRAWS if stochastic else 1)
    described = describe(model)
    model_info = {"name": name or type(model.model if isinstance(model, ResetEachPass) else model).__name__, **described, **(info or {})}
    if attack_sg is not None:
        surrogate_label = str(attack_sg)
    elif sweep:
        surrogate_label = f"all({len(sweep_surrogates())})"
    elif not whitebox:
        surrogate_label = "not-differentiable"
    elif bpda:
        surrogate_label = f"bpda:{BPDA_SURROGATE}"
    elif attack == "standard":
        surrogate_label = "standard"
    else:
        surrogate_label = described["surrogate_train"]  # "none" for an ANN, "own" for unrecognised spiking code
    cfg = AttackConfig(attack if attack not in COMPOSITE_ATTACKS else "pgd", threat_model, eps_value, steps, alpha_value, eot, grad=grad)
    make_ball(threat_model, eps_value)  # validates eps against the norm
    kw = {"draws": draws, "seed": seed, "quiet": not progress}
    # --- run -------------------------------------------------------------------------
    per_attack: dict[str, float] = {}
    params: dict[str, dict[str, Any]]
    member_seconds: dict[str, float] = {}
    flags: list[str] = []
    sg_param = str(attack_sg) if attack_sg is not None else (f"bpda:{BPDA_SURROGATE}" if bpda else described["surrogate_train"])
    if attack == "standard":
        sources, source_names = _transfer_sources(transfer_sources, data.name, model_info["name"], zoo_dir, device)
        std = standard_evaluation(model, data, cfg, sources, whitebox=whitebox, source_names=source_names, **kw)
        res, flags, member_seconds, params = std.result, std.flags, std.seconds, std.params
        per_attack = {k: round(100 * v, 2) for k, v in std.per_attack.items()}
        for member in ("apgd-ce", "apgd-t"):
            if member in params:
                params[member]["surrogate"] = sg_param
        if not sources:
            params["transfer"] = {"skipped": f"no source models (ann-cnn, snn-cnn) in the zoo for {data.name!r}"}
        steps_row, alpha_row = APGD_STEPS, None
    else:
        if sweep:
            res, each = evaluate_worst_case(model, data, cfg, sweep_surrogates(), batch_size=batch_size, **kw)
            per_attack = {k: round(100 * v, 2) for k, v in each.items()}
        else:
            res = evaluate(model, data, cfg, surrogate=attack_sg, batch_size=batch_size, **kw)
        params = {attack: _single_params(cfg, sg_param if not sweep else surrogate_label)}
        steps_row = 1 if attack == "fgsm" else steps
        alpha_row = params[attack].get("alpha")
        if not whitebox and attack in _GRADIENT_ATTACKS:
            flags.append("no-gradient")
    settings = {
        "dataset": data.name, "threat_model": threat_model, "eps": eps_value, "attack": attack, "steps": steps_row,
        "alpha": alpha_row, "eot": eot, "draws": draws, "seed": seed, "grad": grad, "surrogate": surrogate,
        "surrogate_attack": surrogate_label, "n_examples": len(data), "device": device, "batch_size": batch_size,
    }
    return BenchmarkResult(
        round(100 * res.clean_acc, 2), round(100 * res.robust_acc, 2), flags, per_attack, params,
        time.perf_counter() - start, model_info, settings, member_seconds, res.clean_per_example, res.robust_per_example,
    )


#: Registered attacks that follow the input gradient (the rest are black-box).
_GRADIENT_ATTACKS = ("fgsm", "pgd", "apgd-ce", "apgd-dlr", "apgd-t", "mixed-pgd", "ta-pgd")


def _single_params(cfg, surrogate: str) -> dict[str, Any]:
    """The parameters one registered attack ran with (no ``alpha`` where it has none)."""
    from robustbench_snn.attacks import default_alpha
    from robustbench_snn.attacks.blackbox import SQUARE_EVALS, square_queries

    if cfg.attack == "square":
        queries, per_query = square_queries(cfg.eot)
        return {"evals": SQUARE_EVALS, "queries": queries, "draws_per_query": per_query, "seed": 0}
    params: dict[str, Any] = {"eot": cfg.eot, "grad": cfg.grad, "surrogate": surrogate}
    if cfg.attack == "fgsm":
        return {**params, "steps": 1, "alpha": round(cfg.eps, 6)}
    params["steps"] = cfg.steps
    if cfg.attack.startswith("apgd"):
        return params
    return {**params, "alpha": round(cfg.alpha if cfg.alpha is not None else default_alpha(cfg.eps, cfg.steps), 6), "random_start": cfg.random_start}


def _transfer_sources(given, dataset: str, target: str, zoo_dir, device: str) -> tuple[dict[str, nn.Module], dict[str, str]]:
    """``({member: model}, {member: source name})`` for the standard evaluation's transfer members."""
    if given is not None:
        return dict(given), {k: getattr(v, "name", k) for k, v in given.items()}
    from .standard import transfer_snn_source
    from .zoo import DEFAULT_ZOO, load_checkpoint, zoo_models

    wanted = {"transfer-ann": "ann-cnn", "transfer-snn": transfer_snn_source(target)}
    sources, names = {}, {}
    for member, source in wanted.items():
        if source == target:
            continue
        for root in dict.fromkeys([zoo_dir, DEFAULT_ZOO]):  # the given zoo, else the repository's
            if source in zoo_models(dataset, root):
                sources[member] = load_checkpoint(source, dataset, root)[0].to(device)
                names[member] = source
                break
    return sources, names


__all__ = ["BenchmarkResult", "benchmark", "check_model", "describe"]
