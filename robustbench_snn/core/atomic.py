"""Atomic file writes: write a temporary file beside the target, fsync, rename.

A reader (or a crash) never sees a half-written leaderboard or card: either
the old file or the complete new one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UserInputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` all at once, with ordinary (umask) permissions. A write
    the system refuses (a full disk, a quota, a read-only or failing file system) leaves
    ``path`` as it was and is a :class:`FileWriteError`, one line for the CLI."""
    path = Path(path)
    refuse_special_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise FileWriteError(path, error) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise FileWriteError(path, error) from None
        raise


def refuse_special_file(path: Path, flag: str | None = None) -> None:
    """Refuse, in one line, to replace anything but a regular file: the rename that makes a
    write atomic would swap a device (``/dev/null``, which users give to discard output), a
    FIFO or a socket for a plain file, system-wide when run as root."""
    if path.exists() and not path.is_file():
        kind = "a folder" if path.is_dir() else "a device, pipe or socket"
        raise UserInputError(f"{flag + ' ' if flag else ''}{str(path)!r} is {kind}, not a file rbsnn can replace; give a file path")


class FileWriteError(UserInputError):
    """The system refused a write (``errno`` kept); the file is as it was."""

    def __init__(self, path: Path, error: OSError) -> None:
        self.path, self.errno = path, error.errno
        super().__init__(f"could not write {path} ({error.strerror or error}); it is unchanged. Free space, or choose "
                         "another path, and run the command again")
