"""Number formats of the board pack, one per unit (issue 12: percentages to one decimal, counts
with thousands separators, seconds to one decimal). Every figure in a sentence or a table is
written by `figure`, so the text a reader sees and the value a test re-derives agree."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

MINUS = "\u2212"


def _one_decimal(value: float | Decimal) -> str:
    return f"{Decimal(str(value)).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):,}"


# One decimal and a unit after the figure.
_SUFFIXES = {"pct": " %", "seconds": " s", "per_1000": " per 1,000", "pts": " pts",
             "hours": " h", "minutes": " min"}


def figure(value: float | Decimal | int | None, unit: str) -> str:
    """`value` in `unit` (kpi_definitions: pct, seconds, hours, minutes, count, gbp, per_1000,
    pts)."""
    if value is None:
        return "not measured"
    if unit in _SUFFIXES:
        return f"{_one_decimal(value)}{_SUFFIXES[unit]}"
    if unit == "count":
        return f"{int(value):,}"
    if unit == "gbp":
        return f"£{Decimal(str(value)).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"
    raise ValueError(f"unknown unit {unit!r}")


def signed_pct(value: float | Decimal) -> str:
    """A change in per cent with its sign: +14.4 %, -3.0 % (a true minus sign)."""
    return f"{'+' if value >= 0 else MINUS}{_one_decimal(abs(value))} %"


def month_name(month: dt.date) -> str:
    return f"{month:%B %Y}"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def names(items: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
