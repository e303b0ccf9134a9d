"""robustbench-snn: adversarial-robustness benchmark for spiking neural networks."""

__version__ = "0.1.0"
