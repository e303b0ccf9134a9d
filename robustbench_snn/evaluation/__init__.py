"""Evaluating a model: the harness (clean and robust accuracy under one attack), the
composite attacks (standard, ensemble19), gradient-masking checks, the compiled attack
path, cost and memory accounting, and randomized-smoothing certificates."""
