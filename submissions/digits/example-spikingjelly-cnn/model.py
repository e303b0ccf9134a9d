"""A SpikingJelly multi-step CNN: the network takes ``[T, B, 1, 8, 8]`` and
returns ``[T, B, 10]`` (SpikingJelly's habit), so the factory wraps it in
robustbench_snn's one-line ``TimeMajor`` adapter (direct coding, T=4, mean
over T). Its LIF neurons keep ``v`` between calls until
``functional.reset_net``; the benchmark resets them before every pass.
"""

from spikingjelly.activation_based import layer, neuron, surrogate
from torch import nn

from robustbench_snn import TimeMajor


def lif() -> nn.Module:
    return neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), detach_reset=True, step_mode="m")


def network() -> nn.Sequential:
    """``[T, B, 1, 8, 8] -> [T, B, 10]``."""
    return nn.Sequential(
        layer.Conv2d(1, 8, 3, padding=1, bias=False, step_mode="m"), layer.BatchNorm2d(8, step_mode="m"), lif(),
        layer.AvgPool2d(2, step_mode="m"),
        layer.Conv2d(8, 16, 3, padding=1, bias=False, step_mode="m"), layer.BatchNorm2d(16, step_mode="m"), lif(),
        layer.AvgPool2d(2, step_mode="m"),
        layer.Flatten(step_mode="m"), layer.Linear(16 * 2 * 2, 10, step_mode="m"),
    )


def build() -> nn.Module:
    return TimeMajor(network(), T=4, encoder="direct")
