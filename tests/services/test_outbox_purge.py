"""The outbox forgets: finished rows (sent, given up, cancelled) go a week after they were
due and sent, in chunks (each its own short unit of work), in the daily retention job; what
is still to be sent is never touched. Both backends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import OutboxMessage
from bot.db.repositories import outbox
from bot.jobs.delivery import Done, QueuedMessage
from bot.services.privacy import retention
from tests.helpers import FrozenClock, count_units

GUILD = 811_000_000_000_000_101
MEMBER = 700_000_000_000_000_001


async def _row(
    db: Database,
    clock: FrozenClock,
    key: str,
    status: str,
    *,
    due_days_ago: float,
    sent_days_ago: float | None = None,
) -> None:
    now = clock.now()
    async with db.session() as session:
        row_id = await outbox.enqueue(
            session,
            key=key,
            kind="reachout_dm",
            target_type="user",
            target_id=MEMBER,
            payload={"x": 1},
            due_at=now - timedelta(days=due_days_ago),
            now=now,
            guild_id=GUILD,
        )
        row = await session.get(OutboxMessage, row_id)
        assert row is not None
        row.status = status
        if sent_days_ago is not None:
            row.sent_at = now - timedelta(days=sent_days_ago)
        if status == outbox.FAILED:
            row.last_error = "403 Cannot send messages to this user"


async def _keys(db: Database) -> set[str]:
    async with db.session() as session:
        return set((await session.scalars(select(OutboxMessage.idempotency_key))).all())


async def test_finished_rows_older_than_a_week_go_in_chunks_and_nothing_else(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        await _row(db, clock, f"old-sent-{i}", outbox.SENT, due_days_ago=9, sent_days_ago=9)
    await _row(db, clock, "old-failed", outbox.FAILED, due_days_ago=8)
    await _row(db, clock, "old-cancelled", outbox.CANCELLED, due_days_ago=30)
    # Kept: still to send (however old), in flight, recent, or sent late after an outage.
    await _row(db, clock, "old-pending", outbox.PENDING, due_days_ago=30)
    await _row(db, clock, "old-sending", outbox.SENDING, due_days_ago=30)
    await _row(db, clock, "recent-sent", outbox.SENT, due_days_ago=6, sent_days_ago=6)
    await _row(db, clock, "sent-late", outbox.SENT, due_days_ago=10, sent_days_ago=1)
    kept = {"old-pending", "old-sending", "recent-sent", "sent-late"}

    units = count_units(db, monkeypatch)
    assert await retention.purge_outbox(db, clock, chunk=3) == 7
    # 7 rows in chunks of 3: three units that delete (3, 3, 1), none holding the writer long.
    assert len(units) == 3
    assert await _keys(db) == kept
    # Nothing left to purge: one unit that finds nothing.
    assert await retention.purge_outbox(db, clock, chunk=3) == 0


async def test_the_purge_rests_between_chunks_so_members_writes_go_in_between(
    db: Database, clock: FrozenClock
) -> None:
    for i in range(6):
        await _row(db, clock, f"old-{i}", outbox.SENT, due_days_ago=9, sent_days_ago=9)
    order: list[str] = []
    first_done = asyncio.Event()
    real = db.session

    @contextlib.asynccontextmanager
    async def noted() -> AsyncIterator[AsyncSession]:
        async with real() as session:
            yield session
        order.append("unit")
        first_done.set()

    async def member_writes() -> None:
        # Queued once the purge's first chunk is done, as a member's tap would be.
        await first_done.wait()
        await _row(db, clock, "a-member", outbox.PENDING, due_days_ago=0)
        order.append("member")

    db.session = noted  # type: ignore[method-assign]
    purged, _ = await asyncio.gather(retention.purge_outbox(db, clock, chunk=2), member_writes())
    assert purged == 6
    # The purge's second chunk waited for the member: it rested after its first.
    assert order.index("member") < 3, order
    assert await _keys(db) == {"a-member"}


async def test_the_daily_retention_job_purges_the_outbox(db: Database, clock: FrozenClock) -> None:
    await _row(db, clock, "old-sent", outbox.SENT, due_days_ago=20, sent_days_ago=20)
    await _row(db, clock, "old-failed", outbox.FAILED, due_days_ago=20)
    await retention.start(db, clock)
    async with db.session() as session:
        [job] = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == retention.KIND_RETENTION)
            )
        ).all()
    clock.advance(days=1)
    handler = retention.handlers(db, clock)[retention.KIND_RETENTION]
    result = await handler.prepare(QueuedMessage.from_row(job))
    assert isinstance(result, Done)
    assert "'outbox_messages': 2" in result.reason
    keys = await _keys(db)
    assert not {"old-sent", "old-failed"} & keys
    # The job queued tomorrow's run before purging.
    assert any(key.startswith("privacy:retention:") for key in keys)
