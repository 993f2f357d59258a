"""The limits on thinking-of-you notes hold when notes are asked for at once (two processes,
or two taps), and across the sender's erasure. Both backends."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import OutboxMessage, ThinkingNote
from bot.domain.checkins import InvalidInput
from bot.domain.circles import NOTES_PER_DAY
from bot.jobs.delivery import QueuedMessage, Skip
from bot.services.buddies import membership
from bot.services.circles import notes
from bot.services.circles.handlers import handlers
from bot.services.privacy import member_data
from tests.helpers import FrozenClock

GUILD = 811_000_000_000_000_101
A, B = 700_000_000_000_000_001, 700_000_000_000_000_002
OTHERS = [700_000_000_000_000_010 + i for i in range(6)]


async def _attempt(db: Database, clock: FrozenClock, sender: int, recipient: int) -> bool:
    try:
        await notes.send(db, clock, GUILD, sender, recipient, text="thinking of you")
    except InvalidInput:
        return False
    return True


async def test_two_notes_to_one_member_at_once_send_one(db: Database, clock: FrozenClock) -> None:
    results = await asyncio.gather(*(_attempt(db, clock, A, B) for _ in range(4)))
    assert sorted(results) == [False, False, False, True]


async def test_many_notes_at_once_stay_within_the_daily_limit(
    db: Database, clock: FrozenClock
) -> None:
    results = await asyncio.gather(*(_attempt(db, clock, A, other) for other in OTHERS))
    assert sum(results) == NOTES_PER_DAY


async def test_the_limits_hold_across_the_senders_erasure(db: Database, clock: FrozenClock) -> None:
    assert await _attempt(db, clock, A, B)
    await member_data.delete_member(db, clock, GUILD, A)
    clock.advance(hours=1)
    with pytest.raises(InvalidInput, match="in the last week"):
        await notes.send(db, clock, GUILD, A, B, text="again")
    for other in OTHERS[:2]:
        assert await _attempt(db, clock, A, other)
    with pytest.raises(InvalidInput, match="notes today"):
        await notes.send(db, clock, GUILD, A, OTHERS[2])
    clock.advance(days=7)
    assert await _attempt(db, clock, A, B)


async def test_a_note_still_queued_when_a_block_is_made_is_withdrawn(
    db: Database, clock: FrozenClock
) -> None:
    """A asked for a note to B; before it went out, B blocked A. It is never delivered."""
    queued = await notes.send(db, clock, GUILD, A, B, text="thinking of you")
    await membership.block(db, clock, GUILD, B, A)
    [row] = await outbox_rows(db, notes.KIND_NOTE)
    prepared = await handlers(db, clock)[notes.KIND_NOTE].prepare(QueuedMessage.from_row(row))
    assert isinstance(prepared, Skip)
    async with db.read() as session:
        note = await session.get(ThinkingNote, queued.note_id)
    assert note is not None
    assert note.status == "withdrawn"


async def outbox_rows(db: Database, kind: str) -> list[OutboxMessage]:
    async with db.read() as session:
        query = select(OutboxMessage).where(OutboxMessage.kind == kind)
        return list((await session.scalars(query)).all())
