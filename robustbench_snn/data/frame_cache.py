"""A disk cache of decoded datasets, so a dataset is simulated, read or decoded once per machine.

Simulating ``mnist-events`` (60,000 recordings) or reading N-MNIST's 70,000 files
takes tens of minutes, decoding CIFAR-10's 60,000 JPEG files tens of seconds; every
``rbsnn train`` and ``rbsnn eval`` process would otherwise pay it again. Event frames
``[N, T, 2, H, W]`` are binary, so they are stored bit-packed (``numpy.packbits``: 1/32
of float32); images as their uint8 pixels. Each is a safetensors file (no pickle), keyed
by a SHA-256 of everything that determines it:

* the dataset's name and split, the number of bins, :data:`CACHE_VERSION`
  (bump it when the simulation or binning code changes what it gives);
* for a simulated set, the camera parameters and a hash of the source images
  and labels; for a recorded set, each file's relative path, size and mtime;
  for an image folder or archive, a hash of its files' contents.

Where: ``$RBSNN_CACHE`` or ``~/.cache/robustbench-snn``; ``RBSNN_CACHE=off``
turns it off. A file that cannot be read as this key's frames (truncated,
another key, wrong shape) is ignored and rewritten; a folder that cannot be
written to is reported once and the frames are used uncached. Writes go to a
temporary file renamed into place, so a reader never sees a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

#: Bump when the simulator or the binning changes the frames a key gives.
CACHE_VERSION = 2


def cache_dir() -> Path | None:
    """The cache folder, or None when ``RBSNN_CACHE=off``."""
    value = os.environ.get("RBSNN_CACHE", "")
    if value.lower() == "off":
        return None
    return Path(value) if value else Path.home() / ".cache" / "robustbench-snn"


def cache_key(parts: dict) -> str:
    """SHA-256 (hex) of ``parts`` with :data:`CACHE_VERSION`, as canonical JSON."""
    text = json.dumps({**parts, "cache_version": CACHE_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def array_digest(*arrays: np.ndarray | torch.Tensor) -> str:
    """SHA-256 of the arrays' shapes, dtypes and bytes (the source of a simulated set)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a.numpy() if isinstance(a, torch.Tensor) else a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def files_digest(root: Path, files: list[Path]) -> list[tuple[str, int, int]]:
    """``(relative path, size, mtime_ns)`` of each file: a recorded set's fingerprint."""
    return [(str(p.relative_to(root)), (s := p.stat()).st_size, s.st_mtime_ns) for p in files]


@dataclass(frozen=True)
class _Codec:
    """How one kind of array is stored: its cache subfolder, the rank it must have, and
    the uint8 payload it is kept as (``pack``) and read back from (``unpack(payload, shape)``)."""

    folder: str
    ndim: int
    pack: Callable[[torch.Tensor], np.ndarray]
    unpack: Callable[[np.ndarray, tuple[int, ...]], torch.Tensor | None]


def _pack_bits(frames: torch.Tensor) -> np.ndarray:
    if not bool(((frames == 0) | (frames == 1)).all()):
        raise ValueError("only binary frames can be cached bit-packed")
    return np.packbits(frames.numpy().astype(bool).ravel())


def _unpack_bits(packed: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor | None:
    count = int(np.prod(shape))
    if packed.size * 8 < count:
        return None
    return torch.from_numpy(np.unpackbits(packed, count=count).reshape(shape).astype(np.float32))


def _pack_pixels(images: torch.Tensor) -> np.ndarray:
    if images.dtype != torch.uint8:
        raise ValueError("images are cached as uint8 pixels")
    return images.numpy().ravel()


def _unpack_pixels(pixels: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor | None:
    return torch.from_numpy(pixels.reshape(shape).copy()) if pixels.size == int(np.prod(shape)) else None


#: Event frames ``[N, T, 2, H, W]`` in {0, 1}, bit-packed; images ``[N, H, W, C]`` uint8 as they are.
FRAMES = _Codec("events", 5, _pack_bits, _unpack_bits)
IMAGES = _Codec("images", 4, _pack_pixels, _unpack_pixels)


def _path(codec: _Codec, name: str, split: str, key: str) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / codec.folder / f"{name}-{split}-{key[:20]}.safetensors"


def _load(codec: _Codec, path: Path, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    try:
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
            if meta.get("key") != key:
                return None
            shape = tuple(json.loads(meta["shape"]))
            payload, labels = f.get_tensor("data"), f.get_tensor("labels")
    except (OSError, SafetensorError, KeyError, ValueError):
        return None
    if payload.dtype != np.uint8 or labels.ndim != 1 or len(shape) != codec.ndim or shape[0] != len(labels):
        return None
    data = codec.unpack(payload, shape)
    return None if data is None else (data, torch.from_numpy(labels.astype(np.int64)))


def _save(codec: _Codec, path: Path, key: str, data: torch.Tensor, labels: torch.Tensor) -> None:
    payload = codec.pack(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a shared cache from other users
    try:
        save_file({"data": payload, "labels": labels.numpy().astype(np.int64)}, tmp,
                  metadata={"key": key, "shape": json.dumps(list(data.shape))})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _cached(codec: _Codec, name: str, split: str, parts: dict,
            make: Callable[[], tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    key = cache_key({"name": name, "split": split, **parts})
    path = _path(codec, name, split, key)
    if path is not None and path.is_file() and (hit := _load(codec, path, key)) is not None:
        return hit
    data, labels = make()
    if path is not None:
        try:
            _save(codec, path, key, data, labels)
        except OSError as e:
            warnings.warn(f"{name} not cached in {path.parent} ({e.strerror or e}); set RBSNN_CACHE to a "
                          "writable folder, or RBSNN_CACHE=off", stacklevel=3)
    return data, labels


def cached_frames(name: str, split: str, parts: dict,
                  make: Callable[[], tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(frames [N, T, 2, H, W] in {0, 1}, labels [N])``: from the cache when it holds
    this key, else ``make()``, stored for the next process."""
    return _cached(FRAMES, name, split, parts, make)


def cached_images(name: str, split: str, parts: dict,
                  make: Callable[[], tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images [N, H, W, C] uint8, labels [N])``: from the cache when it holds this key,
    else ``make()``, stored for the next process."""
    return _cached(IMAGES, name, split, parts, make)
