"""The ``rbsnn`` command (and ``python -m robustbench_snn``).

The stop handlers go in before the library loads, so a Ctrl-C during the seconds that torch
and the rest take to import ends in one line, as it does once a command runs."""

from .runners.signals import end_while_loading

end_while_loading()

from .cli import run  # noqa: E402  (after the handlers: this import loads the library)

if __name__ == "__main__":
    run()
