"""Image-folder datasets: ``<split>/<class>/<file>.jpg|.jpeg|.png``, as a folder or a ``.tar.gz``.

The layout torchvision's ``ImageFolder`` and most training scripts read. Two datasets use it:

* ``cifar10-jpeg``: CIFAR-10's 60,000 images re-encoded as JPEG files (quality 75), in
  the ten class folders ``airplane ... truck``. These are *not* the canonical pixels of the
  python batches (every pixel differs a little), so its rows form a board of their own;
  the canonical set stays available as ``cifar10``.
* ``image-folder``: any such folder a user has; the classes are its sorted class folders
  and every image must have the size of the first.

``--data-dir`` is the folder holding ``train/`` and ``test/``, a folder holding one of
those (``<name>/train``...), or a folder holding exactly one ``*.tar.gz`` of that layout;
the archive is read member by member, never extracted. Examples are ordered round-robin
over the classes (:func:`round_robin`), so the first N are balanced. The decoded pixels are cached
(:mod:`.frame_cache`) keyed by a SHA-256 of the files' contents, so a set is decoded once
per machine and a changed file is never served from the cache.

Why our own reader rather than torchvision's ``ImageFolder``: torchvision does not import
beside the project's CPU torch build, and this one also reads the archive in place, keys
the cache by content and refuses malformed files in one line.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..core.errors import UserInputError

#: CIFAR-10's classes in label order (Krizhevsky 2009, ``batches.meta``).
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: Largest image file read (a 32x32 JPEG is about 1 KB; a 224x224 PNG under 200 KB):
#: a member or file claiming more is refused before it is read.
MAX_IMAGE_BYTES = 2**22
#: Most images one split may hold (ImageNet's training set has 1.28 M).
MAX_IMAGES = 2_000_000
#: Largest side of an image (decompression bombs: Pillow's own guard is 89 M pixels).
MAX_SIDE = 1024
_SPLIT_PATH = re.compile(r"^(?:.*/)?(train|test)/([^/]+)/([^/]+)$")


@dataclass(frozen=True)
class ImageFile:
    """One image: its class folder, its name inside it, and its bytes."""

    label: str
    name: str
    data: bytes


def _check_size(where: str, size: int) -> None:
    if size > MAX_IMAGE_BYTES:
        raise UserInputError(f"{where}: {size:,} bytes, more than the {MAX_IMAGE_BYTES:,} an image file of these datasets may hold")


def _folder_files(root: Path, split: str) -> Iterator[ImageFile]:
    for class_dir in sorted(p for p in (root / split).iterdir() if p.is_dir()):
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                _check_size(str(path), path.stat().st_size)
                yield ImageFile(class_dir.name, path.name, path.read_bytes())


def _archive_files(archive: Path, split: str) -> Iterator[ImageFile]:
    """The regular members ``[<top>/]<split>/<class>/<file>`` of ``archive``, read in place
    (no member is written anywhere, so a hostile name cannot escape a folder)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                match = _SPLIT_PATH.match(member.name)
                if not member.isfile() or match is None or match.group(1) != split:
                    continue
                if Path(match.group(3)).suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                _check_size(f"{archive}:{member.name}", member.size)
                handle = tar.extractfile(member)
                yield ImageFile(match.group(2), match.group(3), handle.read() if handle else b"")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise UserInputError(f"{archive} cannot be read as a .tar.gz of images ({type(e).__name__}: {e})") from None


def find_source(name: str, data_dir: Path) -> Path:
    """The folder holding ``train/`` and ``test/``, or the one ``.tar.gz``, under ``data_dir``."""
    if not data_dir.is_dir():
        raise UserInputError(f"dataset {name!r}: --data-dir {str(data_dir)!r} is not a folder")
    for candidate in (data_dir, data_dir / name):
        if (candidate / "train").is_dir() or (candidate / "test").is_dir():
            return candidate
    archives = sorted(data_dir.glob("*.tar.gz"))
    if len(archives) == 1:
        return archives[0]
    found = f"{len(archives)} .tar.gz files" if archives else "neither"
    raise UserInputError(f"dataset {name!r}: expected train/ and test/ class folders (or one .tar.gz of them) in {data_dir}; found {found}")


def content_digest(source: Path, split: str) -> str:
    """SHA-256 of what determines the split's pixels: the archive's bytes, or each image
    file's path and bytes in a folder."""
    h = hashlib.sha256()
    if source.is_file():
        with open(source, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    for item in _folder_files(source, split):
        h.update(f"{item.label}/{item.name}\0{len(item.data)}\0".encode())
        h.update(item.data)
    return h.hexdigest()


def decode(item: ImageFile, where: str) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB pixels of one image, or a one-line error naming it."""

    try:
        with Image.open(io.BytesIO(item.data)) as image:
            if max(image.size) > MAX_SIDE:
                raise UserInputError(f"{where}/{item.label}/{item.name}: {image.size[0]}x{image.size[1]} pixels, more than {MAX_SIDE} a side")
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise UserInputError(f"{where}/{item.label}/{item.name} is not a readable image ({type(e).__name__}: {e})") from None


def round_robin(items: list[ImageFile], classes: tuple[str, ...]) -> list[ImageFile]:
    """The first file (by name) of each class in label order, then the second of each, and so
    on: the first N examples of a split are as balanced over classes as N allows, as the
    canonical CIFAR-10 test batch's interleaved order is (a class-sorted order would make
    "the first 1,000 test images" all airplanes)."""
    ranked = sorted(items, key=lambda f: (classes.index(f.label), f.name))
    rank: dict[str, int] = {}
    keyed = []
    for f in ranked:
        keyed.append((rank.get(f.label, 0), classes.index(f.label), f))
        rank[f.label] = rank.get(f.label, 0) + 1
    return [f for _, _, f in sorted(keyed, key=lambda k: k[:2])]


def read_split(name: str, source: Path, split: str, classes: tuple[str, ...] | None,
               size: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """``(images [N, H, W, 3] uint8, labels [N], classes)`` of ``split`` in :func:`round_robin`
    order. ``classes`` fixes the label order (others refused); None takes the split's sorted
    class folders. ``size`` ``(H, W)``, when given, is required of every image; else the first's."""
    files = _archive_files(source, split) if source.is_file() else _folder_files(source, split) if (source / split).is_dir() else iter(())
    items = list(files)
    if not items:
        raise UserInputError(f"dataset {name!r}: no {split} images in {source} (expected {split}/<class>/<file>{'|'.join(IMAGE_SUFFIXES)})")
    if len(items) > MAX_IMAGES:
        raise UserInputError(f"dataset {name!r}: {len(items):,} {split} images, more than {MAX_IMAGES:,}")
    found = tuple(sorted({f.label for f in items}))
    classes = classes or found
    unknown = [c for c in found if c not in classes]
    if unknown:
        raise UserInputError(f"dataset {name!r}: class folder(s) {', '.join(unknown)} in {source}; valid: {', '.join(classes)}")
    items = round_robin(items, classes)
    where = f"{source}:{split}" if source.is_file() else str(source / split)
    images = []
    for item in items:
        pixels = decode(item, where)
        size = size or pixels.shape[:2]
        if pixels.shape[:2] != tuple(size):
            raise UserInputError(f"{where}/{item.label}/{item.name}: {pixels.shape[1]}x{pixels.shape[0]} pixels; "
                                 f"every image of {name!r} must be {size[1]}x{size[0]}")
        images.append(pixels)
    labels = torch.tensor([classes.index(f.label) for f in items], dtype=torch.long)
    return torch.from_numpy(np.stack(images)), labels, classes
