"""Would bfloat16 pay? The compiled attack gradient in float32 against the same gradient
under CPU autocast to bfloat16, timed in one run, with how far the bf16 gradient is
from the float32 one.

Why it is only measured: under autocast the convolutions and matrix products
run in bfloat16 (AMX or AVX-512 BF16 where the CPU has them), so the membrane
potentials change in their third significant digit and neurons near threshold
fire differently: the attack would follow the gradient of a slightly different
network than the one scored. That is only worth weighing if it is much faster;
this script says how much (docs/speed.md, "The compiled path").

    python benchmarks/bf16_gradient.py [--dataset mnist] [--model rsc-snn] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import platform

import torch

import one_model
from compile_speed import gradient
from robustbench_snn.evaluation.compiled import compiled_path
from robustbench_snn.core.limits import positive_int
from timing import best_of


def timed(model, x, y, eot: int, reps: int, precision) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Seconds of the compiled gradient under ``precision()`` (a context), its logits and gradient."""
    with compiled_path(model, "on"), precision():
        seconds = best_of(lambda: gradient(model, x, y, eot), reps)  # the warm-up call compiles
        logits, grad = gradient(model, x, y, eot)
    return seconds, logits.float(), grad.float()


def compare(model, x, y, eot: int, reps: int) -> dict[str, float]:
    """The compiled gradient in float32 and under bf16 autocast, in one run: seconds of each,
    the mean per-example cosine of the two gradients, the share of their elements with the
    same sign, and the share of examples both predict alike (EOT-averaged logits)."""
    fp32, logits32, grad32 = timed(model, x, y, eot, reps, contextlib.nullcontext)
    bf16, logits16, grad16 = timed(model, x, y, eot, reps, lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    return {
        "float32_s": fp32, "bf16_s": bf16,
        "cosine": torch.nn.functional.cosine_similarity(grad32.flatten(1), grad16.flatten(1)).mean().item(),
        "same_sign": (grad32.sign() == grad16.sign()).float().mean().item(),
        "same_prediction": (logits32.argmax(1) == logits16.argmax(1)).float().mean().item(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    one_model.add_options(p)
    p.add_argument("--reps", type=positive_int("--reps"), default=3)
    args = p.parse_args()
    model, x, y, eot = one_model.load(p, args)
    r = compare(model, x, y, eot, args.reps)
    print(f"host: {platform.processor() or platform.machine()}, CPU kernels {torch.backends.cpu.get_cpu_capability()}, "
          f"torch {torch.__version__}, {args.threads} threads; {args.model} {args.dataset}, EOT-{eot} gradient on {args.batch} images, compiled")
    print("| float32 s | bf16 autocast s | float32 / bf16 | mean cosine of the gradients | sign agreement | same prediction |")
    print("|---|---|---|---|---|---|")
    print(f"| {r['float32_s']:.3f} | {r['bf16_s']:.3f} | {r['float32_s'] / r['bf16_s']:.2f}x | {r['cosine']:.4f} "
          f"| {r['same_sign']:.1%} | {r['same_prediction']:.1%} |")


if __name__ == "__main__":
    main()
