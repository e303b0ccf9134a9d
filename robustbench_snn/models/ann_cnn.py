"""``ann-cnn``: the ANN twin of ``snn-cnn`` (same conv/BN/pool/hidden
layout, ReLU instead of LIF, no time dimension), the baseline every SNN is
compared with and the source model for transfer attacks."""

from torch import nn

from ..registry import register_model
from .base import ANNClassifier


@register_model(
    "ann-cnn",
    description="ANN twin of snn-cnn (ReLU), baseline",
)
def ann_cnn(in_shape, num_classes, channels: tuple[int, int] = (16, 32), hidden: int = 128):
    c, h, w = in_shape
    c1, c2 = channels
    return ANNClassifier(
        nn.Sequential(
            nn.Conv2d(c, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(c2 * (h // 4) * (w // 4), hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )
    )
