"""A disk cache of binned event frames, so a dataset is simulated or read once per machine.

Simulating ``mnist-events`` (60,000 recordings) or reading N-MNIST's 70,000 files
takes tens of minutes; every ``rbsnn train`` and ``rbsnn eval`` process would
otherwise pay it again. The frames ``[N, T, 2, H, W]`` are binary, so they are
stored bit-packed (``numpy.packbits``: 1/32 of float32) in a safetensors file
(no pickle), keyed by a SHA-256 of everything that determines them:

* the dataset's name and split, the number of bins, :data:`CACHE_VERSION`
  (bump it when the simulation or binning code changes what it gives);
* for a simulated set, the camera parameters and a hash of the source images
  and labels; for a recorded set, each file's relative path, size and mtime.

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
from pathlib import Path

import numpy as np
import torch

#: Bump when the simulator or the binning changes the frames a key gives.
CACHE_VERSION = 1


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


def _path(name: str, split: str, key: str) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / "events" / f"{name}-{split}-{key[:20]}.safetensors"


def _load(path: Path, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
            if meta.get("key") != key:
                return None
            shape = tuple(json.loads(meta["shape"]))
            packed, labels = f.get_tensor("frames"), f.get_tensor("labels")
    except (OSError, SafetensorError, KeyError, ValueError):
        return None
    if packed.dtype != np.uint8 or labels.ndim != 1 or len(shape) != 5 or shape[0] != len(labels):
        return None
    count = int(np.prod(shape))
    if packed.size * 8 < count:
        return None
    frames = np.unpackbits(packed, count=count).reshape(shape).astype(np.float32)
    return torch.from_numpy(frames), torch.from_numpy(labels.astype(np.int64))


def _save(path: Path, key: str, frames: torch.Tensor, labels: torch.Tensor) -> None:
    from safetensors.numpy import save_file

    if not bool(((frames == 0) | (frames == 1)).all()):
        raise ValueError("only binary frames can be cached bit-packed")
    path.parent.mkdir(parents=True, exist_ok=True)
    packed = np.packbits(frames.numpy().astype(bool).ravel())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a shared cache from other users
    try:
        save_file({"frames": packed, "labels": labels.numpy().astype(np.int64)}, tmp,
                  metadata={"key": key, "shape": json.dumps(list(frames.shape))})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cached_frames(name: str, split: str, parts: dict,
                  make: Callable[[], tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(frames [N, T, 2, H, W] in {0, 1}, labels [N])``: from the cache when it holds
    this key, else ``make()``, stored for the next process."""
    key = cache_key({"name": name, "split": split, **parts})
    path = _path(name, split, key)
    if path is not None and path.is_file() and (hit := _load(path, key)) is not None:
        return hit
    frames, labels = make()
    if path is not None:
        try:
            _save(path, key, frames, labels)
        except OSError as e:
            warnings.warn(f"event frames not cached in {path.parent} ({e.strerror or e}); set RBSNN_CACHE to a "
                          "writable folder, or RBSNN_CACHE=off", stacklevel=2)
    return frames, labels
