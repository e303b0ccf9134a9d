"""Image datasets, read from files (nothing is downloaded): ``digits`` (scikit-learn's bundled
8x8 handwritten digits, 1,797 images) works on any machine; ``mnist``, ``fashion-mnist`` and
``cifar10`` are read from their standard files; ``cifar10-jpeg`` and ``image-folder`` from an
image folder or its archive (:mod:`.image_folder`). Each gives ``x: [N, C, H, W]`` in [0, 1]."""

from __future__ import annotations

import gzip
import pickle
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..core.errors import UserInputError
from ..core.registry import Registry
from .dataset import DataNotFoundError, Dataset, require_dir
from .frame_cache import cached_images
from .image_folder import CIFAR10_CLASSES, content_digest, find_source, read_split

#: Fixed digits split: 500 test images (stratified, seed 0), the rest train.
DIGITS_TEST_SIZE = 500
DIGITS_SPLIT_SEED = 0


def _load_digits(split: str, data_dir: Path | None) -> Dataset:
    from sklearn.datasets import load_digits  # heavy: 1.0 s to import, paid only when digits are loaded
    from sklearn.model_selection import train_test_split  # heavy: 1.0 s to import, paid only when digits are loaded

    bunch = load_digits()
    x = bunch.images.astype(np.float32) / 16.0  # 0..16 -> [0, 1]
    idx_train, idx_test = train_test_split(
        np.arange(len(x)), test_size=DIGITS_TEST_SIZE, random_state=DIGITS_SPLIT_SEED, stratify=bunch.target
    )
    idx = idx_train if split == "train" else idx_test
    return Dataset("digits", split, torch.from_numpy(x[idx]).unsqueeze(1), torch.from_numpy(bunch.target[idx]).long(), 10)


#: An IDX file of this project has 1 (labels) or 3 (images) dimensions.
IDX_MAX_DIMS = 3
#: Most payload bytes an IDX file may declare: 5.6x MNIST's training images (47 MB), so a
#: crafted header or a small gzip that inflates to gigabytes is refused, not read into memory.
IDX_MAX_BYTES = 2**28


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped or not): big-endian header, uint8 payload; every way
    it can be malformed (short or corrupt gzip, short header, absurd rank or size, a
    payload shorter or longer than its header says) is a one-line :class:`UserInputError`
    naming the file. The header is read first and the payload by its declared size, so
    a gzip bomb costs at most :data:`IDX_MAX_BYTES`."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != 0x08:
                raise UserInputError(f"{path} is not an unsigned-byte IDX file")
            ndim = head[3]
            shape = f.read(4 * ndim) if 1 <= ndim <= IDX_MAX_DIMS else b""
            if len(shape) != 4 * ndim:
                raise UserInputError(f"{path}: IDX header with {ndim} dimensions in {4 + len(shape)} bytes; "
                                     f"expected 1-{IDX_MAX_DIMS} and a complete header")
            dims = [int.from_bytes(shape[4 * i : 4 * i + 4], "big") for i in range(ndim)]
            size = int(np.prod(dims))
            if size > IDX_MAX_BYTES:
                raise UserInputError(f"{path}: header says {dims}, {size:,} bytes, more than the {IDX_MAX_BYTES:,} "
                                     "an image or label file of these datasets can hold")
            payload = f.read(size + 1)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:  # truncated or not gzip at all
        raise UserInputError(f"{path} cannot be read ({type(e).__name__}: {e})") from None
    if len(payload) != size:
        held = f"{len(payload)} bytes" if len(payload) <= size else "more bytes"
        raise UserInputError(f"{path}: header says {dims} but holds {held}")
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _find(data_dir: Path, stem: str, subdirs: tuple[str, ...]) -> Path | None:
    for sub in subdirs:
        for suffix in ("", ".gz"):
            p = data_dir / sub / (stem + suffix)
            if p.is_file():
                return p
    return None


