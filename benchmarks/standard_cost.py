"""What the standard evaluation of a stochastic SNN costs, in arithmetic.

Counts the multiply-adds of one forward pass of a zoo model (Conv2d and
Linear layers, through forward hooks), times one EOT input gradient on a
batch of test images, and prints the FLOP rate it reaches as a ratio to a
peer measured in the same run: a 1024x1024 fp32 matmul (``torch.mm``), about
the best this CPU does in PyTorch, eagerly and through the compiled attack
path (``--compile on``; first call, which compiles, not timed). Then, from the
ensemble's own constants (APGD steps, APGD-T targets, the PGD surrogate
sweep, ASSG's SA-PGD steps, the APGD surrogates, Square evaluations), how
much faster each gradient would have to run for ``--n`` images to fit
``--budget`` minutes, as a multiple of its rate and as a share of the
matmul peer. The count is an upper bound per image that survives every
member (an image broken early costs less), so the committed row's counted
``bwd_per_example`` is printed next to it when the row exists.

    python benchmarks/standard_cost.py [--model rsc-snn] [--dataset mnist] [--budget 20] [--malloc default]
"""

from __future__ import annotations

import argparse
import inspect

import torch
from torch import nn

from robustbench_snn.results import leaderboard
from robustbench_snn.evaluation.allocator import keep_freed_memory
from robustbench_snn.attacks.apgd import apgd_targeted
from robustbench_snn.attacks.blackbox import SQUARE_EVALS
from robustbench_snn.attacks.gradient import eot_gradient
from robustbench_snn.attacks.sapgd import ASSG_STEPS
from robustbench_snn.evaluation.compiled import CompileStats, compiled_path
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.evaluation.harness import AttackConfig
from robustbench_snn.core.limits import positive_int
from robustbench_snn.evaluation.standard import APGD_STEPS, APGD_SURROGATES, STANDARD_SURROGATES
from robustbench_snn.models.zoo import load_checkpoint
from timing import best_of

#: APGD-T's default number of target classes (read from its signature, not restated)
APGD_T_TARGETS = inspect.signature(apgd_targeted).parameters["n_targets"].default
PGD_STEPS = AttackConfig.steps  # the worst-surrogate member's PGD runs at the default steps


def forward_flops(model: nn.Module, x: torch.Tensor) -> float:
    """FLOPs (2 per multiply-add) of Conv2d and Linear layers in one forward pass, per image."""
    total = 0

    def hook(module, inputs, out):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += out.numel() * (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]
        else:
            total += out.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return 2.0 * total / len(x)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="rsc-snn")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--data-dir", default="../shared/data/mnist")
    p.add_argument("--eot", type=positive_int("--eot"), default=10)
    p.add_argument("--batch", type=positive_int("--batch"), default=250)
    p.add_argument("--n", type=positive_int("--n"), default=1000, help="images in the evaluation")
    p.add_argument("--budget", type=float, default=20.0, help="minutes")
    p.add_argument("--threads", type=positive_int("--threads"), default=2)
    p.add_argument("--malloc", choices=("keep", "default"), default="keep",
                   help="keep: what rbsnn does (robustbench_snn.evaluation.allocator); default: the C library's own policy")
    args = p.parse_args()
    if args.malloc == "keep":
        keep_freed_memory()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, "test", args.data_dir if args.dataset != "digits" else None).head(args.batch)
    model = load_checkpoint(args.model, args.dataset)[0].eval()

    fwd = forward_flops(model, data.x[:8])
    # an input gradient needs each layer's input-gradient product, as many FLOPs as its forward
    per_gradient = args.eot * 2 * fwd
    grad = lambda: eot_gradient(model, data.x, data.y, args.eot)  # noqa: E731
    t_eager = best_of(grad, reps=2) / args.batch
    with compiled_path(model, "on", CompileStats("on")):
        grad()  # compiles
        t_compiled = best_of(grad, reps=2) / args.batch
    a = torch.randn(1024, 1024)
    t_mm = best_of(lambda: torch.mm(a, a), reps=5)
    peak = 2 * 1024**3 / t_mm

    grads = ensemble_gradients()
    flops = grads * per_gradient + SQUARE_EVALS * fwd
    needed = args.n * flops / (args.budget * 60)
    print(f"{args.model} {args.dataset}: {fwd / 1e6:.1f} MFLOP per forward pass per image, "
          f"{per_gradient / 1e6:.0f} MFLOP per EOT-{args.eot} input gradient")
    print(f"standard ensemble: at most {grads} EOT gradients + {SQUARE_EVALS} Square evaluations per image "
          f"= {flops / 1e9:.0f} GFLOP per image (masking checks and transfer not counted)")
    counted = committed_backward_passes(args.model, args.dataset)
    if counted is not None:
        print(f"committed standard row ({args.dataset}, eps 8/255): {counted:.0f} backward passes per example counted "
              f"= {counted / args.eot:.0f} EOT-{args.eot} gradients")
    for path, t in (("eager", t_eager), ("compiled", t_compiled)):
        rate = per_gradient / t
        print(f"{path}: EOT-{args.eot} gradient on {args.batch} images, {args.threads} threads, malloc {args.malloc}: "
              f"{t * 1e3:.1f} ms per image, {rate / peak:.3f} x the FLOP rate of a 1024x1024 torch.mm measured in the same run; "
              f"{args.n} images in {args.budget:g} min need {needed / rate:.1f} x this rate = {needed / peak:.2f} x the matmul peer's")


def ensemble_gradients() -> int:
    """EOT gradients per image that survives every white-box member of ``standard``:
    APGD-CE, APGD-T per target, PGD per standard surrogate plus its RGA run, ASSG's
    SA-PGD, APGD-CE per APGD surrogate plus its RGA run."""
    return (APGD_STEPS + APGD_T_TARGETS * APGD_STEPS + (len(STANDARD_SURROGATES) + 1) * PGD_STEPS
            + ASSG_STEPS + (len(APGD_SURROGATES) + 1) * APGD_STEPS)


def committed_backward_passes(model: str, dataset: str) -> float | None:
    """``bwd_per_example`` of the committed standard row at 8/255, if it exists and was counted."""
    path = leaderboard.default_path(dataset, "linf")
    if not path.exists():
        return None
    rows = leaderboard.read(path)
    rows = rows[(rows.model == model) & (rows.attack == "standard") & ((rows.eps - 8 / 255).abs() < 1e-5)]
    if rows.empty or rows.bwd_per_example.isna().all():
        return None
    return float(rows.bwd_per_example.iloc[0])


if __name__ == "__main__":
    main()
