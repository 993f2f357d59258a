"""Retention end to end, with an injected clock: the daily job (03:30 UTC, through the
outbox) clears check-in notes, thinking-of-you notes and what a member wrote when asking to
talk once they are older than the server's retention period (90 days, or what
/setup privacy retention_days: says), keeps newer ones, and keeps the words of a request
still open — on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import SupportRequest, ThinkingNote
from tests.e2e.privacy.world import (
    Refuge,
    checkin_with_note,
    checkins_of,
    claim,
    latest_request,
    move_to,
    reply,
    resolve,
    set_up_escalation,
    set_up_privacy,
    talk_with_context,
)
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # the FrozenClock's start


def at(day_offset: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A time `day_offset` calendar days after the start, at hh:mm:ss UTC."""
    day = START.date() + timedelta(days=day_offset)
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


async def notes_of(db: Database, member: int) -> list[str | None]:
    return [c.note for c in await checkins_of(db, member)]


async def note_texts(db: Database) -> list[str | None]:
    async with db.session() as session:
        return list((await session.scalars(select(ThinkingNote.note))).all())


async def context_of(db: Database, request_id: int) -> str | None:
    async with db.session() as session:
        row = await session.get(SupportRequest, request_id)
    assert row is not None
    return row.context


async def test_notes_older_than_90_days_are_cleared_when_the_daily_job_runs(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    assert clock.now() == START
    await set_up_escalation(fake, refuge)
    alice, bob = refuge.alice, refuge.bob
    await checkin_with_note(fake, refuge, database, alice, 2, "the old note")
    closed = await talk_with_context(fake, refuge, database, alice, "struggling", "old words")
    await claim(fake, refuge, closed, refuge.mod)
    await resolve(fake, refuge, closed, refuge.mod)
    still_open = await talk_with_context(fake, refuge, database, bob, "chat", "still waiting")
    await reply(fake, refuge, refuge.cai, "thinking-of-you", member=bob, note="an old kind word")

    async def resolved() -> bool:
        return (await latest_request(database, alice)).status == "resolved"

    await fake.wait_for(resolved, what="the request resolved")
    await move_to(fake, database, clock, START + timedelta(days=30))
    await checkin_with_note(fake, refuge, database, alice, 4, "the newer note")

    # The day before it turns 90 days old, the daily job has run and cleared nothing.
    await move_to(fake, database, clock, at(90, 3, 30) - timedelta(seconds=1))
    assert await notes_of(database, alice) == ["the old note", "the newer note"]
    # It is now over 90 days old, but the next run is at 03:30: still there until then.
    await move_to(fake, database, clock, at(91, 3, 30) - timedelta(seconds=1))
    assert await notes_of(database, alice) == ["the old note", "the newer note"]
    assert await context_of(database, closed) == "old words"

    await move_to(fake, database, clock, at(91, 3, 30))
    assert await notes_of(database, alice) == [None, "the newer note"]
    assert [c.mood for c in await checkins_of(database, alice)] == [2, 4]  # only the note goes
    assert await context_of(database, closed) is None
    assert await note_texts(database) == [None]
    # A request nobody has closed keeps the member's words in front of the moderators.
    assert (await latest_request(database, bob)).status == "open"
    assert await context_of(database, still_open) == "still waiting"


async def test_setup_privacy_retention_days_shortens_how_long_notes_are_kept(
    fake: FakeDiscord, refuge: Refuge, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    alice = refuge.alice
    await checkin_with_note(fake, refuge, database, alice, 3, "forty days old")
    await move_to(fake, database, clock, START + timedelta(days=25))
    await checkin_with_note(fake, refuge, database, alice, 3, "fifteen days old")
    await move_to(fake, database, clock, START + timedelta(days=40))
    # Under the default 90 days, both are kept.
    assert await notes_of(database, alice) == ["forty days old", "fifteen days old"]

    answer = await set_up_privacy(fake, refuge, retention_days=30)
    assert answer.startswith(
        "Notes and what members wrote when asking to talk are kept **30 days**"
    )
    assert "cleared after 30 days" in await reply(fake, refuge, alice, "privacy show")
    audit = await reply(fake, refuge, refuge.mod, "audit recent")
    assert f"<@{refuge.owner_id}> · `settings.privacy`" in audit

    await move_to(fake, database, clock, at(41, 3, 30) - timedelta(seconds=1))
    assert await notes_of(database, alice) == ["forty days old", "fifteen days old"]
    await move_to(fake, database, clock, at(41, 3, 30))
    assert await notes_of(database, alice) == [None, "fifteen days old"]
