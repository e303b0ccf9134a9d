"""Upper bounds on the counts and seeds an evaluation accepts, shared by the library
(:func:`~robustbench_snn.api.benchmark`, :class:`~robustbench_snn.evaluation.certify.CertifyConfig`)
and the command line, so a typo is refused with its valid range instead of allocating
tens of GB or running for days. Each range is one :class:`Range`: the same rule checks a
library argument (:meth:`Range.check`) and parses a command-line option
(:meth:`Range.argument`). No torch import: the CLI reads these building its parser."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import UserInputError

MAX_T = 1000  # time steps
MAX_STEPS = 10_000  # attack steps
MAX_SAMPLES = 10_000  # EOT samples per gradient, encoder draws per accuracy
MAX_DRAWS_CERTIFY = 10_000_000  # certify n, n0
MAX_SEED = 2**63 - 1
#: Examples per attack batch when a command does not say (rbsnn eval, submit and sweep).
BATCH_SIZE = 250
#: Characters of a model's name in a row (benchmark(name=...)): a label, not a document.
MAX_NAME = 100


@dataclass(frozen=True)
class Range:
    """The values a setting accepts: ``what`` describes them in errors, ``accept`` decides,
    ``convert`` reads one from command-line text (raising ValueError on bad text)."""

    what: str
    accept: Callable[[Any], bool]
    convert: Callable[[str], Any]

    def check(self, label: str, value: Any) -> None:
        """Refuse a library argument outside the range: ``bad <label> <value>; it must be ...``."""
        if not self.accept(value):
            raise UserInputError(f"bad {label} {value!r}; it must be {self.what}")

    def argument(self, name: str) -> Callable[[str], Any]:
        """An argparse type for the option ``name``: ``<name> must be ..., got '<text>'``."""

        def parse(text: str) -> Any:
            try:
                value = self.convert(text)
            except ValueError:
                value = None
            if value is None or not self.accept(value):
                raise argparse.ArgumentTypeError(f"{name} must be {self.what}, got {text!r}")
            return value

        return parse


def is_number(value: Any, low: float = -math.inf, high: float = math.inf) -> bool:
    """Whether ``value`` is a real number (an int or float, not a bool), finite, in [``low``,
    ``high``]: what a number read from a file someone else wrote (a shard, a resume file, a
    submission's answer) must be before it is used."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and low <= value <= high


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def count(high: int | None = None) -> Range:
    """Integers in [1, ``high``] (no upper bound when ``high`` is None)."""
    return Range(f"a positive integer ({f'1-{high:,}' if high is not None else '>= 1'})",
                 lambda v: _is_int(v) and v >= 1 and (high is None or v <= high), int)


SEED = Range(f"an integer in 0-{MAX_SEED}", lambda v: _is_int(v) and 0 <= v <= MAX_SEED, int)
#: Certification's alpha (Cohen et al.'s failure probability of one certificate).
FAILURE_PROBABILITY = Range("a number in (0, 0.5)", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 0.5, float)


def check_count(label: str, value: object, high: int | None = None) -> None:
    """Refuse ``value`` unless it is an int (not a bool) in [1, ``high``]."""
    count(high).check(label, value)


def check_seed(value: object, label: str = "seed") -> None:
    """Refuse ``value`` unless it is an int (not a bool) in [0, :data:`MAX_SEED`]."""
    SEED.check(label, value)


def positive_int(name: str, high: int | None = None) -> Callable[[str], int]:
    """argparse type (``rbsnn`` and the ``benchmarks/`` scripts): an integer in [1, ``high``],
    the range named in the error."""
    return count(high).argument(name)
