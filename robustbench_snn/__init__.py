"""robustbench-snn: adversarial-robustness benchmark for spiking neural networks.

Public API (imported lazily, so ``rbsnn --help`` does not load torch)::

    from robustbench_snn import benchmark, BenchmarkResult, TimeMajor
"""

__version__ = "0.1.0"

_EXPORTS = {
    "benchmark": ".api",
    "BenchmarkResult": ".api",
    "TimeMajor": ".interop.time_major",
    "ResetEachPass": ".interop.foreign_neurons",
    "find_neurons": ".interop.foreign_neurons",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
