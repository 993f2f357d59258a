"""One mood message records one check-in, however many taps reach it and however close
together: two taps in one process, two processes at once, and a member who changes their
mind on the same message. Both backends."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import Checkin
from bot.domain.checkins import InvalidInput, Mood
from bot.services.checkins import records
from tests.helpers import FrozenClock

GUILD, MEMBER, OTHER = 100, 200, 201
MESSAGE, OTHER_MESSAGE = 9_001, 9_002


async def checkins(db: Database) -> list[tuple[int, int, int | None]]:
    async with db.read() as session:
        rows = await session.scalars(select(Checkin).order_by(Checkin.id))
        return [(row.user_id, row.mood, row.message_id) for row in rows]


async def test_taps_at_once_on_one_message_save_one_checkin(
    db: Database, clock: FrozenClock
) -> None:
    await records.give_consent(db, clock, GUILD, MEMBER)
    taps = await asyncio.gather(
        *(records.record(db, clock, GUILD, MEMBER, Mood.LOW, message_id=MESSAGE) for _ in range(5))
    )
    assert await checkins(db) == [(MEMBER, int(Mood.LOW), MESSAGE)]
    assert len({tap.checkin_id for tap in taps}) == 1
    assert sorted(str(tap.again) for tap in taps) == ["None"] + ["same"] * 4
    # Every answer tells the same story about the streak: one check-in today.
    assert {tap.news for tap in taps} == {taps[0].news}
    assert not taps[0].news.again_today


async def test_two_processes_tapping_one_message_save_one_checkin(
    db: Database, clock: FrozenClock
) -> None:
    """Two bot processes (two Databases on one database), e.g. a retried interaction."""
    await records.give_consent(db, clock, GUILD, MEMBER)
    other = Database(db.url, connect_args=db.connect_args)
    try:
        taps = await asyncio.gather(
            *(
                records.record(process, clock, GUILD, MEMBER, Mood.OKAY, message_id=MESSAGE)
                for process in (db, other, db, other)
            )
        )
    finally:
        await other.close()
    assert await checkins(db) == [(MEMBER, int(Mood.OKAY), MESSAGE)]
    assert [tap.again for tap in taps].count(None) == 1


async def test_a_second_tap_with_another_mood_changes_the_one_checkin(
    db: Database, clock: FrozenClock
) -> None:
    await records.give_consent(db, clock, GUILD, MEMBER)
    first = await records.record(db, clock, GUILD, MEMBER, Mood.STRUGGLING, message_id=MESSAGE)
    assert first.care
    changed = await records.record(db, clock, GUILD, MEMBER, Mood.GOOD, message_id=MESSAGE)
    assert changed.again == "changed"
    assert changed.checkin_id == first.checkin_id
    assert not changed.care
    assert await checkins(db) == [(MEMBER, int(Mood.GOOD), MESSAGE)]
    # A new mood message is a new check-in (a second one today is kept, as before).
    later = await records.record(db, clock, GUILD, MEMBER, Mood.OKAY, message_id=OTHER_MESSAGE)
    assert later.again is None
    assert later.news.again_today
    assert len(await checkins(db)) == 2


async def test_a_message_of_another_member_changes_nothing(
    db: Database, clock: FrozenClock
) -> None:
    await records.give_consent(db, clock, GUILD, MEMBER)
    await records.give_consent(db, clock, GUILD, OTHER)
    await records.record(db, clock, GUILD, MEMBER, Mood.LOW, message_id=MESSAGE)
    try:
        await records.record(db, clock, GUILD, OTHER, Mood.GREAT, message_id=MESSAGE)
    except InvalidInput as refused:
        reason = str(refused)
    else:
        reason = ""
    assert reason == "That check-in isn't yours, so nothing was changed."
    assert await checkins(db) == [(MEMBER, int(Mood.LOW), MESSAGE)]