def _load_idx_dataset(name: str, torchvision_dir: str):
    def load(split: str, data_dir: Path | None) -> Dataset:
        img_stem, lbl_stem = _IDX_FILES[split]
        expected = f"{img_stem}[.gz] and {lbl_stem}[.gz]"
        root = require_dir(name, data_dir, expected)
        subdirs = ("", f"{torchvision_dir}/raw", torchvision_dir)
        img, lbl = _find(root, img_stem, subdirs), _find(root, lbl_stem, subdirs)
        if img is None or lbl is None:
            raise DataNotFoundError(f"dataset {name!r}: expected {expected} in {root} (or {root}/{torchvision_dir}/raw)")
        images, labels = read_idx(img), read_idx(lbl)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise UserInputError(f"{img}: images of shape {list(images.shape)}; expected [N, 28, 28]")
        if labels.ndim != 1 or len(images) != len(labels):
            raise UserInputError(f"dataset {name!r}: {len(images)} images but labels of shape {list(labels.shape)} in {root}")
        if not len(labels):
            raise UserInputError(f"dataset {name!r}: {img} holds no images")
        if labels.max() > 9:
            raise UserInputError(f"{lbl}: label {int(labels.max())} outside the 10 classes 0-9")
        x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        return Dataset(name, split, x, torch.from_numpy(labels.astype(np.int64)), 10)

    return load


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles exactly what a CIFAR-10 python batch holds -- dicts, lists, bytes,
    str and numpy arrays -- and refuses every other global, so a crafted batch
    in ``--data-dir`` cannot run code (``pickle.load`` would call any importable
    function the file names)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not part of a CIFAR-10 batch")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images [N, 3, 32, 32] uint8, labels [N])`` of one batch file, checked."""
    try:
        with open(path, "rb") as fh:
            batch = _CifarUnpickler(fh, encoding="latin1").load()
        data, labels = np.asarray(batch["data"], dtype=np.uint8), np.asarray(batch["labels"], dtype=np.int64)
        images = data.reshape(-1, 3, 32, 32)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise UserInputError(f"{path} is not a CIFAR-10 python batch ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if len(images) != len(labels) or not len(labels) or labels.min() < 0 or labels.max() > 9:
        raise UserInputError(f"{path} is not a CIFAR-10 python batch ({len(images)} images, {len(labels)} labels in 0-9 expected to match and be non-empty)")
    return images, labels


def _load_cifar10(split: str, data_dir: Path | None) -> Dataset:
    files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    root = require_dir("cifar10", data_dir, "cifar-10-batches-py/ (the python version)")
    base = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    missing = [f for f in files if not (base / f).is_file()]
    if missing:
        raise DataNotFoundError(f"dataset 'cifar10': expected {', '.join(missing)} in {base}")
    xs, ys = [], []
    for f in files:
        images, labels = _read_cifar_batch(base / f)
        xs.append(images)
        ys.append(labels)
    x = torch.from_numpy(np.concatenate(xs).astype(np.float32) / 255.0)
    return Dataset("cifar10", split, x, torch.from_numpy(np.concatenate(ys)), 10)


def _load_image_folder(name: str, classes: tuple[str, ...] | None, size: tuple[int, int] | None):
    """A loader of an image-folder dataset (:mod:`.image_folder`), decoded once per machine."""

    def load(split: str, data_dir: Path | None) -> Dataset:
        source = find_source(name, require_dir(name, data_dir, "train/ and test/ folders of class folders of images, or a .tar.gz of them"))
        parts = {"content": content_digest(source, split), "classes": classes, "size": size, "order": "round-robin"}
        images, labels = cached_images(name, split, parts, lambda: read_split(name, source, split, classes, size)[:2])
        x = images.permute(0, 3, 1, 2).float().div_(255.0)  # [N, H, W, 3] uint8 -> [N, 3, H, W] in [0, 1]
        return Dataset(name, split, x, labels, len(classes) if classes else int(labels.max()) + 1)

    return load


#: Image datasets by name: ``load(split, folder) -> Dataset``.
IMAGE_LOADERS: Registry[Callable[[str, Path | None], Dataset]] = Registry("image dataset")
IMAGE_LOADERS.register_all((
    ("digits", _load_digits, "scikit-learn's bundled 8x8 digits (embedded)"),
    ("mnist", _load_idx_dataset("mnist", "MNIST"), "MNIST IDX files from --data-dir"),
    ("fashion-mnist", _load_idx_dataset("fashion-mnist", "FashionMNIST"), "Fashion-MNIST IDX files from --data-dir"),
    ("cifar10", _load_cifar10, "CIFAR-10 python batches from --data-dir"),
    ("cifar10-jpeg", _load_image_folder("cifar10-jpeg", CIFAR10_CLASSES, (32, 32)),
     "CIFAR-10 as JPEG files (quality 75: not the canonical pixels), an image folder or its .tar.gz from --data-dir"),
    ("image-folder", _load_image_folder("image-folder", None, None), "any <split>/<class>/<image> folder (or .tar.gz) from --data-dir"),
))
