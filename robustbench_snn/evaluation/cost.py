"""What an evaluation cost, counted: forward and backward passes per example.

Attacks are compared by strength *per cost* (``standard`` against
Özdenizci & Legenstein's 19-estimator ensemble and the ASSG attack). Seconds
depend on the machine and on compilation; passes do not. A pass is one example
(one row of a batch; each EOT copy is a row) through the model's forward, and a
backward pass is one such row whose input gradient was computed. Both are
counted where they happen -- a forward hook on the evaluated model, and a
gradient hook on its output that fires only when a backward pass really runs
through it -- so nothing is estimated from step counts.

Scoring passes (clean and robust accuracy over ``draws`` encoder draws), Square's
queries, the masking checks and the passes through transfer sources all count:
they are part of what the evaluation cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class PassCount:
    """Rows through forward passes and through backward passes (input gradients)."""

    forward: int = 0
    backward: int = 0

    def per_example(self, n: int) -> dict[str, float]:
        """Passes per evaluated example, rounded to 0.1 (``n`` examples)."""
        return {"forward": round(self.forward / max(n, 1), 1), "backward": round(self.backward / max(n, 1), 1)}


@contextmanager
def counting_passes(model: nn.Module, count: PassCount | None = None) -> Iterator[PassCount]:
    """Within the block, every call of ``model`` (inputs ``[B, ...]``) adds ``B`` forward
    rows to ``count`` (a new one unless given: several models can add to one), and
    every backward pass through that call's output adds ``B`` backward rows."""
    count = count if count is not None else PassCount()

    def on_forward(module: nn.Module, args: tuple, output) -> None:
        if not args or not torch.is_tensor(args[0]) or not torch.is_tensor(output):
            return
        rows = args[0].shape[0]
        count.forward += rows
        if output.requires_grad:

            def on_backward(grad: torch.Tensor) -> None:
                count.backward += rows

            output.register_hook(on_backward)

    handle = model.register_forward_hook(on_forward)
    try:
        yield count
    finally:
        handle.remove()
