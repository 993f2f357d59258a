"""Shared test helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from bot.db.models import OutboxMessage
from bot.db.repositories.outbox import PENDING

if TYPE_CHECKING:
    import pytest
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.db.engine import Database


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


def count_units(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the units of work `db` opens from now on (`db.session()`; reads are not
    units), until `monkeypatch.undo()`."""
    opened: list[int] = []
    real = db.session

    def counted() -> Any:
        opened.append(1)
        return real()

    monkeypatch.setattr(db, "session", counted)
    return opened


async def outbox_counts(session: AsyncSession) -> dict[str, int]:
    """How many outbox messages are in each status."""
    rows = await session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    return {status: count for status, count in rows.all()}


async def next_pending_due(session: AsyncSession) -> datetime | None:
    """When the earliest pending outbox message falls due (None: nothing pending)."""
    return await session.scalar(
        select(func.min(OutboxMessage.due_at)).where(OutboxMessage.status == PENDING)
    )
