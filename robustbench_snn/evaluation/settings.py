"""The first step of :func:`robustbench_snn.api.benchmark`: every argument checked, once, before
any work, into a :class:`Settings` value that travels down. The command line parses its
options into the same calls, so a bad value gets the same one-line refusal from both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import torch

from ..attacks.norms import NORMS
from ..attacks.spec import ATTACKS, check_norm
from ..core.errors import UnknownNameError, UserInputError
from ..core.limits import MAX_SAMPLES, MAX_STEPS, check_count, check_seed
from ..core.neurons import GRAD_MODES
from ..core.surrogate import Surrogate
from ..data.catalog import DATASETS, load_dataset
from ..data.dataset import Dataset
from ..data.events import require_event_data
from .compiled import COMPILE_MODES
from .composite import COMPOSITES

#: Default budget per threat model as typed (``rbsnn eval --eps``; inputs in [0, 1]; events: a count) ...
DEFAULT_EPS_TEXT = {"linf": "8/255", "l2": "0.5", "events": "20"}
#: ... and its value.
DEFAULT_EPS = {norm: float(Fraction(text)) for norm, text in DEFAULT_EPS_TEXT.items()}


def attack_names() -> list[str]:
    """Every ``--attack`` choice: the registered attacks, then the composite ones."""
    return [*ATTACKS, *COMPOSITES]


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

    if attack in COMPOSITES and threat_model not in (norms := COMPOSITES[attack].norms):
        raise UserInputError(f"attack {attack!r} is defined for the {', '.join(norms)} ball, got {flag} {threat_model}; valid: {', '.join(norms)}")
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


@dataclass(frozen=True)
class Settings:
    """``benchmark()``'s arguments after their checks: the values the evaluation runs with.
    ``surrogate`` is as given (None, ``"all"`` or a surrogate's name) for the row's label;
    ``attack_surrogate`` its parsed value, None for the neurons' own or for ``"all"``."""

    threat_model: str
    eps: float
    attack: str
    steps: int
    alpha: float | None
    grad: str
    eot: int | None  # None: chosen once the model is known to be stochastic or not
    draws: int | None
    seed: int
    device: str
    batch_size: int
    compile: str
    surrogate: str | None
    attack_surrogate: Surrogate | None
    shard: tuple[int, int] | None

    @property
    def all_surrogates(self) -> bool:
        """``surrogate="all"``: the attack runs once per surrogate, worst case per example."""
        return self.surrogate == "all"


def check_arguments(*, threat_model: str, eps, attack: str, steps: int, alpha, grad: str, eot, draws, seed: int, device: str,
                    batch_size: int, n_examples, compile: str, surrogate: str | None, shard) -> Settings:
    """Refuse, with a one-line reason naming the value and the valid range or choices, any
    argument out of its range; return the :class:`Settings`."""

    if threat_model not in NORMS:
        raise UnknownNameError("threat model", threat_model, NORMS)
    if attack not in attack_names():
        raise UnknownNameError("attack", attack, attack_names())
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
    attack_sg = Surrogate.parse(surrogate) if surrogate is not None and surrogate != "all" else None
    return Settings(threat_model, eps_value, attack, steps, alpha_value, grad, eot, draws, seed, resolve_device(device),
                    batch_size, compile, surrogate, attack_sg, shard)


def checked_data(settings: Settings, dataset: str, data: Dataset | None, data_dir: str | Path | None, n_examples: int | None) -> Dataset:
    """The evaluation's examples (``data`` as given, else the first ``n_examples`` of ``dataset``'s
    test split), checked against the settings: an event dataset for the events threat model, a
    budget inside the input box, a shard inside the examples."""

    if data is not None and not isinstance(data, Dataset):
        raise UserInputError(f"bad data {type(data).__name__}; give a robustbench_snn.data.dataset.Dataset (load_dataset(...)), or a dataset name")
    if data is None:
        if dataset not in DATASETS:
            raise UnknownNameError("dataset", dataset, DATASETS)
        data = load_dataset(dataset, "test", data_dir).head(n_examples)
    data.check()
    shard = settings.shard
    if shard is not None and not (isinstance(shard, tuple) and len(shard) == 2 and 0 <= shard[0] < shard[1] <= len(data)):
        raise UserInputError(f"bad shard {shard!r}; it must be (start, stop) with 0 <= start < stop <= {len(data)}")
    require_event_data(settings.threat_model, data.name, data.x.dim() == 5, "threat_model")  # event frames [N, T, 2, H, W]
    check_budget(settings.eps, settings.threat_model, data.x[0].numel())
    return data
