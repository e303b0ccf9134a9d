"""Randomized-smoothing certificates for SNNs (and ANNs): a lower bound on robustness.

The smoothed classifier ``g(x) = argmax_c P_r[f(x; r) = c]`` is certified
exactly as in Cohen, Rosenfeld & Kolter, "Certified Adversarial Robustness
via Randomized Smoothing", ICML 2019 (Algorithm "CERTIFY"/"PREDICT"):

* ``n0`` selection draws pick the candidate class ``c_A``;
* ``n`` independent estimation draws count ``n_A`` hits of ``c_A``;
* ``p_A_lower`` is the one-sided Clopper-Pearson bound at level ``alpha``;
* abstain when ``p_A_lower <= 1/2``; otherwise the mechanism's radius.

Why our own code: the certificate depends on the *smoothing mechanism*, and
for an SNN with stochastic (Poisson/Bernoulli) coding the mechanism is the
encoder, for which no library has a certificate. Two mechanisms:

``gaussian`` (:class:`GaussianNoise`), any model
    ``f(x + delta)``, ``delta ~ N(0, sigma^2 I)``. Cohen et al. Theorem 1 with
    ``p_B <= 1 - p_A``: ``g`` is constant on the **L2** ball of radius
    ``sigma * Phi^-1(p_A_lower)``. The base classifier may itself be random
    (a Poisson-coded SNN): the theorem holds for any ``[0, 1]``-valued
    ``h_c(z) = P_r[f(z; r) = c]`` (Salman et al., NeurIPS 2019, Lemma 2), so
    the encoder's randomness is folded into the count.

``encoder`` (:class:`EncoderNoise`), models with a Poisson encoder
    The network sees only the spike train ``S in {0,1}^{T x d}``, each bit an
    independent ``Bernoulli(p_i)`` with ``p_i = rate * x_i`` (RSC-SNN's view of
    Poisson coding as randomized smoothing). This is *not* Gaussian noise and
    gives no L2 radius; what holds is a total-variation certificate. For any
    event, ``|P_x(A) - P_x'(A)| <= TV(mu_x, mu_x')``, so ``g(x') = c_A`` whenever
    ``TV < p_A_lower - 1/2``. For product measures the Bhattacharyya
    coefficient multiplies, ``BC = prod_i BC_i^T`` with
    ``BC_i = sqrt(p_i q_i) + sqrt((1 - p_i)(1 - q_i))``, and
    ``TV <= sqrt(1 - BC^2)`` (Le Cam). ``BC_i`` is concave in ``q_i``, so over
    an **Linf** ball of radius ``eps`` its minimum is at an end of
    ``[rate*(x_i - eps), rate*(x_i + eps)]`` clipped to ``[0, rate]``. The
    certified Linf radius is the largest ``eps`` with
    ``sqrt(1 - BC_min(eps)^2) < p_A_lower - 1/2`` (bisection; BC_min falls
    monotonically in eps). The bound is small because a pixel at intensity 0
    never fires: moving it by ``eps`` makes a spike appear with probability
    about ``T * rate * eps``, which a classifier could in principle detect;
    the exact worst case (Neyman-Pearson over product Bernoullis) has the
    same ``1 / (T * d)`` scaling, so this is the mechanism's property, not
    slack in the bound.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.stats import beta, binomtest, norm as standard_normal  # not `norm`: mechanisms have a `norm` attribute
from torch import nn
from tqdm import tqdm

from ..attacks.norms import make_ball
from ..attacks.pgd import pgd
from ..core import streams
from ..core.budget import radius_label
from ..core.encoders import encoder_name
from ..core.errors import UserInputError
from ..core.limits import FAILURE_PROBABILITY, MAX_DRAWS_CERTIFY, check_count, check_seed
from ..core.registry import Registry
from ..core.streams import example_seed
from ..data.catalog import box_diameter
from ..interop.foreign_neurons import with_reset
from .compiled import CompileStats, compiled_path, worth_compiling
from .memory import available_bytes, check_inference_memory, live_bytes_per_input

if TYPE_CHECKING:
    from .compiled import CompileStats

#: Class index meaning "the smoothed classifier abstains".
ABSTAIN = -1


def clopper_pearson_lower(k: int, n: int, alpha: float) -> float:
    """One-sided ``1 - alpha`` lower confidence bound on a binomial proportion
    from ``k`` successes in ``n`` trials (Clopper & Pearson 1934): the
    ``alpha`` quantile of ``Beta(k, n - k + 1)``; 0 when ``k = 0``.
    Cohen et al. call ``proportion_confint(k, n, 2 * alpha, method="beta")[0]``, the same number."""
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    return 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))


class Mechanism(ABC):
    """A smoothing distribution: how to draw base predictions, and the radius it certifies."""

    name: str
    norm: str  # the norm of the certified ball

    @abstractmethod
    def noisy_logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """One draw of the base classifier's logits on ``x: [B, ...]``: ``[B, K]``."""

    @abstractmethod
    def radius(self, p_lower: float, x: torch.Tensor) -> float:
        """Radius (in :attr:`norm`) certified at input ``x: [...]`` when ``p_A >= p_lower > 1/2``."""

    def attack_view(self, model: nn.Module) -> nn.Module:
        """The randomized classifier an attack on ``g`` differentiates through (one draw per call)."""
        return _NoisyClassifier(model, self)


