"""Shared timer for the benchmark scripts (imported as a sibling module when
a script runs as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import time


def best_of(fn, reps: int = 3) -> float:
    """Fastest of ``reps`` timed calls of ``fn`` after one warm-up call, in seconds:
    the minimum is the run least disturbed by other load on a shared CPU."""
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)
