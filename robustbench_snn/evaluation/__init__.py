"""Evaluating a model: the harness (clean and robust accuracy under one attack), the
composite attacks (standard, ensemble19, assg), gradient-masking checks, the compiled attack
path, cost and memory accounting, and randomized-smoothing certificates.

Importing this package imports every module in its folder, so each composite attack's
``@register_composite`` has run: adding one is adding a file here."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
