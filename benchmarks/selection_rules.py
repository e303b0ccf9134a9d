"""Which rule for keeping an example's worst input makes an ensemble strongest on a stochastic model?

An ensemble (``standard``, ``ensemble19``) keeps, per example, the input with the lowest
score so far; since held-out scoring (``Ledger.final``) the reported score is that input
scored again with draws no member saw. On digits rsc-snn at eps 0.1 that made ``standard``
(70.12) weaker than its own first member alone (APGD-CE, 69.78 on its scoring draws) and
than PGD-10 alone (69.18): with ten scoring draws an estimate's noise (about 0.15 per
example) is larger than the difference between most members' inputs, so "the lowest
score" mostly picks the input these ten draws happened to misclassify, and later, weaker
members (each scored with the same ten draws) replace better inputs.

Here every member runs on every example (no survivor chaining, so every candidate is
kept) and the rules are compared by the held-out score of what each one keeps, with
``--judge`` held-out draws (100: a precise estimate of each chosen input's expected score):

- ``score10, ties->later``: today's rule (the member's own input on a tie);
- ``score10, ties->earlier``: replace only on a strictly lower score;
- ``score10+confirm``: replace only when strictly lower on the ten scoring draws *and* on
  ``--confirm`` draws of another stream (purpose ``confirm``), both compared on common draws;
- ``pooled``: the scoring draws and the confirm draws pooled, strictly lower;
- ``p_true``: the mean softmax probability of the label over the ten scoring draws
  (continuous, so far less noisy than a fraction of ten), lower;
- ``score10 then p_true``: lowest score, ties broken by ``p_true``.

Each member alone is printed too. Nothing is written to a leaderboard.

    python benchmarks/selection_rules.py [--model rsc-snn] [--eps 0.1] [--n 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from robustbench_snn.core import streams
from robustbench_snn.core.budget import Eps
from robustbench_snn.attacks.sapgd import ASSG, assg_config
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.evaluation.ensemble19 import LOSSES, estimators
from robustbench_snn.evaluation.harness import AttackConfig, evaluate
from robustbench_snn.core.limits import positive_int
from robustbench_snn.evaluation.standard import APGD_STEPS, APGD_SURROGATES, STANDARD_SURROGATES
from robustbench_snn.core.surrogate import Surrogate
from robustbench_snn.models.zoo import load_checkpoint


@torch.no_grad()
def draw_stats(model, x, y, ids, draws: int, purpose: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example: the fraction of ``draws`` passes predicting ``y`` and the mean softmax
    probability of ``y``, draws from ``purpose``'s per-example streams ([N], [N])."""
    hits, prob = torch.zeros(len(y)), torch.zeros(len(y))
    for i in range(0, len(y), 250):
        xb, yb = x[i : i + 250], y[i : i + 250]
        with streams.per_example(0, ids[i : i + 250], purpose):
            for _ in range(draws):
                out = model(xb)
                hits[i : i + 250] += (out.argmax(1) == yb).float()
                prob[i : i + 250] += out.softmax(1).gather(1, yb[:, None]).squeeze(1)
    return hits / draws, prob / draws


def keep(candidates: list[torch.Tensor], key, strictly: bool = True) -> torch.Tensor:
    """Index of the kept candidate per example, in member order: a later one replaces the
    incumbent where ``key(new, old)`` (a bool [N]) says it is better."""
    kept = torch.zeros(len(candidates[0]), dtype=torch.long)
    for j in range(1, len(candidates)):
        better = key(j, kept)
        kept = torch.where(better, torch.full_like(kept, j), kept)
    return kept


def standard_members(model, data, first: AttackConfig, kw: dict) -> dict:
    """``standard``'s white-box members and Square, each on every example (the surrogate
    sweep and the APGD surrogates one run per estimator): name -> ``() -> EvalResult``."""
    sweep = dataclasses.replace(first, attack="pgd", steps=10)
    return {
        "apgd-ce": lambda: evaluate(model, data, first, **kw),
        "apgd-t": lambda: evaluate(model, data, dataclasses.replace(first, attack="apgd-t"), **kw),
        **{f"pgd {sg}": (lambda sg=sg: evaluate(model, data, sweep, surrogate=Surrogate.parse(sg), **kw)) for sg in STANDARD_SURROGATES},
        "pgd rga": lambda: evaluate(model, data, dataclasses.replace(sweep, grad="rga"), **kw),
        "assg": lambda: evaluate(model, data, assg_config(first), spec=ASSG, label="assg", **kw),
        **{f"apgd-ce {sg}": (lambda sg=sg: evaluate(model, data, first, surrogate=Surrogate.parse(sg), **kw)) for sg in APGD_SURROGATES},
        "apgd-ce rga": lambda: evaluate(model, data, dataclasses.replace(first, grad="rga"), **kw),
        "square": lambda: evaluate(model, data, dataclasses.replace(first, attack="square"), **kw),
    }


