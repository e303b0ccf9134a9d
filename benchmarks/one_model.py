"""Shared set-up of the benchmark scripts that measure one zoo model's attack gradient
(``gradient_profile.py``, ``bf16_gradient.py``): their options, and the model, test
batch and EOT copies those options name, in a process that keeps freed memory as
``rbsnn`` does (:mod:`robustbench_snn.evaluation.allocator`)."""

from __future__ import annotations

import argparse

import torch

from robustbench_snn.evaluation.allocator import keep_freed_memory
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.core.limits import positive_int
from robustbench_snn.models.zoo import load_checkpoint, zoo_models


def add_options(p: argparse.ArgumentParser) -> None:
    """The options every one-model script takes."""
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--data-dir", default="../shared/data/mnist")
    p.add_argument("--model", default="rsc-snn")
    p.add_argument("--batch", type=positive_int("--batch"), default=250)
    p.add_argument("--eot", type=positive_int("--eot"), default=10, help="EOT copies for a stochastic model (1 for a deterministic one)")
    p.add_argument("--threads", type=positive_int("--threads"), default=2)


def load(p: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, int]:
    """The eval-mode model, the first ``--batch`` test images and labels, and the EOT copies
    (``--eot`` for a stochastic model, else 1); an unknown model is ``p.error`` (exit 2)."""
    if args.model not in zoo_models(args.dataset):
        p.error(f"no zoo model {args.model} on {args.dataset}; choices: {', '.join(zoo_models(args.dataset))}")
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, "test", None if args.dataset == "digits" else args.data_dir).head(args.batch)
    model = load_checkpoint(args.model, args.dataset)[0].eval()
    return model, data.x, data.y, args.eot if getattr(model, "stochastic", False) else 1
