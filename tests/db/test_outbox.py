"""Outbox claim/mark functions on both backends: idempotent enqueue, leases, recovery."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from bot.db.engine import Database
from bot.db.models import OutboxMessage
from bot.db.repositories import outbox
from tests.helpers import FrozenClock, next_pending_due, outbox_counts

LEASE = timedelta(seconds=30)


async def _enqueue(db: Database, clock: FrozenClock, key: str, due_in: float = 0) -> int | None:
    async with db.session() as session:
        return await outbox.enqueue(
            session,
            key=key,
            kind="test",
            target_type="channel",
            target_id=42,
            payload={"content": key},
            due_at=clock.now() + timedelta(seconds=due_in),
            now=clock.now(),
            guild_id=1,
        )


async def _claim(db: Database, clock: FrozenClock, owner: str, limit: int = 10) -> list:
    async with db.session() as session:
        return await outbox.claim_due(
            session, now=clock.now(), owner=owner, lease=LEASE, limit=limit
        )


async def test_same_key_is_queued_once(db: Database, clock: FrozenClock) -> None:
    first = await _enqueue(db, clock, "reachout:1:2:w1")
    second = await _enqueue(db, clock, "reachout:1:2:w1")
    assert first is not None
    assert second is None
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


async def test_claim_takes_only_due_messages_oldest_first(db: Database, clock: FrozenClock) -> None:
    await _enqueue(db, clock, "later", due_in=60)
    await _enqueue(db, clock, "second", due_in=-5)
    await _enqueue(db, clock, "first", due_in=-10)
    claimed = await _claim(db, clock, "worker-a")
    assert [m.idempotency_key for m in claimed] == ["first", "second"]
    assert all(m.status == outbox.SENDING and m.attempts == 1 for m in claimed)
    assert all(m.lease_owner == "worker-a" for m in claimed)
    assert await _claim(db, clock, "worker-b") == []  # leased, and "later" is not due


async def test_an_expired_lease_is_claimed_again(db: Database, clock: FrozenClock) -> None:
    await _enqueue(db, clock, "crashy")
    [message] = await _claim(db, clock, "dead-worker")
    clock.advance(seconds=29)
    assert await _claim(db, clock, "worker-b") == []
    clock.advance(seconds=2)
    [again] = await _claim(db, clock, "worker-b")
    assert again.id == message.id
    assert again.attempts == 2
    async with db.session() as session:
        # The dead worker lost its lease: it can no longer mark the message.
        assert not await outbox.mark_sent(session, message.id, owner="dead-worker", now=clock.now())
        assert await outbox.mark_sent(session, message.id, owner="worker-b", now=clock.now())
        row = await outbox.get_by_key(session, "crashy")
    assert row is not None
    assert row.status == outbox.SENT
    assert row.sent_at == clock.now()
    assert row.lease_owner is None


async def test_failures_retry_or_give_up(db: Database, clock: FrozenClock) -> None:
    await _enqueue(db, clock, "flaky")
    await _enqueue(db, clock, "dms-closed")
    flaky, closed = await _claim(db, clock, "w")
    retry_at = clock.now() + timedelta(minutes=1)
    async with db.session() as session:
        assert await outbox.mark_failed(
            session, flaky.id, owner="w", reason="503", retry_at=retry_at
        )
        assert await outbox.mark_failed(session, closed.id, owner="w", reason="dms closed (50007)")
    assert await _claim(db, clock, "w") == []
    clock.advance(minutes=1)
    [retried] = await _claim(db, clock, "w")
    assert retried.idempotency_key == "flaky"
    assert retried.last_error == "503"
    async with db.session() as session:
        counts = await outbox_counts(session)
        gone = await outbox.get_by_key(session, "dms-closed")
    assert counts == {outbox.SENDING: 1, outbox.FAILED: 1}
    assert gone is not None
    assert gone.last_error == "dms closed (50007)"


async def test_cancel_only_touches_unclaimed_messages(db: Database, clock: FrozenClock) -> None:
    await _enqueue(db, clock, "reping", due_in=120)
    await _enqueue(db, clock, "now")
    [sending] = await _claim(db, clock, "w")
    async with db.session() as session:
        assert await outbox.cancel(session, "reping")
        assert not await outbox.cancel(session, "now")  # already being sent
        assert await next_pending_due(session) is None
        assert await outbox.mark_sent(session, sending.id, owner="w", now=clock.now())
    clock.advance(minutes=5)
    assert await _claim(db, clock, "w") == []


async def test_concurrent_claimers_never_share_a_message(db: Database, clock: FrozenClock) -> None:
    for number in range(60):
        await _enqueue(db, clock, f"m{number}")

    async def worker(name: str) -> list[int]:
        mine: list[int] = []
        while batch := await _claim(db, clock, name, limit=7):
            mine += [m.id for m in batch]
            await asyncio.sleep(0)
        return mine

    results = await asyncio.gather(*(worker(f"w{n}") for n in range(6)))
    claimed = [message_id for result in results for message_id in result]
    assert len(claimed) == 60
    assert len(set(claimed)) == 60


async def test_only_the_lease_holder_can_renew(db: Database, clock: FrozenClock) -> None:
    await _enqueue(db, clock, "slow")
    [message] = await _claim(db, clock, "a")
    async with db.session() as session:
        assert await outbox.renew_lease(
            session, message.id, owner="a", until=clock.now() + timedelta(minutes=2)
        )
    clock.advance(minutes=1, seconds=59)
    assert await _claim(db, clock, "b") == []  # the renewed lease still holds
    clock.advance(seconds=2)
    [taken] = await _claim(db, clock, "b")
    async with db.session() as session:
        # "a" was too slow: it can no longer renew, so it will not send a second copy.
        assert not await outbox.renew_lease(
            session, taken.id, owner="a", until=clock.now() + timedelta(minutes=2)
        )
