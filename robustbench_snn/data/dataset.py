"""The dataset value and where a dataset's files are: ``x: [N, C, H, W]`` float in [0, 1]
(event data ``[N, T, 2, H, W]`` in {0, 1}), ``y: [N]`` int64, and the data root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.errors import UserInputError

SPLITS = ("train", "test")


class DataNotFoundError(UserInputError, FileNotFoundError):
    """The files of a dataset are not where the user said they would be."""


@dataclass(frozen=True)
class Dataset:
    name: str
    split: str
    x: torch.Tensor  # [N, C, H, W] in [0, 1]; event data: [N, T, 2, H, W] in {0, 1}
    y: torch.Tensor  # [N]
    num_classes: int
    #: [N] each example's index in its split (None: 0..N-1). A subset keeps its
    #: examples' ids, and their random streams are keyed by them
    #: (robustbench_snn.core.streams), so an example draws the same numbers wherever it runs.
    ids: torch.Tensor | None = None

    @property
    def example_ids(self) -> torch.Tensor:
        return torch.arange(len(self.y)) if self.ids is None else self.ids

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.y)

    def check(self) -> None:
        """Refuse, in one line, examples an evaluation cannot take as they are: inputs that
        are not finite floats in [0, 1] (the box every threat model clips to: normalization
        belongs inside the model), labels that are not integers in [0, num_classes), or
        counts that differ."""
        x, y = self.x, self.y
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise UserInputError(f"bad data {self.name!r}: x and y must be tensors")
        if not x.is_floating_point() or not bool(torch.isfinite(x).all()) or (len(x) and (x.min() < 0 or x.max() > 1)):
            span = f"[{x.min().item():.4g}, {x.max().item():.4g}]" if x.is_floating_point() and len(x) else str(x.dtype)
            raise UserInputError(f"bad data {self.name!r}: inputs must be finite floats in [0, 1], the box every threat model "
                                 f"clips to (normalize inside the model), got {span}")
        if y.dim() != 1 or y.is_floating_point() or len(y) != len(x):
            raise UserInputError(f"bad data {self.name!r}: labels must be integers of shape [{len(x)}], got {y.dtype} {list(y.shape)}")
        if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
            raise UserInputError(f"bad data {self.name!r}: labels must be in 0-{self.num_classes - 1}, got {y.min().item()}-{y.max().item()}")

    def head(self, n: int | None) -> "Dataset":
        """The first ``n`` examples (all if ``n`` is None)."""
        if n is None:
            return self
        if n < 1:
            raise UserInputError(f"number of examples must be >= 1, got {n}")
        return Dataset(self.name, self.split, self.x[:n], self.y[:n], self.num_classes, self.example_ids[:n])

    def subset(self, index: torch.Tensor) -> "Dataset":
        """The examples at ``index`` (a long tensor), in that order."""
        return Dataset(self.name, self.split, self.x[index], self.y[index], self.num_classes, self.example_ids[index.cpu()])


def require_dir(name: str, data_dir: Path | None, expected: str) -> Path:
    if data_dir is None:
        raise DataNotFoundError(f"dataset {name!r} needs --data-dir, or $RBSNN_DATA/{name}: a folder holding {expected} (nothing is downloaded)")
    return Path(data_dir)


#: The data root: a folder holding one subfolder per dataset, named as the dataset
#: (``$RBSNN_DATA/mnist``, ``$RBSNN_DATA/cifar10-jpeg``...), torchvision's ``root`` convention.
DATA_ROOT_VARIABLE = "RBSNN_DATA"


def data_root_folder(name: str) -> Path | None:
    """``$RBSNN_DATA/<name>`` when the variable is set and that folder exists, else None."""
    root = os.environ.get(DATA_ROOT_VARIABLE)
    folder = Path(root) / name if root else None
    return folder if folder is not None and folder.is_dir() else None


def resolve_folder(name: str, data_dir: str | Path | None) -> Path | None:
    """The folder dataset ``name`` is read from: ``data_dir`` if given, else the data root's."""
    return Path(data_dir) if data_dir is not None else data_root_folder(name)
