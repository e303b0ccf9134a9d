"""A perturbation budget, parsed once: :class:`Eps` is what ``--eps``, ``benchmark(eps=...)``,
a submission card's ``eps`` and a sweep's ``--eps`` become, and it travels down to the attack
(``float(eps)``) and into the row (:attr:`Eps.on_board`). The labels a budget or a certified
radius is shown with, and the precision a board keeps, live here too, so the command line, the
boards, the report and the site write ``8/255`` the same way. No torch import."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .errors import UserInputError

#: Decimals a board keeps of its float key (eps, sigma): two budgets equal to this many
#: decimals are one row.
BOARD_DECIMALS = 6

#: The default budget per threat model as typed (inputs in [0, 1]; events: a count).
DEFAULT_EPS_TEXT = {"linf": "8/255", "l2": "0.5", "events": "20"}


def on_board(value: float) -> float:
    """``value`` as a board stores it (:data:`BOARD_DECIMALS` decimals; -0.0 is 0.0, so one
    budget is one key)."""
    return round(float(value), BOARD_DECIMALS) + 0.0


def eps_label(eps: float) -> str:
    """``8/255`` for a multiple of 1/255 below 1, else the number (an L2 radius, K events)."""
    k = eps * 255
    return f"{round(k):d}/255" if eps < 1 and abs(k - round(k)) < 1e-3 and k >= 1 else f"{eps:g}"


def file_label(eps: float) -> str:
    """:func:`eps_label` safe in a file name (``8-255``)."""
    return eps_label(eps).replace("/", "-")


def radius_label(norm: str, r: float) -> str:
    """A certified column's radius: ``0.5`` in L2, ``0.25/255`` in Linf (units of 1/255)."""
    return f"{r:g}" if norm == "l2" else f"{r * 255:g}/255"


def radius_of_label(text: str) -> float:
    """The inverse of :func:`radius_label`: ``0.25/255`` -> 0.00098..."""
    num, _, den = text.partition("/")
    return float(num) / (float(den) if den else 1.0)


@dataclass(frozen=True)
class Eps:
    """A checked budget: its value, the threat model it is a budget in, and its label.

    ``Eps.parse`` accepts ``8/255``, ``'8/255'``, ``0.03`` or ``None`` (the threat model's
    default) and refuses, in one line naming the value and the valid range, a budget that is
    not a finite number >= 0, a Linf budget above 1 (inputs are in [0, 1]), a fractional
    number of events, or a budget above 0 that a board would round to 0."""

    value: float
    threat_model: str

    def __float__(self) -> float:
        return self.value

    @property
    def label(self) -> str:
        return eps_label(self.value)

    @property
    def on_board(self) -> float:
        return on_board(self.value)

    @classmethod
    def parse(cls, value: Eps | float | str | None, threat_model: str, name: str = "eps") -> Eps:
        """``name`` is how the value is called in the error message (``--alpha`` on the command line)."""
        if isinstance(value, Eps):
            value = value.value
        if value is None:
            value = DEFAULT_EPS_TEXT[threat_model]
        try:
            if isinstance(value, bool):  # a number to Python, a typo in a budget
                raise TypeError
            eps = float(Fraction(value)) if isinstance(value, str) else float(value)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            raise UserInputError(f"bad {name} {value!r}; give a number or a fraction such as 8/255") from None
        if not (eps >= 0 and eps < float("inf")):
            raise UserInputError(f"bad {name} {value!r}; it must be a finite number >= 0")
        if eps > 0 and on_board(eps) == 0:
            raise UserInputError(f"bad {name} {value!r}; a budget above 0 must be at least {10.0 ** -BOARD_DECIMALS:g} "
                                 f"(boards keep {BOARD_DECIMALS} decimals, so it would read as 0)")
        if threat_model == "linf" and eps > 1:
            raise UserInputError(f"bad {name} {value!r}; inputs are in [0, 1], so a Linf budget must be in [0, 1]")
        if threat_model == "events" and eps != int(eps):
            raise UserInputError(f"bad {name} {value!r}; under --norm events the budget is a whole number of events (e.g. 20)")
        return cls(eps + 0.0, threat_model)  # -0 is 0: one budget, one label, one board key