def ensemble19_members(model, data, first: AttackConfig, kw: dict) -> dict:
    """``ensemble19``'s runs: APGD-CE then APGD-DLR under each of its estimators."""
    chosen, _ = estimators(model)
    return {f"{loss} {label}": (lambda loss=loss, sg=sg, grad=grad: evaluate(
                model, data, dataclasses.replace(first, attack=loss, grad=grad), surrogate=sg, **kw))
            for label, sg, grad in chosen for loss in LOSSES}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="rsc-snn")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--eps", default="0.1")
    p.add_argument("--n", type=positive_int("--n"), default=100)
    p.add_argument("--eot", type=positive_int("--eot"), default=10)
    p.add_argument("--draws", type=positive_int("--draws"), default=10)
    p.add_argument("--confirm", type=positive_int("--confirm"), default=40)
    p.add_argument("--judge", type=positive_int("--judge"), default=100)
    p.add_argument("--threads", type=positive_int("--threads"), default=1)
    p.add_argument("--members", choices=("standard", "ensemble19"), default="standard",
                   help="standard's white-box members and Square, or ensemble19's 38 APGD runs")
    p.add_argument("--save", help="write the per-candidate scores here (safetensors) for other rules")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load_checkpoint(args.model, args.dataset)[0].eval()
    data = load_dataset(args.dataset, "test").head(args.n)
    first = AttackConfig("apgd-ce", "linf", Eps.parse(args.eps, "linf").value, APGD_STEPS, None, args.eot)
    kw = {"quiet": True, "seed": 0, "draws": args.draws}
    members = (standard_members if args.members == "standard" else ensemble19_members)(model, data, first, kw)
    x_adv, score, p_true, confirm, judge = [], [], [], [], []
    y, ids = data.y, data.example_ids
    print(f"{args.model} {args.dataset} eps {args.eps}, {args.n} images, EOT {args.eot}, {args.draws} scoring draws, "
          f"{args.confirm} confirm draws, judged with {args.judge} held-out draws")
    for name, run in members.items():
        t0 = time.perf_counter()
        r = run()
        x = r.x_adv
        s, pt = draw_stats(model, x, y, ids, args.draws, "score")
        c, _ = draw_stats(model, x, y, ids, args.confirm, "confirm")
        h, _ = draw_stats(model, x, y, ids, args.judge, "held-out")
        x_adv.append(x); score.append(s); p_true.append(pt); confirm.append(c); judge.append(h)
        print(f"  {name:18s} alone: scoring {100 * s.mean():6.2f}  held-out {100 * h.mean():6.2f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    S, P, C, H = (torch.stack(t) for t in (score, p_true, confirm, judge))  # [members, N]
    at = lambda T, k: T.gather(0, k[None]).squeeze(0)  # noqa: E731  the kept member's value per example
    pooled = (S * args.draws + C * args.confirm) / (args.draws + args.confirm)
    rules = {
        "score10, ties->later": keep(score, lambda j, k: S[j] <= at(S, k)),
        "score10, ties->earlier": keep(score, lambda j, k: S[j] < at(S, k)),
        "score10+confirm": keep(score, lambda j, k: (S[j] < at(S, k)) & (C[j] < at(C, k))),
        "pooled": keep(score, lambda j, k: pooled[j] < at(pooled, k)),
        "p_true": keep(score, lambda j, k: P[j] < at(P, k)),
        "score10 then p_true": keep(score, lambda j, k: (S[j] < at(S, k)) | ((S[j] == at(S, k)) & (P[j] < at(P, k)))),
    }
    if args.save:
        from safetensors.torch import save_file

        save_file({"score": S, "p_true": P, "confirm": C, "judge": H}, args.save, metadata={"members": ",".join(members)})
    clean = draw_stats(model, data.x, y, ids, args.judge, "held-out")[0]
    print("rule (selection score -> held-out score of the kept inputs)")
    for name, kept in rules.items():
        print(f"  {name:24s} {100 * at(S, kept).mean():6.2f} -> {100 * torch.minimum(clean, at(H, kept)).mean():6.2f}")


if __name__ == "__main__":
    main()
