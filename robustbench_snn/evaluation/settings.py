"""The first step of :func:`robustbench_snn.api.benchmark`: every argument checked, once, before
any work, into a :class:`Settings` value that travels down. The command line parses its
options into the same calls, so a bad value gets the same one-line refusal from both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..attacks.norms import NORMS
from ..attacks.spec import ATTACKS, check_norm
from ..core.atomic import refuse_special_file
from ..core.budget import Eps
from ..core.errors import UnknownNameError, UserInputError
from ..core.limits import MAX_SAMPLES, MAX_STEPS, check_count, check_seed
from ..core.neurons import GRAD_MODES
from ..core.surrogate import SurrogateChoice
from ..data.catalog import DATASETS, load_dataset
from ..data.dataset import Dataset
from ..data.events import require_event_data
from .compiled import COMPILE_MODES
from .composite import COMPOSITES

def attack_names() -> list[str]:
    """Every ``--attack`` choice: the registered attacks, then the composite ones."""
    return [*ATTACKS, *COMPOSITES]


def check_budget(budget: Eps, input_values: int) -> None:
    """Refuse an L2 budget larger than the diagonal of the input box ``[0, 1]^d``
    (``sqrt(d)``): every input would be reachable, so the number describes nothing
    about the model and the row's eps would be a typo on record. Likewise an events budget
    above the number of event cells ``d`` (a flip attack cannot flip more)."""
    eps, threat_model = budget.value, budget.threat_model
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


#: Every ``device`` choice.
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    check_choice("device", device, DEVICES)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserInputError("device 'cuda' requested but no CUDA device is available; valid: auto, cpu")
    return device


@dataclass(frozen=True)
class Settings:
    """``benchmark()``'s arguments after their checks: the values the evaluation runs with.
    ``surrogate`` is what the gradient attacks backpropagate through the spikes."""

    threat_model: str
    eps: Eps
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
    surrogate: SurrogateChoice
    shard: tuple[int, int] | None


def check_choice(kind: str, value: object, valid) -> None:
    """Refuse, as an unknown name, a ``value`` that is not one of ``valid`` (a list or a dict
    would not even compare as a name)."""
    if not isinstance(value, str) or value not in valid:
        raise UnknownNameError(kind, value if isinstance(value, str) else repr(value), valid)


def check_folder_argument(name: str, value: object) -> None:
    """Refuse a folder argument of ``benchmark()`` that is neither None nor a path."""
    if value is not None and not isinstance(value, (str, Path)):
        raise UserInputError(f"bad {name} {value!r}; give a folder path (str or pathlib.Path)")


def check_resume_file(value: object, flag: str = "resume_file") -> Path | None:
    """``benchmark(resume_file=...)`` (``rbsnn eval --resume-file``: ``flag``) as a path, refused
    in one line unless it is None or a file path (str or pathlib.Path) in an existing folder,
    not a folder or device itself."""
    if value is None:
        return None
    if not isinstance(value, (str, Path)) or not str(value).strip() or not str(value).isprintable():
        raise UserInputError(f"bad {flag} {value!r}; give a file path (str or pathlib.Path) or None")
    path = Path(value)
    try:
        refuse_special_file(path, flag)
        if not path.parent.is_dir():
            raise UserInputError(f"bad {flag} {str(path)!r}: its folder does not exist; give a file in an existing folder")
    except OSError as e:  # a name too long for the file system
        raise UserInputError(f"bad {flag} {str(path)!r} ({e.strerror or e}); give another path") from None
    return path


def check_arguments(*, threat_model: str, eps, attack: str, steps: int, alpha, grad: str, eot, draws, seed: int, device: str,
                    batch_size: int, n_examples, compile: str, surrogate: str | None, shard) -> Settings:
    """Refuse, with a one-line reason naming the value and the valid range or choices, any
    argument out of its range; return the :class:`Settings`."""

    for kind, value, valid in (("threat model", threat_model, NORMS), ("attack", attack, attack_names()),
                               ("gradient mode", grad, GRAD_MODES), ("compile mode", compile, COMPILE_MODES)):
        check_choice(kind, value, valid)
    check_attack_fits(attack, threat_model)
    eps_value = Eps.parse(eps, threat_model)
    alpha_value = Eps.parse(alpha, threat_model, "alpha").value if alpha is not None else None
    if alpha_value == 0:
        raise UserInputError("bad alpha 0; the step size must be > 0")
    check_count("steps", steps, MAX_STEPS)
    check_count("batch_size", batch_size)
    for label, value, high in (("eot", eot, MAX_SAMPLES), ("draws", draws, MAX_SAMPLES), ("n_examples", n_examples, None)):
        if value is not None:  # None: chosen from the model or the dataset
            check_count(label, value, high)
    check_seed(seed)
    return Settings(threat_model, eps_value, attack, steps, alpha_value, grad, eot, draws, seed, resolve_device(device),
                    batch_size, compile, SurrogateChoice.parse(surrogate), shard)


def checked_data(settings: Settings, dataset: str, data: Dataset | None, data_dir: str | Path | None, n_examples: int | None) -> Dataset:
    """The evaluation's examples (``data`` as given, else the first ``n_examples`` of ``dataset``'s
    test split), checked against the settings: an event dataset for the events threat model, a
    budget inside the input box, a shard inside the examples."""

    if data is not None and not isinstance(data, Dataset):
        raise UserInputError(f"bad data {type(data).__name__}; give a robustbench_snn.data.dataset.Dataset (load_dataset(...)), or a dataset name")
    if data is None:
        check_choice("dataset", dataset, DATASETS)
        check_folder_argument("data_dir", data_dir)
        data = load_dataset(dataset, "test", data_dir).head(n_examples)
    data.check()
    shard = settings.shard
    if shard is not None and not (isinstance(shard, tuple) and len(shard) == 2 and 0 <= shard[0] < shard[1] <= len(data)):
        raise UserInputError(f"bad shard {shard!r}; it must be (start, stop) with 0 <= start < stop <= {len(data)}")
    require_event_data(settings.threat_model, data.name, data.x.dim() == 5, "threat_model")  # event frames [N, T, 2, H, W]
    check_budget(settings.eps, data.x[0].numel())
    return data
