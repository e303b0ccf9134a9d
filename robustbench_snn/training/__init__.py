"""Training registered models with BPTT (the defenses live in ``robustbench_snn.defenses``)."""
