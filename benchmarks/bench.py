"""`make bench`: one table of speed ratios, every number measured in this one run.

Each row times ours against a peer in the same process, so the ratio
survives the 20% swings of a shared CPU that absolute times do not:

* the multi-step LIF layer (forward + BPTT backward) against SpikingJelly's
  ``LIFNode(step_mode='m')`` and snntorch's ``Leaky``;
* PGD-10 on ``snn-cnn`` against torchattacks' PGD, eager and through our
  compiled path (``--compile``), digits and MNIST;
* the EOT-10 gradient with the copies stacked in one pass against a
  per-draw loop (one copy per pass);
* randomized-smoothing class counts with the noise draws batched against a
  per-sample loop (one draw per forward pass);
* the compiled attack gradient against the eager one, for every zoo
  architecture (one checkpoint per distinct architecture), with its FLOP
  rate as a share of a 1024x1024 ``torch.mm`` peer, and on MNIST also
  against the same graph with inductor's channels-last activations (the
  layout the compiled path turns off for spiking modules), with the
  first layer run at every step (:mod:`robustbench_snn.evaluation.first_layer`) and
  with inductor's own ``avg_pool2d`` (:mod:`robustbench_snn.evaluation.block_pooling`);
* for each SpikingJelly-built architecture of the natural-image track at 3x32x32 (random
  weights, CPU configuration): the compiled attack gradient and training step against eager
  (SpikingJelly's own multi-step execution), with the FLOP rate against ``torch.mm`` and the
  eager gradient's dense share, which roughly bounds what fusion can gain (``compile_bound.py``);
* on MNIST, the compiled ``rsc-snn`` gradient in float32 against the same
  under bfloat16 autocast (``bf16_gradient.py``: would lower precision pay?);
* and each row's peak resident memory (Linux ``VmHWM``, reset before it).

Below the table, a profile of the compiled MNIST ``rsc-snn`` gradient by kind
of work (``gradient_profile.py``): shares within one run, not ratios.

The process keeps freed memory as ``rbsnn`` does (:mod:`robustbench_snn.evaluation.allocator`),
so the rows time what an evaluation runs; the peak memory then includes the
heap earlier rows left to the process.

Writes the table with the host's description to ``--out``
(``benchmarks/RESULTS.md`` under ``make bench``).

    python benchmarks/bench.py [--threads 2] [--data-dir ../shared/data/mnist] [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from robustbench_snn.evaluation.allocator import keep_freed_memory
from robustbench_snn.attacks import LinfBall
from robustbench_snn.attacks.adapters import torchattacks_pgd
from robustbench_snn.attacks.pgd import pgd
from robustbench_snn.attacks.gradient import eot_gradient
from robustbench_snn.evaluation.certify import make_mechanism, sample_counts
from robustbench_snn.evaluation.compiled import compiled_path
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.core.limits import positive_int
from robustbench_snn.models.registry import create_model
from robustbench_snn.models.zoo import load_checkpoint, zoo_models

import bench_neurons
import bf16_gradient
import cifar_train_speed
import compile_bound
import compile_speed
import gradient_profile
from timing import best_of


@dataclass
class Row:
    what: str
    ours: float  # seconds
    peer: float  # seconds
    peer_name: str
    peak_mb: float | None
    note: str = ""

    def markdown(self) -> str:
        peak = f"{self.peak_mb:.0f}" if self.peak_mb is not None else "n/a"
        return (f"| {self.what} | {self.peer_name} | {self.ours:.3f} | {self.peer:.3f} | {self.ours / self.peer:.2f} "
                f"| {peak} | {self.note} |")


def reset_peak() -> bool:
    """Reset the process's peak resident memory (Linux: ``/proc/self/clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_mb() -> float | None:
    """Peak resident memory since :func:`reset_peak`, in MB (None off Linux)."""
    try:
        m = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(m.group(1)) / 1024 if m else None


def timed_pair(ours: Callable[[], object], peer: Callable[[], object], reps: int) -> tuple[float, float, float | None]:
    """Best-of times of ``ours`` and ``peer`` and the peak memory over both."""
    reset_peak()
    return best_of(ours, reps), best_of(peer, reps), peak_mb()


def host() -> str:
    name = platform.processor() or platform.machine()
    try:
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        name = m.group(1).strip() if m else name
    except OSError:
        pass
    return (f"{name}; torch {torch.__version__}, CPU kernels {torch.backends.cpu.get_cpu_capability()}, "
            f"{torch.get_num_threads()} threads, Python {platform.python_version()}")


def lif_rows(reps: int) -> list[Row]:
    x = torch.rand(bench_neurons.T, bench_neurons.B, bench_neurons.N) * 2
    reset_peak()
    times = bench_neurons.lif_times(x, reps)
    peak = peak_mb()  # over ours and every peer, as timed_pair
    shape = f"T={bench_neurons.T} B={bench_neurons.B} N={bench_neurons.N}"
    return [Row(f"LIF layer forward+backward, {shape}", times["ours"], t, peer, peak)
            for peer, t in times.items() if peer != "ours"]


