"""Shared test helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FrozenClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def advance_to(self, at: datetime) -> datetime:
        """Move forward to `at` (never back: time only moves on)."""
        assert at >= self._now, f"{at} is before {self._now}"
        self._now = at
        return self._now
