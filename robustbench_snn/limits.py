"""Upper bounds on the counts and seeds an evaluation accepts, shared by the library
(:func:`~robustbench_snn.api.benchmark`, :class:`~robustbench_snn.certify.CertifyConfig`)
and the command line, so a typo is refused with its valid range instead of allocating
tens of GB or running for days. No torch import: the CLI reads these building its parser."""

from __future__ import annotations

import argparse

from .errors import UserInputError

MAX_T = 1000  # time steps
MAX_STEPS = 10_000  # attack steps
MAX_SAMPLES = 10_000  # EOT samples per gradient, encoder draws per accuracy
MAX_DRAWS_CERTIFY = 10_000_000  # certify n, n0
MAX_SEED = 2**63 - 1


def check_count(label: str, value: object, high: int | None = None) -> None:
    """Refuse ``value`` unless it is an int (not a bool) in [1, ``high``]."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (high is not None and value > high):
        valid = f"1-{high:,}" if high is not None else ">= 1"
        raise UserInputError(f"bad {label} {value!r}; it must be a positive integer ({valid})")


def check_seed(value: object, label: str = "seed") -> None:
    """Refuse ``value`` unless it is an int (not a bool) in [0, :data:`MAX_SEED`]."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise UserInputError(f"bad {label} {value!r}; it must be an integer in 0-{MAX_SEED}")


def positive_int(name: str, high: int | None = None):
    """argparse type (``rbsnn`` and the ``benchmarks/`` scripts): an integer in [1, ``high``],
    the range named in the error."""

    def parse(text: str) -> int:
        valid = f"1-{high:,}" if high else ">= 1"
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer ({valid}), got {text!r}") from None
        if v < 1 or (high is not None and v > high):
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer ({valid}), got {text!r}")
        return v

    return parse