def pgd_rows(dataset: str, data_dir: str, reps: int) -> list[Row]:
    model = load_checkpoint("snn-cnn", dataset)[0].eval()
    data = load_dataset(dataset, "test", None if dataset == "digits" else data_dir).head(250)
    ball = LinfBall(8 / 255)

    def attack(fn):
        def run():
            torch.manual_seed(0)
            return fn(model, data.x, data.y, ball, steps=10)
        return run

    reset_peak()
    peer = best_of(attack(torchattacks_pgd), reps)  # outside the compiled path: the model as torchattacks users run it
    eager = best_of(attack(pgd), reps)
    with compiled_path(model, "on") as stats:
        compiled = best_of(attack(pgd), reps)
    note = f"ours compiled: {stats.compiles} graph(s)" + (f", fallback: {stats.fallback}" if stats.fallback else "")
    return [Row(f"PGD-10, {dataset} snn-cnn, 250 images, ours {label}", ours, peer, "torchattacks PGD (eager)", peak_mb(), note if label == "compiled" else "")
            for label, ours in (("eager", eager), ("compiled", compiled))]


def eot_row(dataset: str, data_dir: str, reps: int) -> Row:
    model = load_checkpoint("rsc-snn", dataset)[0].eval()
    data = load_dataset(dataset, "test", None if dataset == "digits" else data_dir).head(250)
    one_copy = data.x.numel()  # a pass holds one copy of the batch: a per-draw loop
    ours, peer, peak = timed_pair(lambda: eot_gradient(model, data.x, data.y, 10),
                                  lambda: eot_gradient(model, data.x, data.y, 10, one_copy), reps)
    return Row(f"EOT-10 gradient, {dataset} rsc-snn, 250 images, copies stacked per pass", ours, peer, "one copy per pass", peak)


def certify_row(reps: int) -> Row:
    model, card = load_checkpoint("smooth-snn-s0.25", "digits")
    mechanism = make_mechanism("gaussian", model.eval(), card["defense_params"]["sigma"])
    x = load_dataset("digits", "test").x[0]
    ours, peer, peak = timed_pair(lambda: sample_counts(model, mechanism, x, 1000, 1000, 10),
                                  lambda: sample_counts(model, mechanism, x, 1000, 1, 10), reps)
    return Row("certification class counts, digits smooth-snn-s0.25, 1,000 noise draws, batched", ours, peer, "one draw per pass", peak)


def architectures(dataset: str) -> dict[str, list[str]]:
    """The zoo checkpoints of ``dataset`` grouped by architecture (same printed module tree),
    keyed by the first name of each group."""
    groups: dict[str, list[str]] = {}
    for name in zoo_models(dataset):
        groups.setdefault(repr(load_checkpoint(name, dataset)[0]), []).append(name)
    return {names[0]: names for names in groups.values()}


def compile_rows(dataset: str, data_dir: str, names: dict[str, list[str]], mm_rate: float, variants: tuple[str, ...] = ()) -> list[Row]:
    data = load_dataset(dataset, "test", None if dataset == "digits" else data_dir).head(250)
    rows = []
    for name, same in names.items():
        reset_peak()
        r = compile_speed.measure(name, dataset, data.x, data.y, 10, 3, mm_rate, variants=variants)
        note = (f"EOT {r['eot']}; first compiled call {r['first_call_s']:.0f} s; {r['graphs']} graph(s); "
                f"max logit diff {r['logit_diff']:.1e}; FLOP rate {r['mm_share']:.3f}x torch.mm")
        for v, times in r["variants"].items():
            (g, g_other), (i, i_other) = times["gradient"], times["inference"]
            note += (f"; {compile_speed.VARIANTS[v].label}: gradient {g:.3f} s against {g_other:.3f} s ({g / g_other:.2f}x), "
                     f"frozen scoring pass {i:.3f} s against {i_other:.3f} s ({i / i_other:.2f}x)")
        if r["fallback"]:
            note += f"; fallback: {r['fallback']}"
        if len(same) > 1:
            note += f"; same architecture: {', '.join(same[1:])}"
        rows.append(Row(f"attack gradient, {dataset} {name}, 250 images, compiled", r["compiled_s"], r["eager_s"], "eager", peak_mb(), note))
    return rows


#: The SpikingJelly-built architectures of the natural-image track, timed at CIFAR-10's input size.
CIFAR_ARCHITECTURES = ("spikformer", "sdt", "qkformer", "ms-resnet", "sew-resnet", "spiking-vgg", "plif-net", "psn-cnn", "ilif-cnn")


