"""Compiled vs eager attack gradient, per zoo architecture, measured in one run.

For each model: the EOT input gradient an attack takes on a batch of test
images (``eot_loss_and_gradient``, the attacks' own function), timed eagerly
and then through the compiled attack path (``robustbench_snn.evaluation.compiled``,
``--compile on``) in the same process, with the time the first compiled call
took (tracing and code generation; less on a second run, which finds the
graph in inductor's on-disk cache), how far the compiled logits and
gradients are from the eager ones, and the compiled gradient's FLOP rate as
a ratio to a 1024x1024 ``torch.mm`` peer timed in the same run. The process
keeps freed memory as ``rbsnn`` does (:mod:`robustbench_snn.evaluation.allocator`): without
it every large activation is page-faulted afresh, and the timings depend on
what ran before (measured: the rsc-snn MNIST EOT gradient, 250 images, one
thread, compiled, 7.9 s when it ran first in a process, 4.2 s after the eager
timings).

    python benchmarks/compile_speed.py [--dataset mnist] [--models rsc-snn,snn-cnn] [--threads 2]
        [--surrogates pcw:1,rect:1,exp:1,ste] [--layouts] [--first-layer] [--pooling]

``--layouts`` also times, for each spiking model, the compiled gradient and a frozen
scoring pass with and without inductor's channels-last activations
(``compiled.SPIKING_CHANNELS_LAST``, the layout the compiled path turns off for
spiking modules), in the same run (ours just before). ``--first-layer`` does the
same with the first layer run at every step (``compiled.FIRST_LAYER_ONCE`` off,
:mod:`robustbench_snn.evaluation.first_layer`), on the models where it runs once, and
``--pooling`` with inductor's own ``avg_pool2d`` (``compiled.BLOCK_MEAN_POOLING``
off, :mod:`robustbench_snn.evaluation.block_pooling`).

``--surrogates`` times the gradient under each attack surrogate in turn (the
``ensemble19`` estimators compile one graph per family): a family whose
compiled gradient is much slower than the others points at a formula the
compiler handles badly (the comparison form of RECT did: see
``surrogate._rectangle``). ``assg`` there is the adaptive-sharpness surrogate
of ``--attack assg`` (:mod:`robustbench_snn.attacks.assg`): each timed gradient starts
an attack iteration, so its first pass updates the moments, as in SA-PGD; the
eager and compiled gradients are compared at the same moments.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from standard_cost import forward_flops
from timing import best_of

from robustbench_snn.attacks.assg import adaptive_sharpness
from robustbench_snn.attacks.gradient import eot_loss_and_gradient
from robustbench_snn.attacks.losses import cross_entropy
from robustbench_snn.core import streams
from robustbench_snn.core.errors import UserInputError
from robustbench_snn.core.limits import positive_int
from robustbench_snn.core.surrogate import Surrogate
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.evaluation import compiled as compiled_module
from robustbench_snn.evaluation.allocator import keep_freed_memory
from robustbench_snn.evaluation.block_pooling import swappable_pools
from robustbench_snn.evaluation.compiled import CompileStats, compiled_path
from robustbench_snn.evaluation.first_layer import equal_step_modules, projected_body
from robustbench_snn.interop.foreign_neurons import attack_surrogate, find_neurons
from robustbench_snn.models.zoo import load_checkpoint, zoo_models


def gradient(model, x, y, eot):
    """One EOT gradient with per-example streams (so eager and compiled see the same draws)."""
    with streams.per_example(0, torch.arange(len(x)), "benchmark"):
        _, grad, logits = eot_loss_and_gradient(model, x, y, cross_entropy, eot)
    return logits, grad


#: ``--surrogates`` name of the adaptive-sharpness surrogate (not a fixed surrogate family).
ASSG = "assg"


def measure(name: str, dataset: str, x, y, eot: int, reps: int, mm_rate: float, surrogate: str | None = None,
            variants: tuple[str, ...] = ()) -> dict:
    """Eager and compiled timings of one model's attack gradient, and under ``"variants"`` the
    gradient and a frozen scoring pass of each of ``variants`` (:data:`VARIANTS`) that applies
    to the model, against ours (see :func:`variant_times`)."""
    model = load_checkpoint(name, dataset)[0].eval()
    eot = eot if getattr(model, "stochastic", False) else 1
    flops = 2 * eot * forward_flops(model, x[:8]) * len(x)  # forward + input-gradient products (outside ASSG: 8 rows)
    if surrogate == ASSG:
        with adaptive_sharpness(model, len(x)) as state:
            return {"model": name, "surrogate": surrogate, **_timed(model, x, y, eot, reps, flops / mm_rate, state.next_iteration, variants)}
    with attack_surrogate(model, surrogate):
        return {"model": name, "surrogate": surrogate or "own", **_timed(model, x, y, eot, reps, flops / mm_rate, variants=variants)}


def _timed(model, x, y, eot: int, reps: int, mm_seconds: float, before=lambda: None, variants: tuple[str, ...] = ()) -> dict:
    """Eager, then compiled timings (``mm_seconds``: the peer's time for the gradient's FLOPs);
    ``before()`` runs before each timed gradient (an attack iteration's start). The reference
    gradients run without it, so under ASSG both see the moments the eager timings left (each
    model pass ends the update: ``adaptive_sharpness``'s hook)."""

    def step():
        before()
        return gradient(model, x, y, eot)

    eager = best_of(step, reps)
    eager_logits, eager_grad = gradient(model, x, y, eot)
    stats = CompileStats("on")
    with compiled_path(model, "on", stats):
        t = time.perf_counter()
        logits, grad = gradient(model, x, y, eot)
        first = time.perf_counter() - t
        compiled = best_of(step, reps)
    applying = [v for v in variants if VARIANTS[v].applies(model)]
    scoring = scoring_time(model, x, reps) if applying else None  # ours, once for every variant
    return {
        "eot": eot, "eager_s": eager, "compiled_s": compiled, "ratio": eager / compiled,
        "first_call_s": first, "graphs": stats.compiles, "fallback": stats.fallback or "",
        "logit_diff": (logits - eager_logits).abs().max().item(),
        "grad_rel": ((grad - eager_grad).norm() / eager_grad.norm().clamp_min(1e-30)).item(),
        "mm_share": mm_seconds / compiled,
        "variants": {v: variant_times(model, x, step, reps, (compiled, scoring), VARIANTS[v].setting) for v in applying},
    }


def scoring_pass(model, x):
    """One pass without gradients, as an evaluation scores (a frozen graph on the inference path)."""
    with torch.no_grad(), streams.per_example(0, torch.arange(len(x)), "benchmark"):
        return model(x)


@dataclass(frozen=True)
class Variant:
    """A choice of the compiled path timed against ours: ``setting`` is the ``compiled``
    module attribute and the value that undoes the choice; ``applies(model)``: whether the
    choice changes anything for ``model``."""

    setting: tuple[str, object]
    applies: Callable[[torch.nn.Module], bool]
    label: str


#: ``--layouts``: inductor's channels-last activations (off for spiking modules; an ANN has them
#: already). ``--first-layer``: the first layer at every step (:mod:`robustbench_snn.evaluation.first_layer`).
#: ``--pooling``: inductor's own ``avg_pool2d`` instead of a block mean (:mod:`robustbench_snn.evaluation.block_pooling`).
VARIANTS = {
    "layouts": Variant(("SPIKING_CHANNELS_LAST", True), lambda m: bool(find_neurons(m)), "with inductor's channels-last layout"),
    "first-layer": Variant(("FIRST_LAYER_ONCE", False), lambda m: projected_body(m) is not None or bool(equal_step_modules(m, getattr(m, "net", m))),
                           "with the first layer at every step"),
    "pooling": Variant(("BLOCK_MEAN_POOLING", False), lambda m: bool(swappable_pools(m)), "with inductor's own avg_pool2d"),
}


def scoring_time(model, x, reps: int) -> float:
    """Seconds of a frozen scoring pass through the compiled path (best_of's warm-up call compiles)."""
    with compiled_path(model, "on", inference=True):
        return best_of(lambda: scoring_pass(model, x), reps)


@contextmanager
def compiled_setting(name: str, value: object) -> Iterator[None]:
    """Within the block the ``compiled`` module's setting ``name`` is ``value`` (restored after)."""
    saved = getattr(compiled_module, name)
    setattr(compiled_module, name, value)
    try:
        yield
    finally:
        setattr(compiled_module, name, saved)


def variant_times(model, x, step, reps: int, ours: tuple[float, float], setting: tuple[str, object]) -> dict[str, tuple[float, float]]:
    """Seconds of the compiled gradient (``step``) and of a frozen scoring pass, each as
    ``(ours, with the compiled module's setting)``; ``ours``: the two already timed."""
    with compiled_setting(*setting):
        with compiled_path(model, "on"):
            gradient_other = best_of(step, reps)
        scoring_other = scoring_time(model, x, reps)
    return {"gradient": (ours[0], gradient_other), "inference": (ours[1], scoring_other)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-dir", default="../shared/data/mnist")
    p.add_argument("--models", default=None, help="comma-separated zoo models (default: every zoo model of the dataset)")
    p.add_argument("--batch", type=positive_int("--batch"), default=250)
    p.add_argument("--eot", type=positive_int("--eot"), default=10, help="EOT copies for stochastic models (1 for deterministic ones)")
    p.add_argument("--threads", type=positive_int("--threads"), default=2)
    p.add_argument("--reps", type=positive_int("--reps"), default=3)
    p.add_argument("--surrogates", default=None, help="comma-separated attack surrogates, or assg (default: each model's own)")
    for name, variant in VARIANTS.items():
        p.add_argument(f"--{name}", action="store_true", help=f"also time the compiled gradient and a scoring pass {variant.label}")
    args = p.parse_args()
    variants = tuple(name for name in VARIANTS if getattr(args, name.replace("-", "_")))
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, "test", None if args.dataset == "digits" else args.data_dir).head(args.batch)
    names = args.models.split(",") if args.models else zoo_models(args.dataset)
    unknown = sorted(set(names) - set(zoo_models(args.dataset)))
    if unknown:  # before the timings, not as a traceback after the first model's
        p.error(f"no zoo model {', '.join(unknown)} on {args.dataset}; choices: {', '.join(zoo_models(args.dataset))}")
    a = torch.randn(1024, 1024)
    mm_rate = 2 * 1024**3 / best_of(lambda: torch.mm(a, a), reps=5)
    print(f"host: {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads, "
          f"{args.dataset}, batch {args.batch}")
    surrogates = args.surrogates.split(",") if args.surrogates else [None]
    try:
        [Surrogate.parse(s) for s in surrogates if s and s != ASSG]  # a bad name stops here, not after the first model's timings
    except UserInputError as e:
        p.error(str(e))
    heads = "".join(f" gradient: ours / {v} s | inference: ours / {v} s |" for v in variants)
    print("| model | surrogate | EOT | eager s | compiled s | eager/compiled | first compiled call s | graphs | max logit diff "
          f"| grad rel. diff | FLOP rate / torch.mm |{heads}")
    print(f"|---|---|---|---|---|---|---|---|---|---|---|{'---|---|' * len(variants)}")
    for name, surrogate in itertools.product(names, surrogates):
        r = measure(name, args.dataset, data.x, data.y, args.eot, args.reps, mm_rate, surrogate, variants)
        note = f" (fallback: {r['fallback']})" if r["fallback"] else ""
        cells = ""
        for v in variants:
            pairs = [r["variants"][v]["gradient"], r["variants"][v]["inference"]] if v in r["variants"] else []
            cells += "".join(f" {a:.3f} / {b:.3f} ({a / b:.2f}x) |" for a, b in pairs) or " (does not apply) | |"
        print(f"| {r['model']}{note} | {r['surrogate']} | {r['eot']} | {r['eager_s']:.3f} | {r['compiled_s']:.3f} | {r['ratio']:.2f}x | {r['first_call_s']:.0f} "
              f"| {r['graphs']} | {r['logit_diff']:.1e} | {r['grad_rel']:.1e} | {r['mm_share']:.3f} |{cells}", flush=True)


if __name__ == "__main__":
    main()
