"""How ``rbsnn`` stops: a Ctrl-C (SIGINT) or a scheduler's SIGTERM ends a command in one line,
with nothing half-written, and the process ends by that signal.

Two phases. While the library loads (seconds: torch and the rest import at the top of their
modules), nothing has been written yet, so :func:`end_while_loading` ends the process at once
with the one line. Once a command runs, SIGINT raises KeyboardInterrupt and SIGTERM
:class:`Terminated` (:func:`stop_as_interrupt`), so the command unwinds (a sweep stops its
workers, every file write is atomic) and the CLI prints :func:`stopped_message`; then
:func:`end_by_signal` ends the process as the signal would have. Only the standard library is
imported here, so the entry point can install these handlers before anything heavy loads."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from typing import NoReturn

#: Exit status after a Ctrl-C (128 + SIGINT) ...
INTERRUPTED = 130
#: ... and after a SIGTERM (a batch scheduler's stop, ``kill``): 128 + SIGTERM
TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised by the handler :func:`stop_as_interrupt` installs: stopped as a Ctrl-C
    stops a command (a sweep's workers interrupted, nothing half-written), then the process
    ends by SIGTERM. Without it a terminated sweep left its workers attacking for hours."""


def raise_terminated(signum, frame) -> NoReturn:
    raise Terminated


def stopped_message(stop: KeyboardInterrupt) -> str:
    how = "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"
    return f"rbsnn: {how}; no file was left half-written"


def stopped_status(stop: KeyboardInterrupt) -> int:
    return TERMINATED if isinstance(stop, Terminated) else INTERRUPTED


def end_while_loading() -> None:
    """Handlers for the time the library loads: a SIGINT or SIGTERM then prints the one line
    and ends the process by that signal (nothing can be half-written before a command runs)."""

    def end(signum, frame) -> NoReturn:
        print(stopped_message(Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()), file=sys.stderr)
        end_by_signal(signum)

    signal.signal(signal.SIGINT, end)
    signal.signal(signal.SIGTERM, end)


def stop_as_interrupt() -> None:
    """Handlers for the time a command runs: SIGINT raises KeyboardInterrupt, SIGTERM
    :class:`Terminated`, so the command unwinds and says how it stopped; and a stop that lands
    where Python cannot raise it is sent again (:func:`redeliver_swallowed_stops`)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_terminated)
    redeliver_swallowed_stops()


#: How long after a swallowed stop the signal is sent again: long enough for the callback that
#: swallowed it to have returned, short against a user's wait.
REDELIVERY_DELAY_S = 0.05


def redeliver_swallowed_stops() -> None:
    """Wrap :data:`sys.unraisablehook` so a KeyboardInterrupt (or :class:`Terminated`) raised
    inside a weak-reference callback or a finalizer, where CPython prints "Exception ignored"
    and carries on, is not lost: the traceback is not printed, and the same signal is sent to
    the process again shortly after, when the callback has returned. Measured: a Ctrl-C that
    landed in a callback of torch.compile's weak-key dictionary printed a traceback and left
    ``rbsnn eval`` attacking. Other unraisable exceptions go to the hook in place before."""
    before = sys.unraisablehook

    def hook(unraisable) -> None:
        stop = unraisable.exc_value
        if not isinstance(stop, KeyboardInterrupt):
            before(unraisable)
            return
        signum = signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT
        again = threading.Timer(REDELIVERY_DELAY_S, os.kill, (os.getpid(), signum))
        again.daemon = True
        again.start()

    sys.unraisablehook = hook


def close_progress_bars() -> None:
    """Close the progress bars an interrupted command left open (each ends its line), so the
    last line starts on a line of its own instead of after a bar's last redraw."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())):
        bar.close()


def end_by_signal(signum: int) -> NoReturn:
    """End this process as the signal ``signum`` (SIGINT, SIGTERM) ends a program: killed by
    it, after the exit handlers (:mod:`atexit`: multiprocessing's clean-up, Ray's), with
    nothing printed beyond the one line. A shell reports status 130 (143) either way, but only
    a process killed by SIGINT stops a shell script's loop (bash takes a command that exits 130
    to have handled the Ctrl-C and runs the next one). CPython 3.11 itself ends by SIGINT after
    a KeyboardInterrupt that passed through code run by ``PyRun_*`` (as while torch imports),
    and with Ray's processes interrupted too, Ray's core worker ends the interpreter's teardown
    with status 1; so the teardown is not run: the exit handlers are, then the signal."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing more can be said on it
            pass
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # not reached: the signal's default action ends the process
