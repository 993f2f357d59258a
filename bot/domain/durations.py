"""Human wording for spans of time."""

from __future__ import annotations

from datetime import timedelta

_UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


def humanize(span: timedelta, parts: int = 2) -> str:
    """'3 days, 4 hours' — the `parts` largest non-zero units; '0 seconds' for nothing."""
    remaining = max(0, int(span.total_seconds()))
    words: list[str] = []
    for name, seconds in _UNITS:
        amount, remaining = divmod(remaining, seconds)
        if amount:
            words.append(f"{amount} {name}{'' if amount == 1 else 's'}")
        if len(words) == parts:
            break
    return ", ".join(words) or "0 seconds"
