"""What the standard evaluation of a stochastic SNN costs, in arithmetic.

Counts the multiply-adds of one forward pass of a zoo model (Conv2d and
Linear layers, through forward hooks), times one EOT input gradient on a
batch of test images, and prints the FLOP rate it reaches as a ratio to a
peer measured in the same run: a 1024x1024 fp32 matmul (``torch.mm``), about
the best this CPU does in PyTorch. Then, from the ensemble's own constants
(APGD steps, APGD-T targets, surrogate sweep, Square evaluations), how much
faster the gradient would have to run for ``--n`` images to fit ``--budget``
minutes, as a multiple of today's rate and as a share of the matmul peer.

    python benchmarks/standard_cost.py [--model rsc-snn] [--dataset mnist] [--budget 20] [--malloc default]
"""

from __future__ import annotations

import argparse
import inspect

import torch
from torch import nn

from robustbench_snn.allocator import keep_freed_memory
from robustbench_snn.attacks.apgd import apgd_targeted
from robustbench_snn.attacks.blackbox import SQUARE_EVALS
from robustbench_snn.attacks.gradient import eot_gradient
from robustbench_snn.data import load_dataset
from robustbench_snn.harness import AttackConfig
from robustbench_snn.standard import APGD_STEPS, STANDARD_SURROGATES
from robustbench_snn.zoo import load_checkpoint
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
    p.add_argument("--eot", type=int, default=10)
    p.add_argument("--batch", type=int, default=250)
    p.add_argument("--n", type=int, default=1000, help="images in the evaluation")
    p.add_argument("--budget", type=float, default=20.0, help="minutes")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--malloc", choices=("keep", "default"), default="keep",
                   help="keep: what rbsnn does (robustbench_snn.allocator); default: the C library's own policy")
    args = p.parse_args()
    if args.malloc == "keep":
        keep_freed_memory()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, "test", args.data_dir if args.dataset != "digits" else None).head(args.batch)
    model = load_checkpoint(args.model, args.dataset)[0].eval()

    fwd = forward_flops(model, data.x[:8])
    # an input gradient needs each layer's input-gradient product, as many FLOPs as its forward
    per_gradient = args.eot * 2 * fwd
    t_grad = best_of(lambda: eot_gradient(model, data.x, data.y, args.eot), reps=2) / args.batch
    a = torch.randn(1024, 1024)
    t_mm = best_of(lambda: torch.mm(a, a), reps=5)
    rate, peak = per_gradient / t_grad, 2 * 1024**3 / t_mm

    # APGD-CE, APGD-T per target, PGD per standard surrogate plus the RGA run
    grads = APGD_STEPS + APGD_T_TARGETS * APGD_STEPS + (len(STANDARD_SURROGATES) + 1) * PGD_STEPS
    flops = grads * per_gradient + SQUARE_EVALS * fwd
    needed = args.n * flops / (args.budget * 60)
    print(f"{args.model} {args.dataset}: {fwd / 1e6:.1f} MFLOP per forward pass per image, "
          f"{per_gradient / 1e6:.0f} MFLOP per EOT-{args.eot} input gradient")
    print(f"EOT-{args.eot} gradient on {args.batch} images, {args.threads} threads, malloc {args.malloc}: {rate / peak:.3f} x the FLOP rate of "
          f"a 1024x1024 torch.mm measured in the same run")
    print(f"standard ensemble: {grads} EOT gradients + {SQUARE_EVALS} Square evaluations per surviving image "
          f"= {flops / 1e9:.0f} GFLOP per image (masking checks and transfer not counted)")
    print(f"{args.n} images in {args.budget:g} min need {needed / rate:.1f} x today's gradient FLOP rate "
          f"= {needed / peak:.2f} x the matmul peer's")


if __name__ == "__main__":
    main()
