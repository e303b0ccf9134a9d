"""Training-step and input-gradient throughput of CIFAR-sized models on this CPU: what widths fit.

For each model (its CPU configuration, 3x32x32 input or ``--shape``, e.g. ``1,28,28`` for MNIST, batch 64, the registry's defaults
unless given): images per second of one SGD training step (forward, BPTT backward, Adam
step) and of one input-gradient pass (what an attack step costs), eager and through
``torch.compile``, all in one run so the ratios compare like with like. Prints a Markdown
table; ``--out`` also writes it.

    .venv/bin/python benchmarks/cifar_train_speed.py --models snn-cnn:channels=32,64,128:hidden=256 spikformer sdt

Each entry is ``NAME[:KEY=VALUE...]`` (build arguments as ``rbsnn train --build`` takes them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from robustbench_snn.runners.train_zoo import literal  # noqa: E402  (the --build parser, so entries read as rbsnn train's)
from robustbench_snn.models.registry import create_model  # noqa: E402
from timing import best_of  # noqa: E402  (the benchmarks' shared timer, a sibling module)

SHAPE = (3, 32, 32)  # CIFAR-10; --shape replaces it


def parse_entry(entry: str) -> tuple[str, dict]:
    name, *pairs = entry.split(":")
    return name, {k: literal(v) for k, v in (p.split("=", 1) for p in pairs)}


def train_step(model: torch.nn.Module, batch: int, compiled: bool, shape: tuple[int, ...] = SHAPE):
    """One SGD training step of ``model`` (forward, BPTT backward, Adam step) on a fixed random
    batch, as a function to time; ``compiled``: the forward through ``torch.compile``."""
    run = torch.compile(model) if compiled else model
    x, y = torch.rand(batch, *shape), torch.randint(0, 10, (batch,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        model.train()
        loss = torch.nn.functional.cross_entropy(run(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def measure(name: str, build: dict, batch: int, compiled: bool, repeats: int, shape: tuple[int, ...] = SHAPE) -> tuple[float, float]:
    """(training images/s, input-gradient images/s)."""
    torch.manual_seed(0)
    model = create_model(name, shape, 10, **build)
    run = torch.compile(model) if compiled else model
    x, y = torch.rand(batch, *shape), torch.randint(0, 10, (batch,))

    def gradient_step():
        model.eval()
        xg = x.clone().requires_grad_(True)
        torch.nn.functional.cross_entropy(run(xg), y).backward()

    train = best_of(train_step(model, batch, compiled, shape), repeats)  # the warm-up call compiles
    grad = best_of(gradient_step, repeats)
    return batch / train, batch / grad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--shape", type=lambda s: tuple(int(v) for v in s.split(",")), default=SHAPE, help="input C,H,W")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    lines = [
        f"Throughput at {'x'.join(map(str, args.shape))}, images/s (batch {args.batch}, {args.threads} threads, torch {torch.__version__}, "
        f"{torch.backends.cpu.get_cpu_capability()})", "",
        "| model | build | params | train eager | train compiled | x | input-grad eager | input-grad compiled | x |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for entry in args.models:
        name, build = parse_entry(entry)
        params = sum(p.numel() for p in create_model(name, args.shape, 10, **build).parameters())
        eager = measure(name, build, args.batch, False, args.repeats, args.shape)
        comp = (float("nan"), float("nan")) if args.no_compile else measure(name, build, args.batch, True, args.repeats, args.shape)
        shown = ", ".join(f"{k}={v}" for k, v in build.items()) or "(defaults)"
        line = (f"| {name} | {shown} | {params / 1e6:.2f} M | {eager[0]:.1f} | {comp[0]:.1f} | {comp[0] / eager[0]:.2f} | "
                f"{eager[1]:.1f} | {comp[1]:.1f} | {comp[1] / eager[1]:.2f} |")
        lines.append(line)
        print(line, flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