def cifar_rows(mm_rate: float, reps: int, batch: int = 32) -> list[Row]:
    """Per architecture of :data:`CIFAR_ARCHITECTURES` (random weights, its CPU configuration,
    3x32x32): the attack gradient compiled against eager (SpikingJelly's own multi-step
    execution, which the eager path runs), with its FLOP rate against the ``torch.mm`` peer, the
    eager gradient's dense share (:mod:`compile_bound`: fusion alone gains about 1 / share at
    most) and the compiled gradient's ratio with the stem at every step (the first layers once
    off), and the training step compiled against eager."""
    rows = []
    for name in CIFAR_ARCHITECTURES:
        reset_peak()
        r = compile_bound.measure(name, batch, reps, every_step=True)
        note = (f"dense share of eager {100 * r['dense']:.0f}%: about {r['bound']:.2f}x if fusion were perfect and dense kernels unchanged; "
                f"with the stem at every step (no first layers once) {r['eager_s'] / r['every_step_s']:.2f}x eager; "
                f"FLOP rate {r['flops'] / mm_rate / r['compiled_s']:.3f}x torch.mm")
        rows.append(Row(f"attack gradient, 3x32x32 {name} (random weights), batch {batch}, compiled", r["compiled_s"], r["eager_s"],
                        "eager (SpikingJelly multi-step)", peak_mb(), note))
        reset_peak()
        steps = {}
        for compiled in (False, True):
            torch.manual_seed(0)
            steps[compiled] = cifar_train_speed.train_step(create_model(name, cifar_train_speed.SHAPE, 10), batch, compiled)
        ours, peer, peak = timed_pair(steps[True], steps[False], reps)
        rows.append(Row(f"training step, 3x32x32 {name}, batch {batch}, compiled", ours, peer, "eager (SpikingJelly multi-step)", peak))
    return rows


def bf16_row(model, data, reps: int) -> Row:
    """The compiled EOT-10 gradient of ``model`` (MNIST ``rsc-snn``) in float32 against bf16 autocast."""
    reset_peak()
    r = bf16_gradient.compare(model, data.x, data.y, 10, reps)
    note = (f"mean gradient cosine {r['cosine']:.4f}; same sign {r['same_sign']:.1%}; "
            f"same prediction {r['same_prediction']:.1%}")
    return Row("EOT-10 gradient, mnist rsc-snn, 250 images, compiled, float32", r["float32_s"], r["bf16_s"],
               "the same under bf16 autocast", peak_mb(), note)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=positive_int("--threads"), default=2)
    p.add_argument("--data-dir", default="../shared/data/mnist")
    p.add_argument("--reps", type=positive_int("--reps"), default=3)
    p.add_argument("--out", default=None, help="also write the table here (markdown)")
    args = p.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    a = torch.randn(1024, 1024)
    mm_rate = 2 * 1024**3 / best_of(lambda: torch.mm(a, a), reps=5)
    try:
        load_dataset("mnist", "test", args.data_dir)
        datasets = ["digits", "mnist"]
    except Exception as e:  # noqa: BLE001 -- MNIST absent: the digits rows still say something
        print(f"mnist rows skipped: {e}")
        datasets = ["digits"]

    header = ["| measured | peer | ours s | peer s | ours / peer | peak MB | notes |", "|---|---|---|---|---|---|---|"]
    print("\n".join(header), flush=True)
    rows: list[Row] = []

    def add(new: list[Row]) -> None:
        for row in new:
            rows.append(row)
            print(row.markdown(), flush=True)

    add(lif_rows(args.reps))
    for ds in datasets:
        add(pgd_rows(ds, args.data_dir, args.reps))
        add([eot_row(ds, args.data_dir, args.reps)])
    add([certify_row(args.reps)])
    add(compile_rows("digits", args.data_dir, architectures("digits"), mm_rate))
    add(cifar_rows(mm_rate, args.reps))
    profile: list[str] = []
    if "mnist" in datasets:
        add(compile_rows("mnist", args.data_dir, {"rsc-snn": ["rsc-snn"], "snn-cnn": ["snn-cnn"]}, mm_rate, variants=tuple(compile_speed.VARIANTS)))
        data = load_dataset("mnist", "test", args.data_dir).head(250)
        model = load_checkpoint("rsc-snn", "mnist")[0].eval()
        add([bf16_row(model, data, args.reps)])
        profile = ["## Where the compiled gradient's time goes", "",
                   *gradient_profile.profile_table(model, data.x, data.y, 10, 12, "mnist rsc-snn")]
        print("\n".join(profile), flush=True)
    minutes = (time.perf_counter() - started) / 60
    if args.out:
        text = [
            "# Benchmark results",
            "",
            "Written by `make bench` (`benchmarks/bench.py`); do not edit by hand. Every ratio is ours / peer, "
            "both timed in the same run (best of "
            f"{args.reps} after a warm-up; <1: ours faster). Peak MB is the process's peak resident memory during "
            "the row (it includes what earlier rows left allocated).",
            "",
            f"Host: {host()}. Run {datetime.date.today().isoformat()}, {minutes:.0f} min.",
            "",
            *header,
            *(row.markdown() for row in rows),
            "",
            *((*profile, "") if profile else ()),
        ]
        Path(args.out).write_text("\n".join(text))
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