class _NoisyClassifier(nn.Module):
    def __init__(self, model: nn.Module, mechanism: Mechanism) -> None:
        super().__init__()
        self.model, self.mechanism = model, mechanism

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mechanism.noisy_logits(self.model, x)


@dataclass(frozen=True)
class GaussianNoise(Mechanism):
    """``f(x + N(0, sigma^2 I))``; certified L2 radius ``sigma * Phi^-1(p_A_lower)`` (Cohen et al. Thm 1)."""

    sigma: float
    name = "gaussian"
    norm = "l2"

    def __post_init__(self) -> None:
        if not self.sigma > 0:
            raise UserInputError(f"bad --sigma {self.sigma}; Gaussian smoothing needs sigma > 0")

    def noisy_logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x + self.sigma * streams.randn_like(x))  # each draw from the example's stream

    def radius(self, p_lower: float, x: torch.Tensor) -> float:
        return float(self.sigma * standard_normal.ppf(p_lower))


@dataclass(frozen=True)
class EncoderNoise(Mechanism):
    """The model's own Poisson encoder; certified Linf radius from the TV bound (module docstring)."""

    T: int
    rate: float = 1.0
    name = "encoder"
    norm = "linf"
    #: Bisection steps on eps in [0, 1]: resolution 2**-40.
    STEPS = 40

    def noisy_logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)  # the noise is the model's own: its Poisson encoder draws the spikes

    def log_bc_min(self, x: torch.Tensor, eps: float) -> float:
        """``log`` of the smallest Bhattacharyya coefficient between the spike
        distributions of ``x`` and any ``x'`` in the Linf ball of radius ``eps`` (inside [0, 1])."""
        x = x.detach().double().clamp(0, 1).flatten()
        p = self.rate * x
        bcs = [(p * q).sqrt() + ((1 - p) * (1 - q)).sqrt()  # BC is concave in q: the minimum is at an end
               for q in (self.rate * (x - eps).clamp(0, 1), self.rate * (x + eps).clamp(0, 1))]
        return float(self.T * torch.minimum(*bcs).clamp_min(1e-300).log().sum())

    def radius(self, p_lower: float, x: torch.Tensor) -> float:
        margin = p_lower - 0.5  # need TV < margin
        # sqrt(1 - BC^2) < margin  <=>  log BC > log(1 - margin^2) / 2
        need = 0.5 * math.log1p(-margin * margin)
        lo, hi = 0.0, 1.0
        if self.log_bc_min(x, hi) > need:
            return hi
        for _ in range(self.STEPS):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self.log_bc_min(x, mid) > need else (lo, mid)
        return lo


def _gaussian_for(model: nn.Module, sigma: float | None) -> Mechanism:
    if sigma is None:
        raise UserInputError("--mechanism gaussian needs --sigma (the noise level; the model's training sigma if it has one)")
    return GaussianNoise(sigma)


