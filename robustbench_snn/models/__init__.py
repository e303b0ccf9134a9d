"""Registered models. Importing this package registers every built-in model;
a new model is one module here, imported below."""

from . import ann_cnn, rsc_snn, snn_cnn, snn_mlp  # noqa: F401
from .base import ANNClassifier, Classifier, SpikingClassifier

__all__ = ["ANNClassifier", "Classifier", "SpikingClassifier"]
