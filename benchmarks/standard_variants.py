"""Variants of the standard evaluation's surrogate member, measured where ``standard`` trails
``ensemble19`` (measured before making ``standard`` stronger).

Runs the white-box members of ``standard`` per example in their order -- APGD-CE, APGD-T,
the surrogate sweep plus RGA, ASSG -- each on the examples still robust, with the sweep
member as ``--sweep-attack`` (``pgd``: today's PGD-10; ``apgd-ce``: APGD-CE at the
ensemble's APGD budget) under ``--surrogates`` (default: today's four). Prints the robust
accuracy after each member, the seconds and the counted passes; nothing is written to a
leaderboard. Eager, one process; compare the final number with the model's
``ensemble19`` row. A stochastic model (``rsc-snn``) runs with the EOT and scoring draws
its rows use (10 each, or ``--eot`` / ``--draws``), and the final number is the chosen
inputs scored again with held-out draws, as the ensembles report it (``Ledger.final``).

    .venv/bin/python benchmarks/standard_variants.py --model qcfs-snn --eps 0.1 --sweep-attack apgd-ce \\
        --surrogates pcw:1 exp-d:1 exp:2 rect:2 ste
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from robustbench_snn.core.budget import Eps
from robustbench_snn.attacks.sapgd import ASSG, assg_config
from robustbench_snn.evaluation.cost import counting_passes
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.evaluation.harness import AttackConfig, evaluate
from robustbench_snn.core.limits import positive_int
from robustbench_snn.evaluation.standard import APGD_STEPS, STANDARD_SURROGATES, Ledger, Selection
from robustbench_snn.core.surrogate import Surrogate
from robustbench_snn.models.zoo import load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qcfs-snn")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir")
    parser.add_argument("--eps", default="0.1")
    parser.add_argument("--n-examples", type=positive_int("--n-examples"), default=500)
    parser.add_argument("--eot", type=positive_int("--eot"), default=None, help="EOT copies per gradient (default: 10 for a stochastic model, else 1)")
    parser.add_argument("--draws", type=positive_int("--draws"), default=None, help="scoring draws (default: 10 for a stochastic model, else 1)")
    parser.add_argument("--sweep-attack", choices=("pgd", "apgd-ce", "none"), default="pgd")
    parser.add_argument("--surrogates", nargs="+", default=list(STANDARD_SURROGATES))
    parser.add_argument("--after-assg", nargs="*", default=[], metavar="SURROGATE",
                        help="APGD-CE under each of these surrogates, after ASSG (on its survivors)")
    args = parser.parse_args()

    model = load_checkpoint(args.model, args.dataset)[0].eval()
    data = load_dataset(args.dataset, "test", args.data_dir).head(args.n_examples)
    stochastic = getattr(model, "stochastic", False)
    eot = args.eot or (10 if stochastic else 1)
    draws = args.draws or (10 if stochastic else 1)
    first = AttackConfig("apgd-ce", "linf", Eps.parse(args.eps, "linf").value, APGD_STEPS, None, eot)
    sweep = first if args.sweep_attack == "apgd-ce" else dataclasses.replace(first, attack="pgd", steps=10)
    kw = {"quiet": True, "seed": 0, "draws": draws}
    start = time.perf_counter()
    with counting_passes(model) as passes:
        opening = evaluate(model, data, first, **kw)
        ledger = Ledger.first(data, "apgd-ce", opening, Selection(model, draws, 0))  # standard's per-example chain
        members = [("apgd-t", lambda d: evaluate(model, d, dataclasses.replace(first, attack="apgd-t"), **kw))]
        if args.sweep_attack != "none":
            members += [(f"{sweep.attack} {sg}", lambda d, sg=sg: evaluate(model, d, sweep, surrogate=Surrogate.parse(sg), **kw))
                        for sg in args.surrogates]
            members += [(f"{sweep.attack} rga", lambda d: evaluate(model, d, dataclasses.replace(sweep, grad="rga"), **kw))]
        members += [("assg", lambda d: evaluate(model, d, assg_config(first), spec=ASSG, label="assg", **kw))]
        members += [(f"apgd-ce {sg}", lambda d, sg=sg: evaluate(model, d, first, surrogate=Surrogate.parse(sg), **kw))
                    for sg in args.after_assg]
        print(f"{'apgd-ce':18s} {ledger.robust.mean():.2%}", flush=True)
        for label, run in members:
            ledger.add(label, run)
            print(f"{label:18s} {ledger.robust.mean():.2%}", flush=True)
        final = ledger.final(opening.clean_per_example)
    n = len(data)
    if draws > 1:
        print(f"held-out draws: {final.mean():.2%} (the selection scores above are biased low)")
    print(f"final {final.mean():.2%} on {n} examples in {time.perf_counter() - start:.0f} s; "
          f"passes per example {passes.forward / n:.1f} forward, {passes.backward / n:.1f} backward")

if __name__ == "__main__":
    main()
