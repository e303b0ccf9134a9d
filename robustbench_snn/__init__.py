"""robustbench-snn: adversarial-robustness benchmark for spiking neural networks.

Public API::

    from robustbench_snn import benchmark, BenchmarkResult, TimeMajor, ResetEachPass, find_neurons

The names load on first use (PEP 562), so that importing a light module of the package, as
the ``rbsnn`` entry point does to install its stop handlers, does not load torch first.
"""

from importlib import import_module
from importlib.metadata import version

__version__ = version("robustbench-snn")

#: public name -> the module that defines it
_EXPORTS = {
    "benchmark": ".api",
    "BenchmarkResult": ".results.benchmark_result",
    "TimeMajor": ".interop.time_major",
    "ResetEachPass": ".interop.foreign_neurons",
    "find_neurons": ".interop.foreign_neurons",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