def _encoder_for(model: nn.Module, sigma: float | None) -> Mechanism:
    has = encoder_name(model)
    if has != "poisson":
        raise UserInputError(f"--mechanism encoder needs a model with a Poisson encoder; this model has {has} (use --mechanism gaussian, or a Poisson-coded model such as rsc-snn)")
    if sigma is not None:
        raise UserInputError("--sigma applies to --mechanism gaussian only; the encoder mechanism's noise is the coding itself")
    return EncoderNoise(model.encoder.T, model.encoder.rate)


#: Smoothing mechanisms by ``--mechanism`` name: ``(model, sigma) -> Mechanism``, refusing
#: impossible pairings in one line.
MECHANISMS: Registry[Callable[[nn.Module, float | None], Mechanism]] = Registry("mechanism")
MECHANISMS.register("gaussian", _gaussian_for, "noise N(0, sigma^2 I) on the input; certified L2 radius (Cohen et al.)")
MECHANISMS.register("encoder", _encoder_for, "the model's own Poisson coding; certified Linf radius (TV bound)")


def check_sigma(sigma: float | None, input_values: int) -> None:
    """Refuse a Gaussian ``sigma`` wider than the input box ``[0, 1]^d``'s diagonal ``sqrt(d)``:
    such noise hides every input, and the radii it certifies (up to ``5.8e307`` at ``sigma``
    ``1e308``) describe nothing and break every reader of the board."""
    diagonal = box_diameter(input_values, "l2")
    if sigma is not None and sigma > diagonal:
        raise UserInputError(f"bad --sigma {sigma:g}; inputs have {input_values} values in [0, 1], so noise wider than the box's "
                             f"diagonal sqrt({input_values}) = {diagonal:.4g} hides every input; valid: 0-{diagonal:.4g}")


def make_mechanism(name: str, model: nn.Module, sigma: float | None) -> Mechanism:
    """The mechanism ``name`` for ``model``; one-line errors for impossible pairings."""
    return MECHANISMS[name](model, sigma)


@torch.no_grad()
def sample_counts(model: nn.Module, mechanism: Mechanism, x: torch.Tensor, num: int, batch: int, num_classes: int) -> np.ndarray:
    """Class counts of ``num`` base-classifier draws on one input ``x: [C, H, W]``: ``[K]``."""
    counts = np.zeros(num_classes, dtype=np.int64)
    left = num
    while left > 0:
        b = min(batch, left)
        preds = mechanism.noisy_logits(model, x.unsqueeze(0).expand(b, *x.shape)).argmax(1)
        counts += np.bincount(preds.cpu().numpy(), minlength=num_classes)
        left -= b
    return counts


def predict(model: nn.Module, mechanism: Mechanism, x: torch.Tensor, n: int, alpha: float, batch: int, num_classes: int) -> int:
    """Cohen et al.'s PREDICT: the top class if a two-sided binomial test of its
    count against the runner-up's rejects a tie at level ``alpha``, else :data:`ABSTAIN`."""
    counts = sample_counts(model, mechanism, x, n, batch, num_classes)
    top2 = counts.argsort()[::-1][:2]
    n_a, n_b = int(counts[top2[0]]), int(counts[top2[1]])
    if binomtest(n_a, n_a + n_b, 0.5).pvalue > alpha:
        return ABSTAIN
    return int(top2[0])


def certify(model: nn.Module, mechanism: Mechanism, x: torch.Tensor, n0: int, n: int, alpha: float, batch: int,
            num_classes: int) -> tuple[int, float]:
    """Cohen et al.'s CERTIFY: ``(class, radius)`` or ``(ABSTAIN, 0.0)``."""
    c_a = int(sample_counts(model, mechanism, x, n0, batch, num_classes).argmax())
    n_a = int(sample_counts(model, mechanism, x, n, batch, num_classes)[c_a])
    p_lower = clopper_pearson_lower(n_a, n, alpha)
    if p_lower <= 0.5:
        return ABSTAIN, 0.0
    return c_a, mechanism.radius(p_lower, x)


