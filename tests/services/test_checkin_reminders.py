"""A member's daily check-in reminder on both backends: what setting it queues, what bad input
leaves alone, how its outbox handler decides, and the mood chart's PNG."""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import MemberProfile, OutboxMessage
from bot.domain.checkins import InvalidInput, Mood
from bot.jobs.delivery import PROBLEM_DMS_CLOSED, Delivery, QueuedMessage, Sent, Skip, Undeliverable
from bot.services import guild_config
from bot.services.checkins import chart, records, reminders
from bot.services.checkins.reminders import KIND_REMINDER, ReminderHandler
from tests.helpers import FrozenClock

GUILD, MEMBER, ADMIN = 100, 200, 300
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def _outbox(db: Database) -> list[OutboxMessage]:
    async with db.session() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def _profile(db: Database) -> MemberProfile | None:
    async with db.session() as session:
        return await session.get(MemberProfile, (GUILD, MEMBER))


# --- setting the reminder ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "timezone"),
    [("25:00", None), ("soon", "Europe/Berlin"), ("21:00", "Mars/Olympus"), ("9pm", "")],
)
async def test_bad_input_is_refused_and_changes_nothing(
    db: Database, clock: FrozenClock, at: str, timezone: str | None
) -> None:
    with pytest.raises(InvalidInput):
        await reminders.set_reminder(db, clock, GUILD, MEMBER, at, timezone)
    assert await _profile(db) is None
    assert await _outbox(db) == []

    await reminders.set_reminder(db, clock, GUILD, MEMBER, "08:00", "Asia/Kolkata")
    before, rows = await _profile(db), await _outbox(db)
    assert before is not None
    clock.advance(minutes=5)
    with pytest.raises(InvalidInput):
        await reminders.set_reminder(db, clock, GUILD, MEMBER, at, timezone)
    after = await _profile(db)
    assert after is not None
    assert (after.reminder_time, after.timezone, after.reminder_version, after.updated_at) == (
        "08:00",
        "Asia/Kolkata",
        before.reminder_version,
        before.updated_at,
    )
    assert [row.id for row in await _outbox(db)] == [row.id for row in rows]


async def test_bad_timezone_alone_is_refused(db: Database, clock: FrozenClock) -> None:
    with pytest.raises(InvalidInput, match="Europe/Berlin"):
        await reminders.set_timezone(db, clock, GUILD, MEMBER, "Berlin")
    assert await _profile(db) is None


async def test_setting_a_reminder_queues_one_row_at_the_right_instant(
    db: Database, clock: FrozenClock
) -> None:
    # 12:00 UTC on 5 January is 13:00 in Berlin: today's 21:00 there is 20:00 UTC.
    info = await reminders.set_reminder(db, clock, GUILD, MEMBER, "9pm", " Europe/Berlin ")
    assert (info.time, info.timezone, info.own_timezone, info.stopped) == (
        "21:00",
        "Europe/Berlin",
        True,
        None,
    )
    assert info.next_at == _utc(2026, 1, 5, 20, 0)

    [row] = await _outbox(db)
    assert (row.kind, row.target_type, row.target_id, row.guild_id) == (
        KIND_REMINDER,
        "user",
        MEMBER,
        GUILD,
    )
    assert row.due_at == _utc(2026, 1, 5, 20, 0)
    assert row.status == "pending"
    assert row.payload == {"version": 1, "day": "2026-01-05", "tz": "Europe/Berlin"}

    profile = await _profile(db)
    assert profile is not None
    assert (profile.reminder_time, profile.timezone, profile.reminder_version) == (
        "21:00",
        "Europe/Berlin",
        1,
    )
    shown = await reminders.show(db, clock, GUILD, MEMBER)
    assert (shown.time, shown.timezone, shown.next_at) == ("21:00", "Europe/Berlin", info.next_at)


async def test_reminder_follows_the_servers_timezone_or_utc(
    db: Database, clock: FrozenClock
) -> None:
    info = await reminders.set_reminder(db, clock, GUILD, MEMBER, "9:30")
    assert (info.timezone, info.own_timezone) == ("UTC", False)
    assert info.next_at == _utc(2026, 1, 6, 9, 30)  # today's 09:30 UTC has passed

    await guild_config.set_timezone(db, clock, GUILD, "America/New_York", actor_id=ADMIN)
    info = await reminders.set_reminder(db, clock, GUILD, MEMBER, "9:30")
    assert (info.timezone, info.own_timezone) == ("America/New_York", False)
    assert info.next_at == _utc(2026, 1, 5, 14, 30)  # 09:30 EST
    assert (await _outbox(db))[-1].payload["tz"] == "America/New_York"


async def test_setting_it_again_queues_a_newer_version(db: Database, clock: FrozenClock) -> None:
    await reminders.set_reminder(db, clock, GUILD, MEMBER, "21:00", "Europe/Berlin")
    clock.advance(minutes=1)
    info = await reminders.set_reminder(db, clock, GUILD, MEMBER, "07:15")
    assert info.next_at == _utc(2026, 1, 6, 6, 15)  # the timezone given before is kept

    old, new = await _outbox(db)
    assert old.payload["version"] == 1
    assert old.due_at == _utc(2026, 1, 5, 20, 0)
    assert new.payload == {"version": 2, "day": "2026-01-06", "tz": "Europe/Berlin"}
    assert new.due_at == _utc(2026, 1, 6, 6, 15)
    assert old.idempotency_key != new.idempotency_key


