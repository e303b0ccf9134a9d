"""Registered models. Importing this package imports every module in this
folder, and each module's ``@register_model`` registers its model: adding a
model is adding one file here."""

import importlib
import pkgutil

from ..core.classifier import ANNClassifier, Classifier, SpikingClassifier

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ANNClassifier", "Classifier", "SpikingClassifier"]
