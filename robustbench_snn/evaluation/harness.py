"""Evaluation harness: clean and robust accuracy of a model under one attack.

Accuracy of a stochastic model (Poisson encoder) is the *expected* accuracy:
each example's score is the fraction of ``draws`` independent encoder draws
that classify it correctly. An example's robust score is
``min(clean score, adversarial score)``, so for deterministic models an
example counts as robust only if it is classified correctly both clean and
under attack (AutoAttack's convention), and robust accuracy never exceeds
clean accuracy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from ..attacks.norms import make_ball
from ..attacks.pgd import default_alpha
from ..attacks.spec import ATTACKS, AttackSpec
from ..core import streams
from ..core.errors import UserInputError
from ..core.progress import counting
from ..core.streams import LIBRARY_BLOCK
from ..core.surrogate import Surrogate
from ..data.dataset import Dataset
from ..interop.foreign_neurons import attack_surrogate, gradient_mode

#: Tolerance for the ball check (float32 rounding of x + delta).
BALL_TOL = 1e-5


class AttackEscapedBallError(RuntimeError):
    """An attack returned a point outside the threat model; its number would be meaningless."""


@dataclass(frozen=True)
class AttackConfig:
    attack: str = "pgd"
    norm: str = "linf"
    eps: float = 8 / 255
    steps: int = 10
    alpha: float | None = None  # None: attacks.default_alpha(eps, steps)
    eot: int = 1
    random_start: bool = True
    grad: str = "bptt"  # neurons' backward: bptt, bptr or rga (robustbench_snn.core.neurons.GRAD_MODES)

    @property
    def step_size(self) -> float:
        """``alpha``, or the PGD default for ``eps`` and ``steps`` the attacks use when it is None."""

        return self.alpha if self.alpha is not None else default_alpha(self.eps, self.steps)


@dataclass(frozen=True)
class EvalResult:
    clean_acc: float  # in [0, 1]
    robust_acc: float
    clean_per_example: torch.Tensor  # [N] fraction of draws correct
    robust_per_example: torch.Tensor  # [N]
    max_distance: float  # largest ||x_adv - x|| seen, in the attack's norm
    seconds: float
    #: [N, ...] the adversarial inputs that were scored (on the CPU); None where not kept
    x_adv: torch.Tensor | None = None
    #: [N] the scores an ensemble's ledger compared (:class:`.standard.Selection`); None: ``robust_per_example``
    selection: torch.Tensor | None = None


def accuracies(per_example: dict[str, torch.Tensor]) -> dict[str, float]:
    """Member (or surrogate) -> the mean of its per-example scores: a robust accuracy in [0, 1]."""
    return {name: scores.mean().item() for name, scores in per_example.items()}


@torch.no_grad()
def accuracy_per_example(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int = 1, batch_size: int = 256,
    *, ids: torch.Tensor | None = None, seed: int = 0, purpose: str = "score",
) -> torch.Tensor:
    """Fraction of ``draws`` forward passes that predict ``y``, per example: ``[N]``.

    With ``ids`` (the examples' indices in their split) each example's draws
    come from its own stream for ``(seed, purpose)`` (:mod:`.streams`), so its
    score does not depend on ``batch_size``; without, from the global generator.
    """
    device = next(model.parameters()).device
    scores = torch.zeros(len(y))
    for i in range(0, len(y), batch_size):
        xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        source = streams.per_example(seed, ids[i : i + batch_size], purpose) if ids is not None else nullcontext()
        hits = torch.zeros(len(yb), device=device)
        with source:
            for _ in range(draws):
                out = model(xb)
                if not torch.isfinite(out).all():  # argmax would score NaN as class 0: no number, not a count
                    raise UserInputError(f"the model's output is not finite (NaN or inf) on {int((~torch.isfinite(out)).any(1).sum())} of "
                                         f"the {len(xb)} inputs scored ({purpose}); a row cannot count them")
                hits += (out.argmax(1) == yb).float()
        scores[i : i + batch_size] = (hits / draws).cpu()
    return scores


def clean_scores(model: nn.Module, data: Dataset, draws: int = 1, seed: int = 0, batch_size: int = 250) -> torch.Tensor:
    """Per-example clean scores exactly as :func:`evaluate` computes them for ``seed`` (any ``batch_size``)."""
    return accuracy_per_example(model.eval(), data.x, data.y, draws, batch_size, ids=data.example_ids, seed=seed, purpose="clean")


def attack_batches(data: Dataset, batch_size: int, blocked: bool) -> list[torch.Tensor]:
    """Positions in ``data`` of each batch the attack runs on: consecutive runs of
    ``batch_size``, or for a ``blocked`` attack the examples of each id block."""
    if not blocked:
        return [torch.arange(i, min(i + batch_size, len(data))) for i in range(0, len(data), batch_size)]
    block = data.example_ids // LIBRARY_BLOCK
    return [torch.nonzero(block == b).flatten() for b in block.unique()]


@contextmanager
def attack_randomness(seed: int, ids: torch.Tensor, blocked: bool) -> Iterator[dict]:
    """The random source of one attack call on the examples ``ids``; yields the
    ``seed`` keyword for an attack that takes one.

    Our attacks draw from per-example streams (purpose ``attack``). A blocked
    (library) attack gets torch's global generator seeded from ``(seed, block)``,
    with no streams (so the model's encoder draws from the same generator), and
    the global state is restored afterwards.
    """
    if not blocked:
        with streams.per_example(seed, ids, "attack"):
            yield {"seed": seed}
        return
    block_seed = streams.example_seed(seed, int(ids[0]) // LIBRARY_BLOCK, "library-block")
    with torch.random.fork_rng(devices=[]), streams.using(None):
        torch.manual_seed(block_seed)
        yield {"seed": block_seed}


def evaluate(
    model: nn.Module,
    data: Dataset,
    cfg: AttackConfig,
    *,
    draws: int = 1,
    surrogate: Surrogate | str | None = None,
    seed: int = 0,
    batch_size: int = 250,
    quiet: bool = False,
    spec: AttackSpec | None = None,
    label: str | None = None,
) -> EvalResult:
    """Attack every example of ``data`` once; score clean and adversarial inputs over ``draws``.

    ``spec`` replaces the registered attack ``cfg.attack`` (transfer attacks
    bind their source model this way; one that ``needs`` ``example_ids`` is given
    the batch's example ids, so an attack that continues from each example's own
    earlier point looks it up by id). The progress bar counts the attack's
    gradient steps or queries (``spec.ticks``, :mod:`robustbench_snn.core.progress`),
    under ``label`` (the standard evaluation's member name) or the attack's name.

    Every random number (encoder draws, random starts, a library attack's
    own) comes from a generator keyed by ``seed`` and the example's id
    (:mod:`.streams`, :func:`attack_randomness`), so the result is the same
    for any ``batch_size``.
    """
    attack = spec or ATTACKS[cfg.attack]
    ball = make_ball(cfg.norm, cfg.eps)
    device = next(model.parameters()).device
    start = time.perf_counter()
    clean = clean_scores(model, data, draws, seed, batch_size)
    robust = torch.zeros(len(data))
    adversarial = torch.empty_like(data.x, device="cpu")
    max_dist = 0.0
    blocked = attack.randomness == "global"
    with attack_surrogate(model, surrogate), gradient_mode(model, cfg.grad):
        batches = attack_batches(data, batch_size, blocked)
        per_batch = attack.ticks(cfg.steps, cfg.eot)
        bar = tqdm(total=len(batches) * per_batch, desc=f"{label or cfg.attack} {data.name}", disable=quiet, unit="step")
        for b, index in enumerate(batches):
            x, y, ids = data.x[index].to(device), data.y[index].to(device), data.example_ids[index]
            with counting(lambda n: bar.update(min(n, (b + 1) * per_batch - bar.n))), attack_randomness(seed, ids, blocked) as seeded:
                needs = {**seeded, "example_ids": ids}
                x_adv = attack.run(model, x, y, ball, steps=cfg.steps, alpha=cfg.alpha, random_start=cfg.random_start, eot=cfg.eot,
                                   **{k: needs[k] for k in attack.needs})
            bar.update((b + 1) * per_batch - bar.n)  # an early stop (all fooled) finishes the batch's share
            max_dist = max(max_dist, check_in_ball(ball, x_adv, x, cfg.attack))
            robust[index] = accuracy_per_example(model, x_adv, y, draws, batch_size, ids=ids, seed=seed, purpose="score")
            adversarial[index] = x_adv.detach().to("cpu", adversarial.dtype)
        bar.close()
    robust = torch.minimum(clean, robust)
    return EvalResult(clean.mean().item(), robust.mean().item(), clean, robust, max_dist, time.perf_counter() - start, adversarial)


def held_out_scores(model: nn.Module, data: Dataset, inputs: torch.Tensor, draws: int, seed: int = 0, batch_size: int = 256,
                    purpose: str = "held-out") -> torch.Tensor:
    """Per-example scores of ``inputs`` (``[N, ...]``, one chosen input per example of ``data``)
    from encoder draws no member saw (``purpose`` of :mod:`.streams`: ``held-out`` for the
    reported scores, ``confirm`` for a ledger's comparisons): ``[N]``.

    An ensemble keeps, per example, the input with the lowest score among its members',
    each scored with the same ``score`` draws. On a stochastic model that minimum is an
    estimate chosen for being low, so it is biased low even where no member broke
    anything (``benchmarks/selection_bias.py``: 2.6 points over 19 inputs that differ by
    1/255 on digits rsc-snn at eps 0.1); scoring the chosen inputs again with fresh draws
    is unbiased. On a deterministic model every draw gives the same score.
    """
    device = next(model.parameters()).device
    return accuracy_per_example(model.eval(), inputs.to(device), data.y.to(device), draws, batch_size,
                                ids=data.example_ids, seed=seed, purpose=purpose).cpu()


def check_in_ball(ball, x_adv: torch.Tensor, x: torch.Tensor, attack: str) -> float:
    """Raise unless ``x_adv`` is within ``ball`` of ``x`` and in [0, 1]; return the largest distance."""
    dist = ball.distance(x_adv, x).max().item() if len(x) else 0.0
    lo, hi = x_adv.min().item(), x_adv.max().item()
    if dist > ball.eps + BALL_TOL or lo < -BALL_TOL or hi > 1 + BALL_TOL:
        raise AttackEscapedBallError(
            f"attack {attack!r} left the threat model: {ball.name} distance {dist:.6g} > eps {ball.eps:.6g} or values in [{lo:.4g}, {hi:.4g}] outside [0, 1]"
        )
    return dist


def evaluate_worst_case(
    model: nn.Module,
    data: Dataset,
    cfg: AttackConfig,
    surrogates: list[Surrogate],
    **kwargs,
) -> tuple[EvalResult, dict[str, torch.Tensor]]:
    """Run the attack once per surrogate; an example is robust only if it survives all.

    Returns the worst-case result (per-example minimum) and each surrogate's
    own per-example scores, so the worst case is never above any single one.
    """
    start = time.perf_counter()
    results = {str(sg): evaluate(model, data, cfg, surrogate=sg, label=f"{cfg.attack} surrogate {sg}", **kwargs) for sg in surrogates}
    first = next(iter(results.values()))
    robust = torch.stack([r.robust_per_example for r in results.values()]).min(0).values
    worst = EvalResult(
        first.clean_acc, robust.mean().item(), first.clean_per_example, robust,
        max(r.max_distance for r in results.values()), time.perf_counter() - start,
    )
    return worst, {k: r.robust_per_example for k, r in results.items()}
