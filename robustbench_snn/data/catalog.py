"""Every dataset by name: the image datasets (:mod:`.images`) and the event datasets
(:mod:`.events`): ``digits-events`` and ``mnist-events`` are simulated event-camera
recordings of those images, binned into frames (``x: [N, T, 2, H, W]`` in {0, 1}), beside
recorded N-MNIST, DVS Gesture and CIFAR10-DVS. Nothing is downloaded."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from ..core.errors import UnknownNameError
from ..core.registry import Registry
from .dataset import Dataset, SPLITS, resolve_folder
from .events import load_event_dataset
from .images import IMAGE_LOADERS


def _load_events(name: str) -> Callable[[str, Path | None], Dataset]:
    return lambda split, data_dir: load_event_dataset(name, split, data_dir)


#: Datasets by name: ``load(split, data_dir) -> Dataset``.
LOADERS: Registry[Callable[[str, Path | None], Dataset]] = Registry("dataset")
LOADERS.register_all((name, IMAGE_LOADERS[name], IMAGE_LOADERS.description(name)) for name in IMAGE_LOADERS)
LOADERS.register_all((
    # event-camera recordings simulated from the images (robustbench_snn.data.events): x [N, T, 2, H, W]
    ("digits-events", _load_events("digits-events"), "event-camera recordings simulated from digits (embedded)"),
    ("mnist-events", _load_events("mnist-events"), "event-camera recordings simulated from MNIST (--data-dir)"),
    # recorded event datasets, read file by file by tonic's readers (robustbench_snn.data.events.RECORDED)
    ("nmnist", _load_events("nmnist"), "recorded N-MNIST from --data-dir"),
    ("dvs-gesture", _load_events("dvs-gesture"), "recorded DVS128 Gesture (tonic's layout) from --data-dir"),
    ("cifar10-dvs", _load_events("cifar10-dvs"), "recorded CIFAR10-DVS (AEDAT 4) from --data-dir"),
))
DATASETS = tuple(LOADERS)

#: Each fixed-size dataset's example shape (``image-folder`` takes any size): what bounds a
#: certified radius (:func:`input_values`), known without loading the data.
INPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32), "cifar10-jpeg": (3, 32, 32),
    "digits-events": (8, 2, 12, 12), "mnist-events": (8, 2, 34, 34), "nmnist": (8, 2, 34, 34),
    "dvs-gesture": (8, 2, 128, 128), "cifar10-dvs": (8, 2, 128, 128),
}


def input_values(name: str) -> int | None:
    """How many values in [0, 1] an example of dataset ``name`` has (None: it depends on the files)."""
    shape = INPUT_SHAPES.get(name)
    return None if shape is None else int(math.prod(shape))


def box_diameter(values: int, norm: str) -> float:
    """The diameter of the input box [0, 1]^d, d = ``values``, in ``norm``: 1 in Linf, the
    diagonal sqrt(d) in L2. No perturbation, noise or certified radius means more than this."""
    return 1.0 if norm == "linf" else math.sqrt(values)


def load_dataset(name: str, split: str = "test", data_dir: str | Path | None = None) -> Dataset:
    """Load ``split`` of dataset ``name`` (see module docstring) from ``data_dir``, else from
    the data root's ``$RBSNN_DATA/<name>``, so a command that names no folder reproduces on
    any machine whose data root holds the dataset."""
    load = LOADERS[name]
    if split not in SPLITS:
        raise UnknownNameError("split", split, SPLITS)
    return load(split, resolve_folder(name, data_dir))
