"""Per-example attack losses on logits ``[N, K]`` -> ``[N]`` (larger = more adversarial).

* cross-entropy;
* DLR, the difference of logits ratio (Croce & Hein, "Reliable evaluation of
  adversarial robustness with an ensemble of diverse parameter-free
  attacks", ICML 2020, eq. 6), invariant to shifting and rescaling the
  logits -- which matters for SNNs, whose logits are spike counts or mean
  membrane currents on an arbitrary scale:
  ``DLR = -(z_y - max_{i != y} z_i) / (z_π1 - z_π3 + 1e-12)``;
* targeted DLR (eq. 7): ``-(z_y - z_t) / (z_π1 - (z_π3 + z_π4)/2 + 1e-12)``.

``labels`` is ``[N]`` (true classes) or ``[N, 2]`` (true class, target).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    y = labels if labels.dim() == 1 else labels[:, 0]
    return F.cross_entropy(logits, y, reduction="none")


def dlr(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    y = labels if labels.dim() == 1 else labels[:, 0]
    z_sorted = logits.sort(1, descending=True).values
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    is_top = (logits.argmax(1) == y).to(logits.dtype)
    best_other = is_top * z_sorted[:, 1] + (1 - is_top) * z_sorted[:, 0]
    return -(z_y - best_other) / (z_sorted[:, 0] - z_sorted[:, 2] + 1e-12)


def dlr_targeted(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    y, t = labels[:, 0], labels[:, 1]
    z_sorted = logits.sort(1, descending=True).values
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    z_t = logits.gather(1, t[:, None]).squeeze(1)
    return -(z_y - z_t) / (z_sorted[:, 0] - 0.5 * (z_sorted[:, 2] + z_sorted[:, 3]) + 1e-12)


LOSSES = {"ce": cross_entropy, "dlr": dlr, "dlr-targeted": dlr_targeted}