@dataclass(frozen=True)
class CertifyConfig:
    """Cohen et al.'s CERTIFY parameters: ``n0`` selection draws, ``n`` estimation draws,
    failure probability ``alpha``, ``batch`` draws per forward pass; checked when made."""

    n0: int = 100
    n: int = 10_000
    alpha: float = 0.001
    batch: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        check_count("n0", self.n0, MAX_DRAWS_CERTIFY)
        check_count("n", self.n, MAX_DRAWS_CERTIFY)
        check_count("batch", self.batch)
        check_seed(self.seed)
        FAILURE_PROBABILITY.check("alpha", self.alpha)


def certify_dataset(model: nn.Module, mechanism: Mechanism, data, cfg: CertifyConfig, *, record_time: bool = True,
                    progress: Callable[[int], None] | None = None) -> list[dict]:
    """Certify every example of ``data``; Cohen's per-example records
    ``idx, label, predict, radius, correct, time`` (time in seconds, 0 when not recorded).
    ``progress(idx)`` is called after each example (``rbsnn certify``'s bar)."""

    model = with_reset(model.eval())  # a stateful (snntorch / SpikingJelly) model: reset before each pass
    device = next(model.parameters()).device
    rows = []
    for idx in range(len(data)):
        x, label = data.x[idx].to(device), int(data.y[idx])
        start = time.perf_counter()
        # one stream for the example: its draws do not depend on cfg.batch (draws per pass)
        with streams.using(streams.ExampleStreams([example_seed(cfg.seed, idx)])):
            pred, radius = certify(model, mechanism, x, cfg.n0, cfg.n, cfg.alpha, cfg.batch, data.num_classes)
        seconds = time.perf_counter() - start if record_time else 0.0
        rows.append({"idx": idx, "label": label, "predict": pred, "radius": radius, "correct": int(pred == label), "time": seconds})
        if progress is not None:
            progress(idx)
    return rows


#: Radii reported on the certified leaderboard, per norm (Linf in units of 1/255).
RADII = {"l2": (0.0, 0.25, 0.5, 0.75, 1.0), "linf": (0.0, 0.25 / 255, 0.5 / 255, 0.75 / 255, 1.0 / 255)}


def certified_accuracy(rows: list[dict], r: float) -> float:
    """Share of examples certified correct at radius ``>= r`` (abstentions count as wrong)."""
    return sum(1 for e in rows if e["correct"] and e["radius"] >= r) / max(1, len(rows))


def summary(rows: list[dict], norm_name: str) -> dict[str, float]:
    """Certified accuracy (%) at :data:`RADII` and the average certified radius (ACR, Zhai et al. 2020)."""
    out = {f"cert_{norm_name}@{radius_label(norm_name, r)}": round(100 * certified_accuracy(rows, r), 2) for r in RADII[norm_name]}
    out["acr"] = round(sum(e["radius"] for e in rows if e["correct"]) / max(1, len(rows)), 6)
    out["abstain"] = round(100 * sum(e["predict"] == ABSTAIN for e in rows) / max(1, len(rows)), 2)
    return out


#: The cross-check attacks just inside the certified ball, where success would be a violation.
CROSSCHECK_FRACTION = 0.99
CROSSCHECK_STEPS = 20
CROSSCHECK_EOT = 16
CROSSCHECK_PREDICT_N = 1000


