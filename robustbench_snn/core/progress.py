"""Progress of an attack in its own units -- gradient steps and score queries --
so a long run shows movement and an honest ETA instead of ``0/2 batch`` for
minutes.

Attacks call :func:`tick` once per input-gradient evaluation
(:func:`robustbench_snn.attacks.gradient.eot_loss_and_gradient`, whatever its
EOT) and once per score query (:class:`robustbench_snn.attacks.blackbox.ScoreOnly`);
the harness counts them on a bar whose total is
its :class:`~robustbench_snn.attacks.spec.AttackSpec`'s ``ticks`` per batch.
Outside :func:`counting` a tick does nothing.

A tick is also where a stopped run notices it was stopped (:func:`stopping_when`):
a sweep's worker raises KeyboardInterrupt from its SIGINT handler, but one that
lands inside a finalizer is printed there and lost, and the shard ran on until the
driver's grace ended it. Checked at every tick, the stop ends the shard within a step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar

_counter: ContextVar[Callable[[int], None] | None] = ContextVar("rbsnn_progress", default=None)
_stopped: ContextVar[Callable[[], bool] | None] = ContextVar("rbsnn_stopped", default=None)


def tick(n: int = 1) -> None:
    """One unit of attack work done (a gradient step or a query); KeyboardInterrupt if the
    run was stopped (:func:`stopping_when`)."""
    stopped = _stopped.get()
    if stopped is not None and stopped():
        raise KeyboardInterrupt
    counter = _counter.get()
    if counter is not None:
        counter(n)


def stopping_when(stopped: Callable[[], bool]) -> AbstractContextManager[None]:
    """Within the block, a :func:`tick` raises KeyboardInterrupt once ``stopped()`` is true."""
    return _within(_stopped, stopped)


def counting(counter: Callable[[int], None]) -> AbstractContextManager[None]:
    """Within the block, every :func:`tick` calls ``counter(n)``."""
    return _within(_counter, counter)


@contextmanager
def _within(var: ContextVar, value: object) -> Iterator[None]:
    """``var`` set to ``value`` for the block, then back to what it was."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)