async def test_reminder_across_the_spring_change(db: Database, clock: FrozenClock) -> None:
    clock.advance(days=82)  # 28 March 2026, 12:00 UTC; Berlin springs forward tomorrow
    assert clock.now() == _utc(2026, 3, 28, 12, 0)
    info = await reminders.set_reminder(db, clock, GUILD, MEMBER, "09:00", "Europe/Berlin")
    assert info.next_at == _utc(2026, 3, 29, 7, 0)


async def test_turn_off(db: Database, clock: FrozenClock) -> None:
    assert await reminders.turn_off(db, clock, GUILD, MEMBER) is False
    await reminders.set_reminder(db, clock, GUILD, MEMBER, "21:00")
    assert await reminders.turn_off(db, clock, GUILD, MEMBER) is True
    profile = await _profile(db)
    assert profile is not None
    assert (profile.reminder_time, profile.reminder_version) == (None, 2)
    assert len(await _outbox(db)) == 1  # nothing new queued
    assert await reminders.turn_off(db, clock, GUILD, MEMBER) is False
    shown = await reminders.show(db, clock, GUILD, MEMBER)
    assert (shown.time, shown.next_at) == (None, None)


# --- the outbox handler ------------------------------------------------------------------


async def test_handler_sends_on_the_day_and_queues_tomorrows(
    db: Database, clock: FrozenClock
) -> None:
    await reminders.set_reminder(db, clock, GUILD, MEMBER, "21:00", "Europe/Berlin")
    [row] = await _outbox(db)
    handler = ReminderHandler(db, clock)
    clock.advance(hours=8)  # due

    prepared = await handler.prepare(QueuedMessage.from_row(row))
    assert isinstance(prepared, Delivery)
    assert (prepared.target_type, prepared.target_id) == ("user", MEMBER)
    assert prepared.view_args == {"guild_id": GUILD}
    tomorrow = (await _outbox(db))[-1]
    assert tomorrow.payload == {"version": 1, "day": "2026-01-06", "tz": "Europe/Berlin"}
    assert tomorrow.due_at == _utc(2026, 1, 6, 20, 0)

    await handler.on_sent(QueuedMessage.from_row(row), Sent(channel_id=1, message_id=2))
    profile = await _profile(db)
    assert profile is not None
    assert profile.reminder_last_day == date(2026, 1, 5)
    again = await handler.prepare(QueuedMessage.from_row(row))
    assert isinstance(again, Skip)
    assert len(await _outbox(db)) == 2  # tomorrow's is queued once only


async def test_handler_skips_an_old_version_and_a_day_already_checked_in(
    db: Database, clock: FrozenClock
) -> None:
    await records.give_consent(db, clock, GUILD, MEMBER)
    await reminders.set_reminder(db, clock, GUILD, MEMBER, "21:00", "Europe/Berlin")
    await reminders.set_reminder(db, clock, GUILD, MEMBER, "22:00")
    old, new = await _outbox(db)
    handler = ReminderHandler(db, clock)
    clock.advance(hours=8)
    assert isinstance(await handler.prepare(QueuedMessage.from_row(old)), Skip)

    await records.record(db, clock, GUILD, MEMBER, Mood.GOOD)
    clock.advance(hours=1)
    skipped = await handler.prepare(QueuedMessage.from_row(new))
    assert isinstance(skipped, Skip)
    assert "already checked in" in skipped.reason


async def test_handler_stops_the_reminder_when_dms_are_closed(
    db: Database, clock: FrozenClock
) -> None:
    await reminders.set_reminder(db, clock, GUILD, MEMBER, "21:00")
    [row] = await _outbox(db)
    handler = ReminderHandler(db, clock)
    retry = await handler.on_undeliverable(
        QueuedMessage.from_row(row), Undeliverable(PROBLEM_DMS_CLOSED, "cannot DM")
    )
    assert retry is None
    profile = await _profile(db)
    assert profile is not None
    assert (profile.reminder_time, profile.reminder_stopped, profile.reminder_version) == (
        None,
        "dms_closed",
        2,
    )
    shown = await reminders.show(db, clock, GUILD, MEMBER)
    assert shown.stopped == "dms_closed"
    # Setting it again clears the reason.
    assert (await reminders.set_reminder(db, clock, GUILD, MEMBER, "21:00")).stopped is None


# --- the chart ---------------------------------------------------------------------------


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE
    length, chunk, width, height = struct.unpack(">I4sII", png[8:24])
    assert (length, chunk) == (13, b"IHDR")
    return width, height


def test_chart_is_an_800_by_360_png() -> None:
    end = date(2026, 1, 30)
    start = end - timedelta(days=29)
    points = [(start + timedelta(days=n), 1 + (n % 9) / 2) for n in range(0, 30, 2)]
    png = chart.render_png(points, start, end)
    assert isinstance(png, bytes)
    assert _png_size(png) == (800, 360)
    assert png.endswith(b"IEND\xaeB`\x82")


@pytest.mark.parametrize("count", [1, 0])
def test_chart_works_for_a_single_point_or_none(count: int) -> None:
    day = date(2026, 1, 5)
    png = chart.render_png([(day, 3.0)][:count], day - timedelta(days=29), day)
    assert _png_size(png) == (800, 360)
