"""How much faster the compiled attack gradient can be, per architecture: the dense share bound.

``torch.compile`` (inductor on a CPU) fuses the element-wise work of an SNN's time loop --
neuron charge / fire / reset, batch norm, pooling, stacking the steps -- but a convolution or a
matrix product runs as a oneDNN / BLAS call either way. If a fraction ``d`` of the eager
attack gradient's time is spent in those dense calls and they take as long compiled, no fusion
of the rest makes the compiled gradient faster than ``1 / d`` times eager (Amdahl). The bound is
not exact -- inductor may call other dense kernels than eager PyTorch (layouts, fused epilogues),
and the share moves with batch size and threads -- but a speed-up far below it points at work
the compiler left unfused, and a target above it needs faster dense kernels, not more fusion.
This script measures, in one run, for each architecture (random weights, its CPU
configuration, 3x32x32 input):

* the eager attack gradient (the attacks' own ``eot_loss_and_gradient``, weights frozen as the
  compiled path freezes them) profiled with ``torch.profiler``: the share ``d`` of self CPU time
  in convolution, matrix-product and batched-matrix-product kernels (forward and backward);
* the bound ``1 / d``;
* the measured ratio eager / compiled (:func:`robustbench_snn.evaluation.compiled.compiled_path`);
* with ``--first-layer``, the compiled gradient again with every step through the network's
  first layers (``compiled.FIRST_LAYER_ONCE`` off, :mod:`robustbench_snn.evaluation.first_layer`),
  in the same run.

    .venv/bin/python benchmarks/compile_bound.py --models sew-resnet spiking-vgg sdt qkformer [--batch 32] [--threads 1] [--first-layer]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from robustbench_snn.evaluation.allocator import keep_freed_memory  # noqa: E402
from robustbench_snn.evaluation.compiled import compiled_path, frozen_weights  # noqa: E402
from robustbench_snn.models.registry import create_model  # noqa: E402
from compile_speed import compiled_setting, gradient  # noqa: E402  (the attacks' gradient with per-example streams)
from standard_cost import forward_flops  # noqa: E402
from timing import best_of  # noqa: E402

SHAPE = (3, 32, 32)
#: Kernels that run as one library call whether or not the graph is compiled.
DENSE = ("convolution", "conv2d", "conv1d", "addmm", "aten::mm", "aten::bmm", "baddbmm", "matmul", "linear")


def dense_share(step) -> float:
    """Share of ``step``'s self CPU time spent in :data:`DENSE` kernels (two profiled calls)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
        step()
    events = [e for e in prof.key_averages() if not e.key.startswith(("autograd::", "ProfilerStep"))]
    total = sum(e.self_cpu_time_total for e in events)
    dense = sum(e.self_cpu_time_total for e in events if any(k in e.key for k in DENSE))
    return dense / total


def measure(name: str, batch: int, reps: int, every_step: bool = False) -> dict:
    """Eager and compiled attack-gradient seconds of ``name`` (random weights, CPU
    configuration) on a random batch, the eager gradient's dense share and its bound, and the
    FLOPs of the convolutions and linear layers the gradient runs (forward and input gradient);
    with ``every_step`` also the compiled seconds with the first layers run at every step."""
    torch.manual_seed(0)
    model = create_model(name, SHAPE, 10).eval()
    x, y = torch.rand(batch, *SHAPE), torch.randint(0, 10, (batch,))
    flops = 2 * forward_flops(model, x[:8]) * batch

    def step():
        return gradient(model, x, y, 1)

    with frozen_weights(model):
        eager = best_of(step, reps)
        share = dense_share(step)
    with compiled_path(model, "on"):
        compiled = best_of(step, reps)
    out = {"model": name, "eager_s": eager, "compiled_s": compiled, "ratio": eager / compiled, "dense": share, "bound": 1 / share,
           "flops": flops}
    if every_step:
        with compiled_setting("FIRST_LAYER_ONCE", False), compiled_path(model, "on"):
            out["every_step_s"] = best_of(step, reps)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--first-layer", action="store_true", help="also time the compiled gradient with the first layers at every step")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    print(f"Attack gradient at 3x32x32, batch {args.batch}, {args.threads} thread(s), torch {torch.__version__}, "
          f"{torch.backends.cpu.get_cpu_capability()}\n")
    extra = " compiled, first layers at every step |" if args.first_layer else ""
    print(f"| model | eager s | compiled s | compiled speed-up | dense share of eager | bound 1/share |{extra}")
    print("|---|---:|---:|---:|---:|---:|" + ("---:|" if args.first_layer else ""))
    for name in args.models:
        r = measure(name, args.batch, args.repeats, args.first_layer)
        every = f" {r['every_step_s']:.3f} s ({r['eager_s'] / r['every_step_s']:.2f}x) |" if args.first_layer else ""
        print(f"| {r['model']} | {r['eager_s']:.3f} | {r['compiled_s']:.3f} | {r['ratio']:.2f}x | {100 * r['dense']:.0f}% | {r['bound']:.2f}x |{every}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
