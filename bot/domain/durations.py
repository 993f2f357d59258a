"""Human wording for spans of time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

_UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))

# How one amount of one unit reads: ("day", 3) → "3 days". The default is English; what a
# member reads passes its translated wording (`bot.ui` has it: the domain knows no language).
Wording = Callable[[str, int], str]


def english(unit: str, amount: int) -> str:
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


def largest_units(span: timedelta, parts: int = 2) -> list[tuple[str, int]]:
    """The `parts` largest non-zero (unit, amount) of `span`: [("day", 3), ("hour", 4)];
    empty for nothing."""
    remaining = max(0, int(span.total_seconds()))
    found: list[tuple[str, int]] = []
    for name, seconds in _UNITS:
        amount, remaining = divmod(remaining, seconds)
        if amount:
            found.append((name, amount))
        if len(found) == parts:
            break
    return found


def humanize(span: timedelta, parts: int = 2, wording: Wording = english) -> str:
    """'3 days, 4 hours' — the `parts` largest non-zero units; '0 seconds' for nothing."""
    units = largest_units(span, parts)
    return ", ".join(wording(name, amount) for name, amount in units) or wording("second", 0)
