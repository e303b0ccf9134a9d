"""A stop (Ctrl-C, SIGTERM) that lands inside a weak-reference callback, where CPython prints
"Exception ignored" and carries on, still stops the command, with nothing printed."""

import signal
import sys
import time
import weakref
from typing import NoReturn

import pytest

from robustbench_snn.runners import signals


@pytest.fixture
def command_handlers():
    """The handlers ``rbsnn`` installs while a command runs, restored afterwards."""
    kept = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), sys.unraisablehook
    signals.stop_as_interrupt()
    yield
    signal.signal(signal.SIGINT, kept[0])
    signal.signal(signal.SIGTERM, kept[1])
    sys.unraisablehook = kept[2]


class _Owner:
    pass


def _swallowed_then_wait(stop: KeyboardInterrupt, seconds: float = 10.0) -> NoReturn:
    """Raise ``stop`` inside a weakref callback (as a signal landing there does), then busy-wait
    until the re-sent stop interrupts the wait; AssertionError if it never arrives."""

    def callback(ref):
        raise stop

    owner = _Owner()
    ref = weakref.ref(owner, callback)
    start = time.monotonic()
    del owner  # the callback runs here and its exception is swallowed
    assert ref() is None
    while time.monotonic() - start < seconds:
        pass
    raise AssertionError("the swallowed stop never arrived")


@pytest.mark.parametrize("stop, expected", [(KeyboardInterrupt(), KeyboardInterrupt), (signals.Terminated(), signals.Terminated)])
def test_a_stop_swallowed_in_a_weakref_callback_is_sent_again(command_handlers, capsys, stop, expected):
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt) as caught:
        _swallowed_then_wait(stop)
    assert type(caught.value) is expected
    assert time.monotonic() - start < 5.0
    assert capsys.readouterr().err == ""  # no "Exception ignored in" traceback


def test_other_unraisable_exceptions_still_reach_the_hook_before(command_handlers, monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    signals.redeliver_swallowed_stops()

    def callback(ref):
        raise ValueError("broken callback")

    owner = _Owner()
    ref = weakref.ref(owner, callback)
    del owner
    assert ref() is None
    assert [str(u.exc_value) for u in seen] == ["broken callback"]