def crosscheck(model: nn.Module, mechanism: Mechanism, data, rows: list[dict], cfg: CertifyConfig) -> tuple[int, int]:
    """Attack every certified example inside its ball and test whether ``g`` flips.

    PGD in the certificate's norm at ``CROSSCHECK_FRACTION * radius`` through
    the randomized classifier (one mechanism draw per forward pass) with EOT
    over ``CROSSCHECK_EOT`` draws (Salman et al. 2019's attack on smoothed
    classifiers, with the EOT gradient of :mod:`robustbench_snn.attacks`);
    then PREDICT on the adversarial point with ``CROSSCHECK_PREDICT_N`` draws.
    A flip is PREDICT returning another class (not an abstention). Returns
    ``(attempts, violations)``; a correct certificate has 0 violations except
    with probability about ``alpha`` per example.
    """

    model = with_reset(model)

    view = mechanism.attack_view(model).eval()
    device = next(model.parameters()).device
    attempts = violations = 0
    for e in rows:
        if e["predict"] == ABSTAIN or e["radius"] <= 0:
            continue
        idx = e["idx"]
        x = data.x[idx : idx + 1].to(device)
        y = torch.tensor([e["predict"]], device=device)
        ball = make_ball(mechanism.norm, CROSSCHECK_FRACTION * e["radius"])
        with streams.using(streams.ExampleStreams([(example_seed(cfg.seed, idx) + 1) % 2**64])):
            x_adv = pgd(view, x, y, ball, steps=CROSSCHECK_STEPS, eot=CROSSCHECK_EOT)
            new = predict(model, mechanism, x_adv[0], CROSSCHECK_PREDICT_N, cfg.alpha, cfg.batch, data.num_classes)
        attempts += 1
        violations += int(new not in (ABSTAIN, e["predict"]))
    return attempts, violations


@dataclass
class CertifyRun:
    """What :func:`certify_model` did: Cohen's per-example records, the cross-check's
    ``(attempts, violations)`` (None when skipped) and what the compiled path did."""

    rows: list[dict]
    attempts: int | None
    violations: int | None
    compile: CompileStats


def check_certify_memory(model: nn.Module, mechanism: Mechanism, data, cfg: CertifyConfig) -> None:
    """Refuse, before any pass, a ``cfg.batch`` whose passes of noise draws would not fit in
    the memory available (:func:`~robustbench_snn.evaluation.memory.check_inference_memory`; a pass
    holds ``min(batch, n)`` draws, or the cross-check's prediction draws if more). One
    draw of the first example is counted, eagerly; an input error in it is left to the
    run, which reports it as it would without this check."""

    if len(data) == 0:
        return
    x = data.x[:1].to(next(model.parameters()).device)
    model = with_reset(model.eval())
    try:
        with streams.using(streams.ExampleStreams([example_seed(cfg.seed, 0, "memory")])):
            per_draw = live_bytes_per_input(lambda v: mechanism.noisy_logits(model, v), x)
    except Exception:  # a model the counting mode cannot follow: no estimate, the run is left to try
        return
    draws = min(cfg.batch, max(cfg.n0, cfg.n, CROSSCHECK_PREDICT_N))
    check_inference_memory(per_draw, draws, available_bytes(x.device.type))


@torch.inference_mode(False)
@torch.enable_grad()  # the cross-check attacks: a no_grad caller must not make it vacuous
def certify_model(model: nn.Module, mechanism: Mechanism, data, cfg: CertifyConfig, *, compile: str = "auto",
                  crosscheck_attack: bool = True, record_time: bool = True, progress: bool = False) -> CertifyRun:
    """Certify every example of ``data`` (:func:`certify_dataset`), then attack the certified
    ones inside their balls (:func:`crosscheck`), the model's passes through the compiled
    path (:mod:`.compiled`, ``compile`` in ``auto|on|off``; inference graphs; ``auto``
    compiles when examples x draws x input values reaches twice ``AUTO_MIN_WORK_PER_GRAPH``). ``progress``
    shows a bar of certified examples with its ETA on stderr."""

    stats = CompileStats(compile)  # compiled_path refuses a mode outside auto|on|off
    check_sigma(getattr(mechanism, "sigma", None), data.x[0].numel())  # library callers too, not only the CLI
    check_certify_memory(model, mechanism, data, cfg)
    work = len(data) * (cfg.n0 + cfg.n) * data.x[0].numel()
    attempts = violations = None
    with compiled_path(model, worth_compiling(compile, work), stats, inference=True):
        with tqdm(total=len(data), desc=f"certify {data.name}", unit="example", disable=not progress) as bar:
            rows = certify_dataset(model, mechanism, data, cfg, record_time=record_time, progress=lambda _: bar.update())
        if crosscheck_attack:
            attempts, violations = crosscheck(model, mechanism, data, rows, cfg)
    return CertifyRun(rows, attempts, violations, stats)
