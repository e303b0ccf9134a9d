"""``ann-cnn``: the ANN twin of ``snn-cnn`` (same conv/BN/pool/hidden
layout, ReLU instead of LIF, no time dimension), the baseline every SNN is
compared with and the source model for transfer attacks."""

from collections.abc import Callable, Sequence

from torch import nn

from ..core.classifier import ANNClassifier
from .registry import register_model


def check_widths(channels: Sequence[int], hidden: int) -> None:
    """Refuse conv ``channels`` that are not a non-empty list of positive integers, or a ``hidden`` that is not one."""
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence) or not channels \
            or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in (*channels, hidden)):
        raise ValueError(f"channels must be a non-empty list of positive integers and hidden a positive integer, got channels={channels!r}, hidden={hidden!r}")


def pooled_size(in_shape: tuple[int, ...], stages: int) -> int:
    """Values per example after ``stages`` 2x2 poolings of ``in_shape`` ``(C, H, W)``'s plane, per channel."""
    _, h, w = in_shape
    side = 2**stages
    if h // side < 1 or w // side < 1:
        raise ValueError(f"{stages} conv stages pool a {h}x{w} image to nothing; give at most {min(h, w).bit_length() - 1} channels")
    return (h // side) * (w // side)


def cnn_layers(in_shape: tuple[int, ...], num_classes: int, act: Callable[[], nn.Module],
               channels: Sequence[int] = (16, 32), hidden: int = 128) -> nn.Sequential:
    """Per entry of ``channels`` a conv-BN-``act``-avgpool stage, then a linear-BN-``act`` hidden
    layer and a linear readout: ``[B, C, H, W] -> [B, num_classes]`` (the layout of ``ann-cnn``,
    and of ``qcfs-snn`` with QCFS activations)."""
    check_widths(channels, hidden)
    layers: list[nn.Module] = []
    previous = in_shape[0]
    for width in channels:
        layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), act(), nn.AvgPool2d(2)]
        previous = width
    flat = previous * pooled_size(in_shape, len(channels))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat, hidden, bias=False), nn.BatchNorm1d(hidden), act(), nn.Linear(hidden, num_classes))


@register_model(
    "ann-cnn",
    description="ANN twin of snn-cnn (ReLU), baseline",
)
def ann_cnn(in_shape, num_classes, channels: Sequence[int] = (16, 32), hidden: int = 128):
    return ANNClassifier(cnn_layers(in_shape, num_classes, nn.ReLU, channels, hidden))
