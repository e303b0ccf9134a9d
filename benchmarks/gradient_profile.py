"""Where a compiled attack gradient's time goes: ``torch.profiler`` over one EOT input
gradient of a zoo model on the compiled attack path, by kind of work.

The gradient is the attacks' own (``compile_speed.gradient``: per-example
streams, ``eot_loss_and_gradient``), through ``compiled_path(model, "on")``
with inductor's kernel profiling on, so each fused kernel is its own event
(the LIF charge / fire / reset of all T steps with the batch norm and pooling
around it, forward or backward). Operators are grouped into convolutions
(forward, and backward: the input gradient), matrix products, inductor's fused
element-wise kernels, the encoder's random draws and the rest; then the
costliest operators with their input shapes. The table answers which work an
optimisation of the compiled path has to shrink; it measures shares within
one run, not speed against a peer (``benchmarks/compile_speed.py`` does that).

    python benchmarks/gradient_profile.py [--dataset mnist] [--model rsc-snn] [--threads 2] [--top 12]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import torch._inductor.config as inductor_config

import one_model
from compile_speed import gradient
from robustbench_snn.evaluation.compiled import compiled_path
from robustbench_snn.core.limits import positive_int

#: Kind of work -> the profiler event names (prefixes) that belong to it, checked in order
#: (the backward before the forward, whose names are its prefixes).
KINDS = (
    ("convolution backward", ("aten::convolution_backward", "aten::mkldnn_convolution_backward")),
    ("convolution forward", ("aten::mkldnn_convolution", "aten::_convolution", "aten::convolution")),
    ("matrix products", ("aten::mm", "aten::addmm", "aten::bmm", "aten::linear")),
    ("fused element-wise kernels (inductor)", ("graph_", "cpp_fused")),
    ("encoder draws", ("aten::uniform_", "aten::rand", "aten::bernoulli", "aten::lt")),
)
OTHER = "other"


def kind_of(name: str) -> str:
    """The kind of work (:data:`KINDS`) a profiler event belongs to."""
    return next((kind for kind, prefixes in KINDS if name.startswith(prefixes)), OTHER)


def profile_gradient(model, x, y, eot: int):
    """Profiler averages of one compiled EOT gradient (after two untimed calls: compile, warm-up)
    and its wall time in seconds. Inductor's kernel profiling is on for this block only (it
    compiles its own graphs: the setting is part of the generated code)."""
    with inductor_config.patch({"cpp.enable_kernel_profile": True}), compiled_path(model, "on"):
        gradient(model, x, y, eot)
        gradient(model, x, y, eot)
        with torch.profiler.profile(record_shapes=True) as prof:
            t = time.perf_counter()
            gradient(model, x, y, eot)
            wall = time.perf_counter() - t
    return prof.key_averages(group_by_input_shape=True), wall


def by_kind(events) -> dict[str, float]:
    """Self CPU milliseconds per kind of work."""
    totals: dict[str, float] = {kind: 0.0 for kind, _ in KINDS} | {OTHER: 0.0}
    for e in events:
        totals[kind_of(e.key)] += e.self_cpu_time_total / 1e3
    return totals


def profile_table(model, x, y, eot: int, top: int, name: str) -> list[str]:
    """Markdown lines: what was profiled, the time per kind of work, the ``top`` costliest operators."""
    events, wall = profile_gradient(model, x, y, eot)
    totals = by_kind(events)
    profiled = sum(totals.values())
    lines = [f"{name}, EOT-{eot} input gradient on {len(x)} images, compiled: {wall:.3f} s wall, "
             f"{profiled / 1e3:.3f} s of profiled operators (self CPU time).", "",
             "| work | ms | share |", "|---|---|---|"]
    lines += [f"| {kind} | {ms:.0f} | {ms / profiled:.0%} |" for kind, ms in sorted(totals.items(), key=lambda kv: -kv[1])]
    lines += ["", "| costliest operators | calls | ms | share | input shapes |", "|---|---|---|---|---|"]
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]:
        ms = e.self_cpu_time_total / 1e3
        shapes = ", ".join(str(s) for s in e.input_shapes if s)[:90]
        name = e.key if len(e.key) <= 60 else "..." + e.key[-57:]  # a fused kernel's name ends with what tells it apart
        lines.append(f"| {kind_of(e.key)}: `{name}` | {e.count} | {ms:.0f} | {ms / profiled:.0%} | {shapes} |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    one_model.add_options(p)
    p.add_argument("--top", type=positive_int("--top"), default=12, help="costliest operators listed")
    args = p.parse_args()
    model, x, y, eot = one_model.load(p, args)
    print(f"host: {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads")
    print("\n".join(profile_table(model, x, y, eot, args.top, f"{args.model} {args.dataset}")))


if __name__ == "__main__":
    main()
