"""Keep freed tensor memory in the process instead of handing it back to the OS.

PyTorch's CPU tensors come straight from the C library's ``malloc``. glibc
serves every block above its mmap threshold (at most 32 MB) with a fresh
``mmap`` and returns it with ``munmap`` on free, so each of the ~100 MB
activations of an MNIST EOT pass ``[T, B, C, H, W]`` is zero-filled page by
page on first touch, every pass. A full-strength standard evaluation of
``rsc-snn`` on MNIST took 924 million minor page faults, a fifth of its CPU
time in the kernel.

:func:`keep_freed_memory` calls ``mallopt`` (glibc's documented tuning
interface, the same knobs as the ``MALLOC_MMAP_MAX_`` / ``MALLOC_TRIM_THRESHOLD_``
environment variables) so large blocks come from the heap and freed memory
is reused rather than returned. It changes where tensors live, never what
is computed: results are bit-identical (tested). The cost is that the
process keeps its peak heap until it exits. ``benchmarks/standard_cost.py
--malloc default`` measures the difference.

On a C library without ``mallopt`` (macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes

# glibc <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
#: never trim the heap top back to the OS (largest value mallopt takes)
_NO_TRIM = 2**31 - 1

_applied = False


def keep_freed_memory() -> bool:
    """Serve large blocks from the heap and never trim it; ``True`` if the C library took it.

    Process-wide and idempotent; call it once, early, from an entry point
    (the CLI, a benchmark), not from library code.
    """
    global _applied
    if _applied:
        return True
    try:
        # the symbols already loaded into this process (libc among them): no
        # library search, which on Linux runs ldconfig in a subprocess
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _NO_TRIM))
    return _applied
