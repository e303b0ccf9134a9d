"""The standard evaluation ``--attack standard``: an AutoAttack-like ensemble
(Croce & Hein, ICML 2020) made for SNNs, counted per example -- an example is
robust only if it survives every attack -- plus the gradient-masking
evidence and flags of :mod:`.masking`.

Ensemble (each uses the row's threat model):

* ``apgd-ce``: APGD on cross-entropy, white box, BPTT with the model's surrogate, EOT;
* ``apgd-t``: APGD on targeted DLR towards the top wrong classes;
* ``worst-surrogate``: PGD under each of :data:`STANDARD_SURROGATES` and the
  RGA rate gradient, worst case per example;
* ``assg``: SA-PGD through the adaptive-sharpness surrogate (ASSG; Wang et al.,
  arXiv 2512.22522; :mod:`robustbench_snn.attacks.sapgd`), 100 iterations, EOT.
  Added after measuring it alone below the whole previous ensemble on 10 of the
  11 deterministic digits SNNs (0.8-6.6 points at 8/255, equal on qcfs-snn) for
  about a third of the ensemble's backward passes; it is above it on ttfs-snn
  and the Poisson-coded rsc models (the ``assg`` rows of
  ``leaderboards/digits_linf.csv``), where the other members keep their work;
* ``apgd-surrogates``: APGD-CE under one surrogate of each family of Özdenizci &
  Legenstein's ensemble (:data:`APGD_SURROGATES`) and under the RGA rate
  gradient, each on the examples the previous left robust. Added because
  ``ensemble19`` found 2.2 points more than the ensemble without it on digits
  qcfs-snn at eps 0.1 (a converted network, whose spikes PGD-10 under the
  four smooth surrogates and ASSG did not break); measured with
  ``benchmarks/standard_variants.py`` before it joined: APGD-CE, not PGD-10,
  is what those examples need (PGD-10 under the same five surrogates
  broke none), and after ASSG it runs on few examples;
* ``square``: score-based black box on encoder-averaged probabilities;
* ``transfer-ann`` / ``transfer-snn``: PGD crafted on the dataset's zoo
  ``ann-cnn`` / ``snn-cnn`` (``rsc-snn`` when attacking ``snn-cnn`` itself).

On a network with no spike anywhere (:func:`.interop.has_exact_gradient`, e.g. the
zoo's ``ann-cnn`` baseline) the members that exist to get around the spike's
missing derivative have nothing to do: every surrogate, ASSG's adaptive one and
the rate gradients all reduce to the model's exact gradient, so the surrogate
sweep, ASSG and the APGD surrogates would repeat APGD-CE's search with a weaker
optimiser, and a transfer's purpose -- a gradient the target may mask -- is the
gradient-free Square's too. There the ensemble is APGD-CE, then
APGD-T continued from the point APGD-CE left each survivor at
(:data:`EXACT_TARGETS` runs of :data:`EXACT_TARGETED_STEPS` iterations towards the
wrong classes scoring highest there, the ones APGD-CE brought closest), then Square:
fewer input gradients per survivor than one 20-step APGD run, so fewer than
``ensemble19`` (APGD-CE then APGD-DLR) spends. Measured before it was chosen
(``benchmarks/exact_gradient_targets.py``): on digits ``ann-cnn`` at eps 0.1 it
breaks 5 of the 168 examples APGD-CE leaves, where APGD-DLR (``ensemble19``'s
member) breaks 1 for one more gradient per survivor, one continued run of 19
iterations 3, and three random-start 20-step targeted runs (the member on SNNs)
7 for three times the cost.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..attacks.apgd import apgd_targeted, apgd_ticks
from ..attacks.blackbox import square_params
from ..attacks.event_flips import event_flip_steps, sparse_flip
from ..attacks.pgd import pgd
from ..attacks.sapgd import ASSG, ASSG_STEPS, assg_config, assg_params
from ..attacks.spec import ATTACKS, AttackSpec, Cost, one_per_step
from ..attacks.transfer import transfer_from
from ..core.errors import UserInputError
from ..core.surrogate import Surrogate
from ..interop.foreign_neurons import find_neurons, has_exact_gradient, supports_rate_gradients
from .composite import Outcome, Run, families, register_composite
from .cost import counting_passes
from .harness import AttackConfig, EvalResult, accuracies, clean_scores, evaluate, held_out_scores
from .masking import EVIDENCE_EXAMPLES, MaskingEvidence, gather_evidence, masking_flags
from .member_log import MemberLog

#: Surrogates of the worst-surrogate member (the full sweep is ``--surrogate all``).
STANDARD_SURROGATES = ("atan:1", "atan:0.25", "triangle:0.5", "sigmoid:2")
#: Surrogates of the ``apgd-surrogates`` member: one per surrogate family of Özdenizci &
#: Legenstein's ensemble (:data:`.ensemble19.SURROGATE_ESTIMATORS`: PCW, EXP-D, EXP, RECT, STE),
#: at the widths whose ensemble19 columns broke examples on digits qcfs-snn at 0.1.
APGD_SURROGATES = ("pcw:1", "exp-d:1", "exp:2", "rect:2", "ste")
#: APGD iterations in the ensemble (AutoAttack: 100; see docs/evaluation-protocol.md for the CPU budget).
APGD_STEPS = 20
#: The targeted member on a network without spikes (module docstring): runs per survivor,
#: and iterations of each, started where APGD-CE left the example. 2 x (1 + 9) = 20 input
#: gradients per survivor, one fewer than a 20-step APGD run from a random start.
EXACT_TARGETS = 2
EXACT_TARGETED_STEPS = 9


def spike_free(model: nn.Module, cfg: AttackConfig) -> bool:
    """Whether ``standard`` runs its exact-gradient ensemble on ``model`` (module docstring):
    a model with no spike anywhere, attacked in an image threat model."""
    return cfg.norm != "events" and has_exact_gradient(model)


def continued_from(points, example_ids: torch.Tensor, attack_fn, ticks: Cost = one_per_step, **options) -> AttackSpec:
    """``attack_fn`` as an evaluation's attack (:func:`.harness.evaluate`) that starts each
    example at its row of ``points()`` (``[N, ...]``, read when the attack runs; rows in the
    order of ``example_ids``), passed as ``start``, with ``options`` added; ``ticks`` its cost per batch."""
    row_of = {int(i): r for r, i in enumerate(example_ids.tolist())}

    def run(model, x, y, ball, *, example_ids: torch.Tensor, **given):
        rows = torch.tensor([row_of[int(i)] for i in example_ids.tolist()], dtype=torch.long)
        return attack_fn(model, x, y, ball, **{**given, **options}, start=points()[rows])

    return AttackSpec(run, ticks=ticks, needs=("example_ids",))


@dataclass
class StandardResult:
    result: EvalResult
    per_example: dict[str, torch.Tensor]  # attack -> per-example scores after it joined (cumulative)
    flags: list[str]
    evidence: MaskingEvidence | None  # None: not gathered (a shard other than the first)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # wall time per member, plus "masking-checks"
    params: dict[str, dict] = dataclasses.field(default_factory=dict)  # member -> the parameters it ran with

    @property
    def per_attack(self) -> dict[str, float]:
        """Attack -> robust accuracy in [0, 1] after it joined (non-increasing)."""
        return accuracies(self.per_example)


#: Transfer member -> the zoo models it may craft on, in order: the first that is not the
#: target is used (an undefended ANN and SNN twin of the target's kind, the Poisson-coded
#: SNN when the target is the undefended SNN itself).
TRANSFER_SOURCES: dict[str, tuple[str, ...]] = {"transfer-ann": ("ann-cnn",), "transfer-snn": ("snn-cnn", "rsc-snn")}


def transfer_source_names(target: str, candidates: Mapping[str, Sequence[str]] = TRANSFER_SOURCES) -> dict[str, str]:
    """Transfer member -> the zoo model it crafts on: the first of its ``candidates`` that
    is not ``target`` (a member with none is left out)."""
    picks = {member: next((name for name in names if name != target), None) for member, names in candidates.items()}
    return {member: name for member, name in picks.items() if name is not None}


#: Extra encoder draws (purpose ``confirm``) with which a ledger compares an example's
#: inputs on a stochastic model, pooled with the member's own scoring draws; and the
#: held-out draws that score the inputs it keeps (:meth:`Ledger.final`). Measured by
#: ``benchmarks/selection_rules.py`` (docs/evaluation-protocol.md, "A worst case over members is biased low").
CONFIRM_DRAWS = 40
HELD_OUT_DRAWS = 100


@dataclass(frozen=True)
class Selection:
    """How a ledger compares an example's candidate inputs: by the member's scores, exact on
    a deterministic model (``draws == 1``); on a stochastic one by those scores pooled with
    :data:`CONFIRM_DRAWS` more draws of the candidate (common to every candidate of an
    example), because ten draws' noise (about 0.15 per example) is larger than what tells
    most members' inputs apart: the lowest of ten-draw scores mostly picks the input those
    draws happened to misclassify (``benchmarks/selection_rules.py``)."""

    model: nn.Module | None = None
    draws: int = 1
    seed: int = 0
    confirm: int = CONFIRM_DRAWS

    @property
    def stochastic(self) -> bool:
        """Scores are estimates over encoder draws: the kept inputs are scored again (:meth:`Ledger.final`)."""
        return self.model is not None and self.draws > 1

    @property
    def pooled(self) -> bool:
        return self.stochastic and self.confirm > 0

    @property
    def held_out_draws(self) -> int:
        """Draws that score the kept inputs of a stochastic model: at least :data:`HELD_OUT_DRAWS`."""
        return max(self.draws, HELD_OUT_DRAWS)

    def scores(self, data, result: EvalResult) -> torch.Tensor:
        """The scores a ledger compares for ``result`` on ``data`` (its examples): [N]."""
        if result.selection is not None:  # an inner ledger's (:func:`_chained`): compared already
            return result.selection
        if not self.pooled:
            return result.robust_per_example
        extra = held_out_scores(self.model, data, result.x_adv, self.confirm, self.seed, purpose="confirm")
        return (result.robust_per_example * self.draws + extra * self.confirm) / (self.draws + self.confirm)

    def params(self) -> dict:
        """What a row records about the selection (nothing on a deterministic model)."""
        return {"confirm draws": self.confirm, "held-out draws": self.held_out_draws} if self.stochastic else {}


@dataclass
class Ledger:
    """The per-example worst case over members run in order, each only on the examples
    still (partly) robust (:func:`_on_survivors`); ``after`` holds the per-example
    selection scores (:class:`Selection`) after each member joined (non-increasing),
    ``seconds`` each member's time, ``inputs`` each example's input with the lowest
    selection score so far (its clean input until a member lowers the score), which
    :meth:`final` scores again with held-out draws.

    A member is ``run(subset) -> EvalResult`` (its ``robust_per_example`` and ``x_adv``).
    With a ``log`` (:class:`.member_log.MemberLog`) the state is written after every member,
    with the tensors a caller ``kept`` beside it, and members an earlier process finished
    are not run again (:meth:`restored`)."""

    data: object
    robust: torch.Tensor
    inputs: torch.Tensor
    selection: Selection = Selection()
    after: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    log: MemberLog | None = None
    added: int = 0  # members added so far (a name may repeat: ensemble19 adds each estimator once per loss)
    kept: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)

    @classmethod
    def start(cls, data, robust: torch.Tensor, selection: Selection = Selection(), log: MemberLog | None = None) -> "Ledger":
        """A ledger before any member: ``robust`` per example, every input still the clean one."""
        return cls(data, robust, data.x.detach().to("cpu").clone(), selection, log=log)

    @classmethod
    def opening(cls, data, name: str, first: Callable[[], EvalResult], selection: Selection = Selection(),
                log: MemberLog | None = None) -> tuple["Ledger", EvalResult]:
        """The ledger after a first member ``name`` that runs on every example (``first()``), and
        that member's result: its clean scores, robust scores and largest distance, restored from
        ``log`` when an earlier process ran it (then without its inputs)."""
        ledger = cls.start(data, torch.ones(len(data)), selection, log)
        if ledger.restored():
            ledger.added = 1
            kept = ledger.kept
            return ledger, EvalResult(kept["clean"].mean().item(), kept["first"].mean().item(), kept["clean"], kept["first"],
                                      kept["max_distance"].item(), ledger.seconds[name])
        result = first()
        ledger.kept.update(clean=result.clean_per_example, first=result.robust_per_example,
                           max_distance=torch.tensor(result.max_distance))
        ledger.add(name, lambda d: result, took=result.seconds)
        return ledger, result

    @property
    def next_restored(self) -> bool:
        """Whether the next member added was finished by an earlier process (it will not run)."""
        return self.log is not None and self.log.finished(self.added)

    def add(self, name: str, run, known: EvalResult | None = None, took: float | None = None) -> None:
        """Run ``run(subset) -> EvalResult`` as member ``name`` (``took``: its time, if not this call's)."""
        if self.next_restored:
            self.added += 1
            return
        t0 = time.perf_counter()
        self.robust, self.inputs = _on_survivors(self.robust, self.inputs, self.data, run, known, self.selection)
        self.after[name] = self.robust
        self.seconds[name] = self.seconds.get(name, 0.0) + (took if took is not None else time.perf_counter() - t0)
        self.added += 1
        if self.log is not None:
            after = {f"after/{i:04d}/{k}": v for i, (k, v) in enumerate(self.after.items())}
            kept = {f"kept/{k}": v for k, v in self.kept.items()}
            self.log.record(self.added, {"robust": self.robust, "inputs": self.inputs, **after, **kept}, self.seconds)

    def restored(self) -> bool:
        """Take the state an earlier process left in the log, if it left any."""
        if self.log is None or not self.log.resumed:
            return False
        t = self.log.tensors
        why = _not_a_ledger(t, self.robust.shape, self.inputs.shape)
        if why:
            raise UserInputError(f"resume file {self.log.path} is not a ledger of this evaluation ({why}); delete it, or give another path")
        self.robust, self.inputs = t["robust"], t["inputs"].to(self.inputs.dtype)
        self.after = {k.split("/", 2)[2]: v for k, v in sorted(t.items()) if k.startswith("after/")}
        self.kept = {k.split("/", 1)[1]: v for k, v in t.items() if k.startswith("kept/")}
        self.seconds = dict(self.log.seconds)
        return True

    def as_result(self, clean: torch.Tensor, max_distance: float, seconds: float) -> EvalResult:
        """The worst case as the members found it (selection scores), with the chosen inputs."""
        return EvalResult(clean.mean().item(), self.robust.mean().item(), clean, self.robust, max_distance, seconds, self.inputs, self.robust)

    def final(self, clean: torch.Tensor) -> torch.Tensor:
        """Per-example robust scores to report: on a stochastic model (:attr:`Selection.stochastic`)
        the chosen inputs scored again with :attr:`Selection.held_out_draws` held-out draws
        (:func:`.harness.held_out_scores`), at most the ``clean`` score; otherwise the
        selection scores, which are exact."""
        chosen = self.selection
        if not chosen.stochastic:
            return self.robust
        return torch.minimum(clean, held_out_scores(chosen.model, self.data, self.inputs, chosen.held_out_draws, chosen.seed))


def _not_a_ledger(t: dict[str, torch.Tensor], scores: torch.Size, inputs: torch.Size) -> str | None:
    """Why the tensors of a resume file are not what :meth:`Ledger.add` writes for examples
    of these shapes, or None: the scores in [0, 1], the inputs in the input box."""
    if "robust" not in t or "inputs" not in t:
        return "no robust scores or inputs"
    if t["robust"].shape != scores or t["inputs"].shape != inputs:
        return f"{len(t['robust'])} examples, not {scores[0]}"
    for key, v in t.items():
        per_example = key == "robust" or key.startswith(("after/", "kept/clean", "kept/first"))
        if per_example and v.shape != scores:
            return f"{key} has shape {list(v.shape)}"
        if not v.is_floating_point() or not torch.isfinite(v).all():
            return f"{key} is not finite numbers"
        if key != "kept/max_distance" and ((v < 0) | (v > 1)).any():
            return f"{key} leaves [0, 1]"
    return None


def _on_survivors(robust: torch.Tensor, inputs: torch.Tensor, data, run, known: EvalResult | None = None,
                  selection: Selection = Selection()) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``run(subset) -> EvalResult`` only on examples still (partly) robust; the others
    stay at 0. ``known`` holds this member's result on the first ``len(known)`` examples,
    already measured: those are not attacked again. Returns the updated per-example worst
    case (``selection``'s scores) and each example's input behind it."""
    scores = torch.zeros_like(robust)
    found: list[tuple[torch.Tensor, torch.Tensor]] = []  # (example positions, the member's inputs there)
    head = len(known.robust_per_example) if known is not None else 0
    if head:
        scores[:head] = selection.scores(data.head(head), known)
        found.append((torch.arange(head), known.x_adv))
    alive = (robust[head:] > 0).nonzero().flatten() + head
    if len(alive):
        subset = data.subset(alive)
        result = run(subset)
        scores[alive] = selection.scores(subset, result)
        found.append((alive, result.x_adv))
    taken = scores <= robust  # on a tie the member's own adversarial input, not an earlier one (or the clean one)
    inputs = inputs.clone()
    for where, x_adv in found:
        keep = taken[where]
        inputs[where[keep]] = x_adv[keep].to(inputs.dtype)
    return torch.minimum(robust, scores), inputs


def _chained(data, runs, selection: Selection = Selection()) -> EvalResult:
    """Per-example worst case over ``runs`` (each ``subset -> EvalResult``), each run only on
    the examples the previous ones left (partly) robust: the same scores as running every
    one on all of ``data`` (per-example random streams), for fewer passes. Its
    ``selection`` scores are the ones it compared, so an outer ledger compares them as they are."""
    sweep = Ledger.start(data, torch.ones(len(data)), selection)
    for i, run in enumerate(runs):
        sweep.add(str(i), run)
    return sweep.as_result(sweep.robust, 0.0, sum(sweep.seconds.values()))  # callers read its scores and inputs


@dataclass(frozen=True)
class Member:
    """One member of the ensemble: ``run(subset) -> EvalResult`` on the examples the members
    before it left robust, the parameters its row records, and whether it also runs alone on
    the evidence subset (flag (a) compares members alone). ``run=None``: a member that does
    not apply to this model, recorded with ``params`` saying why."""

    name: str
    params: dict
    run: Callable[[object], EvalResult] | None = None
    alone: bool = False


@dataclass(frozen=True)
class Ensemble:
    """What every member shares: the model, the row's attack configuration, the per-pass
    options (``draws``, ``seed``, ``quiet``), and the threat model's pieces. Under ``events``
    (at most K events flipped) the gradient members are sparse-flip and the black box
    random-flip; in an image ball the first member is APGD-CE, the others PGD, the black box Square."""

    model: nn.Module
    cfg: AttackConfig
    kw: dict

    @property
    def events(self) -> bool:
        return self.cfg.norm == "events"

    @property
    def grad_cfg(self) -> AttackConfig:
        """The PGD-like members' configuration (worst surrogate, transfers)."""
        if self.events:
            return dataclasses.replace(self.cfg, attack="sparse-flip", steps=event_flip_steps(self.cfg.eps), alpha=None)
        return dataclasses.replace(self.cfg, attack="pgd")

    @property
    def first_cfg(self) -> AttackConfig:
        """The first member's configuration (every example)."""
        return self.grad_cfg if self.events else dataclasses.replace(self.cfg, attack="apgd-ce", steps=APGD_STEPS, alpha=None)

    @property
    def first_name(self) -> str:
        return self.first_cfg.attack

    @property
    def blackbox_name(self) -> str:
        return "random-flip" if self.events else "square"

    @property
    def grad_params(self) -> dict:
        g = self.grad_cfg
        if self.events:
            return {"steps": g.steps, "flips per step": 1, "eot": self.cfg.eot}
        return {"steps": g.steps, "alpha": round(g.step_size, 6), "eot": self.cfg.eot}

    @property
    def first_params(self) -> dict:
        if self.events:
            return {**self.grad_params, "grad": self.cfg.grad}
        return {"steps": APGD_STEPS, "loss": "ce", "eot": self.cfg.eot, "grad": self.cfg.grad}

    def evaluate(self, data, cfg: AttackConfig, **options) -> EvalResult:
        return evaluate(self.model, data, cfg, **options, **self.kw)

    def estimator_runs(self, member_cfg: AttackConfig, specs: Sequence[str], rate_gradient: bool) -> list[Callable]:
        """``subset -> EvalResult`` of ``member_cfg`` under each surrogate of ``specs``, then under
        RGA if ``rate_gradient`` (every neuron supports it)."""
        runs = [lambda d, sg=Surrogate.parse(spec): self.evaluate(d, member_cfg, surrogate=sg, label=f"{member_cfg.attack} surrogate {sg}")
                for spec in specs]
        if rate_gradient:
            runs.append(lambda d: self.evaluate(d, dataclasses.replace(member_cfg, grad="rga"), label=f"{member_cfg.attack} rga"))
        return runs


def exact_members(ens: Ensemble, points: Callable[[], torch.Tensor], example_ids: torch.Tensor) -> list[Member]:
    """The members after APGD-CE on a model with no spike (module docstring): APGD-T continued
    from where APGD-CE left each survivor (``points()``, rows in the order of ``example_ids``);
    the spike members and transfers recorded as not applying."""
    continued = continued_from(points, example_ids, apgd_targeted, n_targets=EXACT_TARGETS,
                               ticks=lambda steps, eot: EXACT_TARGETS * apgd_ticks(steps, eot))
    targeted_cfg = dataclasses.replace(ens.first_cfg, attack="apgd-t", steps=EXACT_TARGETED_STEPS)
    no_spike = "no spike in the model: every estimator is its exact gradient, which apgd-ce and apgd-t follow"
    return [
        Member("apgd-t", {"steps": EXACT_TARGETED_STEPS, "loss": "dlr-targeted", "targets": EXACT_TARGETS,
                          "start": "where apgd-ce left the example", "targets by": "logit at the start", "eot": ens.cfg.eot, "grad": ens.cfg.grad},
               lambda d: ens.evaluate(d, targeted_cfg, spec=continued, label="apgd-t")),
        *(Member(name, {"skipped": no_spike}) for name in ("worst-surrogate", "assg", "apgd-surrogates")),
        Member("transfer", {"skipped": "no spike in the model: its own gradient is exact, and square is the gradient-free check"}),
    ]


def spiking_members(ens: Ensemble, surrogates: Sequence[str], selection: Selection) -> list[Member]:
    """The gradient members after the first on a model with spikes: APGD-T (image balls), the
    worst surrogate (PGD under each of ``surrogates`` and RGA, over recognised neurons only;
    one PGD without any), ASSG and APGD-CE under the surrogate families (image balls; the
    latter only with spiking neurons, else it would repeat APGD-CE)."""
    cfg, grad_cfg, neurons = ens.cfg, ens.grad_cfg, find_neurons(ens.model)
    rate_gradient = supports_rate_gradients(ens.model)

    def worst_surrogate(d):
        if not neurons:
            return ens.evaluate(d, grad_cfg)
        return _chained(d, ens.estimator_runs(grad_cfg, surrogates, rate_gradient), selection)

    members = []
    if not ens.events:
        members.append(Member("apgd-t", {"steps": APGD_STEPS, "loss": "dlr-targeted", "targets": 3, "eot": cfg.eot, "grad": cfg.grad},
                              lambda d: ens.evaluate(d, dataclasses.replace(ens.first_cfg, attack="apgd-t"))))
    members.append(Member("worst-surrogate", {
        **ens.grad_params,
        "surrogates": list(map(str, surrogates)) if neurons else f"none (no recognised spiking neurons: one {grad_cfg.attack})",
        "rga": rate_gradient,
    }, worst_surrogate))
    if not ens.events:
        members.append(Member("assg", assg_params(ens.model, cfg.eot), lambda d: ens.evaluate(d, assg_config(cfg), spec=ASSG, label="assg"),
                              alone=True))
        if neurons:
            members.append(Member("apgd-surrogates", {"steps": APGD_STEPS, "loss": "ce", "eot": cfg.eot, "surrogates": list(APGD_SURROGATES),
                                                      "rga": rate_gradient},
                                  lambda d: _chained(d, ens.estimator_runs(ens.first_cfg, APGD_SURROGATES, rate_gradient), selection)))
    return members


def blackbox_and_transfer_members(ens: Ensemble, sources: dict[str, nn.Module], source_names: dict[str, str], seed: int) -> list[Member]:
    """The gradient-free member (also run alone, for flag (a)), then PGD (sparse-flip) crafted on each source model."""
    cfg = ens.cfg
    members = [Member(ens.blackbox_name, square_params(cfg.eot, seed) if not ens.events else {"flips": int(cfg.eps), "seed": seed},
                      lambda d: ens.evaluate(d, dataclasses.replace(cfg, attack=ens.blackbox_name)), alone=True)]
    craft = sparse_flip if ens.events else pgd
    for name, source in sources.items():
        members.append(Member(name, {"source": source_names.get(name, "?"), **ens.grad_params, "eot": 1},
                              lambda d, src=source, name=name: ens.evaluate(d, ens.grad_cfg, spec=transfer_from(src, craft=craft), label=name)))
    return members


def standard_evaluation(
    model: nn.Module,
    data,
    cfg: AttackConfig,
    sources: dict[str, nn.Module],
    *,
    draws: int = 1,
    seed: int = 0,
    quiet: bool = True,
    surrogates=STANDARD_SURROGATES,
    whitebox: bool = True,
    source_names: dict[str, str] | None = None,
    evidence: bool = True,
    log: MemberLog | None = None,
) -> StandardResult:
    """Members run in order, each only on examples that survived the previous
    ones (AutoAttack's scheme: an example already broken needs no further
    attack). ``per_attack`` is therefore the robust accuracy *after* each
    member was added, non-increasing. Flag (a) needs attacks alone, so
    Square is compared with APGD-CE and ASSG, each alone, on the evidence subset:
    those run alone on the subset first and the ensemble reuses their scores there
    instead of attacking it twice (per-example random streams make them the same).

    ``evidence=False`` (a shard of the examples other than the first,
    :mod:`.sweep`) gathers no masking evidence and runs no member alone on the
    evidence subset: every per-example score is what the whole run gives.

    ``whitebox=False`` (a model with no input gradient at all) skips the
    gradient members; the black-box and transfer members still run. On a
    model :func:`spike_free` the ensemble is APGD-CE, the continued APGD-T and
    Square (module docstring; ``sources`` are not used).

    ``log`` (:class:`.member_log.MemberLog`): the ledger is written after every member, and
    the members an earlier process finished there are not run again (same numbers).
    """

    start = time.perf_counter()
    ens = Ensemble(model, cfg, {"draws": draws, "seed": seed, "quiet": quiet})
    params: dict[str, dict] = {}
    selection = Selection(model, draws, seed)
    if selection.params():
        params["selection"] = selection.params()
    if whitebox:
        ledger, first = Ledger.opening(data, ens.first_name, lambda: ens.evaluate(data, ens.first_cfg), selection, log)
        clean, max_distance = first.clean_per_example, first.max_distance
        params[ens.first_name] = ens.first_params
    else:
        clean = clean_scores(model, data, draws, seed)
        ledger, max_distance = Ledger.start(data, clean.clone(), selection, log), 0.0
        ledger.restored()
        params["white-box members"] = {"skipped": "the model has no input gradient"}
    if whitebox and spike_free(model, cfg):
        members, sources = exact_members(ens, lambda: ledger.inputs, data.example_ids), {}
    else:
        members = spiking_members(ens, surrogates, selection) if whitebox else []
    members += blackbox_and_transfer_members(ens, sources, source_names or {}, seed)

    n = min(EVIDENCE_EXAMPLES, len(data))
    alone: dict[str, EvalResult] = {}  # members run alone on the evidence subset
    for member in members:
        params[member.name] = member.params
        if member.run is None:
            continue
        if member.alone and evidence and not ledger.next_restored:
            t0 = time.perf_counter()
            alone[member.name] = member.run(data.head(n))
            ledger.kept[f"alone/{member.name}"] = alone[member.name].robust_per_example  # for the evidence, in a resumed run too
            ledger.seconds[member.name] = time.perf_counter() - t0
        ledger.add(member.name, member.run, known=alone.get(member.name))
    found = None
    if evidence:
        t0 = time.perf_counter()
        with counting_passes(model) as checks:  # no peer runs them: recorded apart, so a table can compare the attacks alone
            found = gather_evidence(model, data, cfg, draws=draws, seed=seed)
        params["masking-checks"] = {"examples": n, "forward": checks.forward, "backward": checks.backward}
        alone_acc = accuracies({k.split("/", 1)[1]: v for k, v in ledger.kept.items() if k.startswith("alone/")})  # the black box, and ASSG
        found.blackbox = {ens.blackbox_name: alone_acc.pop(ens.blackbox_name)}
        if whitebox:
            found.whitebox = {ens.first_name: first.robust_per_example[:n].mean().item(), **alone_acc}
        ledger.seconds["masking-checks"] = time.perf_counter() - t0
    robust = ledger.final(clean)
    result = EvalResult(clean.mean().item(), robust.mean().item(), clean, robust, max_distance, time.perf_counter() - start, ledger.inputs)
    return StandardResult(result, ledger.after, masking_flags(found) if found is not None else [], found, ledger.seconds, params)


def standard_gradient_steps(model: nn.Module | None, cfg: AttackConfig) -> int:
    """Input gradients per example of the ensemble's white-box and transfer members; on a
    model with no spike (:func:`spike_free`), of its smaller ensemble: APGD-CE and the continued APGD-T."""

    apgd_ce, apgd_t = ATTACKS["apgd-ce"].gradient_steps, ATTACKS["apgd-t"].gradient_steps
    if model is not None and spike_free(model, cfg):
        return apgd_ce(APGD_STEPS, cfg.eot) + EXACT_TARGETS * apgd_ticks(EXACT_TARGETED_STEPS, cfg.eot)
    apgd_surrogates = (len(APGD_SURROGATES) + 1) * apgd_ce(APGD_STEPS, cfg.eot)
    # the surrogate members, two transfers, ASSG, APGD-CE under the surrogate families
    return (apgd_ce(APGD_STEPS, cfg.eot) + apgd_t(APGD_STEPS, cfg.eot) + (len(STANDARD_SURROGATES) + 2) * cfg.steps
            + (ASSG_STEPS + 1) * cfg.eot + apgd_surrogates)


def standard_graphs(model: nn.Module | None, cfg: AttackConfig) -> int:
    """The model's own gradient, the surrogate families, RGA, ASSG's two and inference; on a
    model with no spike, its own gradient and inference."""
    if model is not None and spike_free(model, cfg):
        return 2
    return 1 + families(STANDARD_SURROGATES + APGD_SURROGATES) + 1 + 2 + 1


@register_composite(
    "standard", "APGD-CE, APGD-T, PGD under 4 surrogates + RGA, ASSG + SA-PGD, APGD-CE under 5 surrogate families + RGA, "
    "Square, transfers; per example (no spike in the model: APGD-CE, continued APGD-T, Square)",
    gradients=standard_gradient_steps, graphs=standard_graphs,
)
def run_standard(run: Run) -> Outcome:
    """The standard ensemble (:func:`standard_evaluation`), members counted per example."""

    sources, names = ({}, {}) if spike_free(run.model, run.cfg) else run.sources()  # no transfer member there
    std = standard_evaluation(run.model, run.data, run.cfg, sources, whitebox=run.facts.whitebox, source_names=names,
                              evidence=run.evidence, log=run.log, **run.kw)
    params = std.params
    for member in ("apgd-ce", "apgd-t"):
        if member in params:
            params[member]["surrogate"] = run.member_surrogate
    if not sources and "transfer" not in params:
        params["transfer"] = {"skipped": f"no source models (ann-cnn, snn-cnn) in the zoo for {run.data.name!r}"}
    return Outcome(std.result, std.per_example, params, std.flags, std.seconds, APGD_STEPS, None)
