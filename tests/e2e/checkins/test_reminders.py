"""Daily check-in reminders end to end: /reminder set/off/show, the DM with its mood buttons,
once per local day across restarts and daylight-saving changes, skipped after a check-in,
and stopped for good when the member's DMs are closed — on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import SupportRequest
from bot.services.checkins.reminders import KIND_REMINDER, STOPPED_DMS_CLOSED
from tests.e2e.checkins.world import (
    Grove,
    checkin,
    checkins_of,
    outbox_rows,
    profile_of,
    run,
)
from tests.e2e.conftest import StartBot
from tests.e2e.driver import settle
from tests.fakediscord import FakeDiscord, StoredMessage
from tests.helpers import FrozenClock

CONSENT_QUESTION = "Is it OK for Kinfolk to keep your check-ins?"


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


async def start_at(start_bot: StartBot, clock: FrozenClock, when: datetime) -> KinfolkBot:
    """Start the bot with the clock at `when` (set before anything is scheduled)."""
    clock._now = when
    return await start_bot()


async def move_to(fake: FakeDiscord, db: Database, clock: FrozenClock, when: datetime) -> None:
    """Move the clock forward to `when` and wait until everything due by then is handled."""
    assert when >= clock.now(), "the clock only moves forward"
    clock._now = when
    await settle(fake, db, clock)


async def set_reminder(
    fake: FakeDiscord, grove: Grove, at: str, timezone: str = "Europe/Berlin"
) -> StoredMessage:
    handle = await run(fake, grove, grove.alice, "reminder set", time=at, timezone=timezone)
    assert handle.is_ephemeral
    return await handle.original_message()


async def reply(fake: FakeDiscord, grove: Grove, command: str) -> str:
    handle = await run(fake, grove, grove.alice, command)
    assert handle.is_ephemeral
    return (await handle.original_message()).content


def dms(fake: FakeDiscord, grove: Grove) -> list[StoredMessage]:
    return fake.dm_messages(grove.alice)


async def test_a_time_that_does_not_exist_is_refused_and_nothing_is_stored(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    answer = await set_reminder(fake, grove, "25:00")
    assert "25:00" in answer.content
    assert "isn't a time of day" in answer.content
    assert "21:30" in answer.content  # an example of what works
    assert await profile_of(database, grove, grove.alice) is None
    assert await outbox_rows(database, KIND_REMINDER) == []


async def test_an_unknown_timezone_is_refused_and_nothing_is_stored(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    answer = await set_reminder(fake, grove, "21:00", timezone="Mars/Olympus")
    assert "Mars/Olympus" in answer.content
    assert "isn't a timezone I know" in answer.content
    assert "Europe/Berlin" in answer.content
    assert "Nothing was changed" in answer.content
    assert await profile_of(database, grove, grove.alice) is None
    assert await outbox_rows(database, KIND_REMINDER) == []


async def test_timezone_autocomplete_finds_berlin(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot
) -> None:
    choices = await fake.autocomplete(
        *grove.where(grove.alice),
        "reminder set",
        {"time": "21:00", "timezone": "berl"},
        "timezone",
    )
    assert {"name": "Europe/Berlin", "value": "Europe/Berlin"} in choices
    assert all("berl" in c["value"].lower() for c in choices)


async def test_the_reminder_dm_comes_at_the_local_time_and_its_buttons_check_in(
    fake: FakeDiscord, grove: Grove, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    await start_at(start_bot, clock, utc(1, 5, 12))  # 13:00 in Berlin (CET, UTC+1)
    answer = await set_reminder(fake, grove, "21:00")
    assert answer.content.startswith("Done.")
    assert "**21:00** Europe/Berlin" in answer.content
    assert f"<t:{int(utc(1, 5, 20).timestamp())}:R>" in answer.content
    profile = await profile_of(database, grove, grove.alice)
    assert profile is not None
    assert (profile.reminder_time, profile.timezone) == ("21:00", "Europe/Berlin")

    await move_to(fake, database, clock, utc(1, 5, 19, 59))
    assert dms(fake, grove) == []
    await move_to(fake, database, clock, utc(1, 5, 20))
    [dm] = dms(fake, grove)
    assert "check-in reminder" in dm.content
    assert "reminder for **Grove**." in dm.content  # it names the server it is for
    assert dm.custom_ids == [f"checkin:mood:{grove.guild_id}:{mood}" for mood in range(1, 6)]

    # alice never agreed to check-ins being kept: tapping a mood asks first, in the DM.
    tapped = await (
        await fake.click(dm, f"checkin:mood:{grove.guild_id}:4", grove.alice)
    ).response()
    assert tapped["type"] == 7  # the DM itself is updated
    assert CONSENT_QUESTION in dm.content
    assert await checkins_of(database, grove.alice) == []
    consent_id = f"checkin:consent:{grove.guild_id}:yes"
    await (await fake.click(dm, consent_id, grove.alice)).response()
    assert f"checkin:mood:{grove.guild_id}:4" in dm.custom_ids
    await (await fake.click(dm, f"checkin:mood:{grove.guild_id}:4", grove.alice)).response()
    assert "Saved" in dm.content
    assert "Good" in dm.content
    [saved] = await checkins_of(database, grove.alice)
    assert (saved.guild_id, saved.mood, saved.local_day) == (grove.guild_id, 4, date(2026, 1, 5))
    assert len(dms(fake, grove)) == 1


async def test_a_tap_in_the_dm_saves_at_once_after_consent(
    fake: FakeDiscord, grove: Grove, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    await start_at(start_bot, clock, utc(1, 5, 12))
    await checkin(fake, grove, grove.alice, 3)  # consents, and checks in on 5 January
    await set_reminder(fake, grove, "21:00")
    await move_to(fake, database, clock, utc(1, 5, 20))  # already checked in today: no DM
    assert dms(fake, grove) == []
    await move_to(fake, database, clock, utc(1, 6, 20))  # 21:00 in Berlin on 6 January
    [dm] = dms(fake, grove)
    await (await fake.click(dm, f"checkin:mood:{grove.guild_id}:5", grove.alice)).response()
    assert "Great" in dm.content
    assert CONSENT_QUESTION not in dm.content
    rows = await checkins_of(database, grove.alice)
    assert [(r.mood, r.local_day) for r in rows] == [(3, date(2026, 1, 5)), (5, date(2026, 1, 6))]


async def test_one_reminder_per_local_day_across_a_restart(
    fake: FakeDiscord, grove: Grove, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    await start_at(start_bot, clock, utc(1, 5, 12))
    await set_reminder(fake, grove, "21:00")
    await move_to(fake, database, clock, utc(1, 5, 20))
    assert len(dms(fake, grove)) == 1

    await start_bot()  # a restart after the day's reminder was sent
    await move_to(fake, database, clock, utc(1, 5, 22, 59))  # 23:59 in Berlin, same day
    assert len(dms(fake, grove)) == 1
    await move_to(fake, database, clock, utc(1, 6, 19, 59))
    assert len(dms(fake, grove)) == 1
    await move_to(fake, database, clock, utc(1, 6, 20))
    assert len(dms(fake, grove)) == 2
    await start_bot()
    await move_to(fake, database, clock, utc(1, 6, 22))
    assert len(dms(fake, grove)) == 2
    profile = await profile_of(database, grove, grove.alice)
    assert profile is not None
    assert profile.reminder_last_day == date(2026, 1, 6)


async def test_a_reminder_due_while_the_bot_was_down_is_sent_once_after_the_restart(
    fake: FakeDiscord,
    grove: Grove,
    start_bot: StartBot,
    clock: FrozenClock,
    database: Database,
) -> None:
    bot = await start_at(start_bot, clock, utc(1, 5, 12))
    await set_reminder(fake, grove, "21:00")
    await move_to(fake, database, clock, utc(1, 5, 19))
    assert dms(fake, grove) == []
    await bot.close()  # down across the reminder's time
    clock._now = utc(1, 5, 20, 30)
    assert dms(fake, grove) == []
    await start_bot()
    await settle(fake, database, clock)
    assert len(dms(fake, grove)) == 1
    await start_bot()  # and another restart the same evening changes nothing
    await move_to(fake, database, clock, utc(1, 5, 22))
    assert len(dms(fake, grove)) == 1


async def test_a_reminder_due_after_an_outage_of_more_than_a_day_is_still_sent_that_day(
    fake: FakeDiscord, grove: Grove, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    bot = await start_at(start_bot, clock, utc(1, 5, 12))
    await set_reminder(fake, grove, "21:00")
    await bot.close()  # down from 5 January 13:00 to 6 January 21:30, Berlin time
    clock._now = utc(1, 6, 20, 30)
    await start_bot()
    await settle(fake, database, clock)
    # 5 January is over and is rightly not sent late; 6 January's is due and still today.
    assert len(dms(fake, grove)) == 1
    await move_to(fake, database, clock, utc(1, 6, 22, 59))
    assert len(dms(fake, grove)) == 1
    await move_to(fake, database, clock, utc(1, 7, 20))
    assert len(dms(fake, grove)) == 2


async def test_no_reminder_on_a_day_already_checked_in(
    fake: FakeDiscord, grove: Grove, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    await start_at(start_bot, clock, utc(1, 5, 9))  # 10:00 in Berlin
    await set_reminder(fake, grove, "21:00")
    await checkin(fake, grove, grove.alice, 4)
    [morning] = await checkins_of(database, grove.alice)
    assert morning.local_day == date(2026, 1, 5)
    # /reminder show does not promise tonight's: it says it is skipped, and when the next is.
    shown = await reply(fake, grove, "reminder show")
    assert "You've already checked in today, so today's won't come" in shown
    assert f"the next is <t:{int(utc(1, 6, 20).timestamp())}:R>" in shown
    assert f"<t:{int(utc(1, 5, 20).timestamp())}:R>" not in shown
    await move_to(fake, database, clock, utc(1, 5, 20, 30))
    assert dms(fake, grove) == []
    await move_to(fake, database, clock, utc(1, 6, 19, 59))
    assert dms(fake, grove) == []
    await move_to(fake, database, clock, utc(1, 6, 20))
    assert len(dms(fake, grove)) == 1


async def test_the_reminder_keeps_its_local_time_across_daylight_saving(
    fake: FakeDiscord, grove: Grove, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    # Berlin moves from UTC+1 to UTC+2 at 01:00 UTC on 29 March 2026.
    await start_at(start_bot, clock, utc(3, 28, 6))
    answer = await set_reminder(fake, grove, "09:00")
    assert f"<t:{int(utc(3, 28, 8).timestamp())}:R>" in answer.content
    steps = [utc(3, 28, h) for h in range(7, 24)] + [utc(3, 29, h) for h in range(24)]
    steps += [utc(3, 30, h) for h in range(10)]
    steps += [utc(3, 28, 7, 59), utc(3, 29, 6, 59), utc(3, 30, 6, 59)]
    arrivals: list[datetime] = []
    for when in sorted(steps):
        before = len(dms(fake, grove))
        await move_to(fake, database, clock, when)
        arrivals += [when] * (len(dms(fake, grove)) - before)
    assert arrivals == [utc(3, 28, 8), utc(3, 29, 7), utc(3, 30, 7)]


async def test_closed_dms_stop_the_reminder_and_show_says_why(
    fake: FakeDiscord, grove: Grove, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    await start_at(start_bot, clock, utc(1, 5, 12))
    grove.world.set_dms_closed(grove.alice)
    await set_reminder(fake, grove, "21:00")
    await move_to(fake, database, clock, utc(1, 5, 20))
    assert dms(fake, grove) == []
    profile = await profile_of(database, grove, grove.alice)
    assert profile is not None
    assert (profile.reminder_time, profile.reminder_stopped) == (None, STOPPED_DMS_CLOSED)

    grove.world.set_dms_closed(grove.alice, False)  # even once they open, nothing more comes
    await move_to(fake, database, clock, utc(1, 6, 20))
    await move_to(fake, database, clock, utc(1, 7, 20))
    assert dms(fake, grove) == []
    rows = await outbox_rows(database, KIND_REMINDER)
    assert [r for r in rows if r.status == "pending"] == []
    assert [r.status for r in rows if r.status == "sent"] == []
    failed = [r for r in rows if r.status == "failed"]
    assert len(failed) == 1
    assert failed[0].last_error is not None
    assert failed[0].last_error.startswith("dms_closed")

    shown = await reply(fake, grove, "reminder show")
    assert "couldn't DM you" in shown
    assert "direct messages" in shown
    assert "/reminder set" in shown


async def test_reminder_off_stops_it_and_a_second_off_changes_nothing(
    fake: FakeDiscord, grove: Grove, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    await start_at(start_bot, clock, utc(1, 5, 12))
    await set_reminder(fake, grove, "21:00")
    await move_to(fake, database, clock, utc(1, 5, 20))
    assert len(dms(fake, grove)) == 1

    off = await reply(fake, grove, "reminder off")
    assert "Your reminder is off" in off
    profile = await profile_of(database, grove, grove.alice)
    assert profile is not None
    assert profile.reminder_time is None
    await move_to(fake, database, clock, utc(1, 6, 20))
    await move_to(fake, database, clock, utc(1, 7, 20))
    assert len(dms(fake, grove)) == 1
    assert [r for r in await outbox_rows(database, KIND_REMINDER) if r.status == "pending"] == []

    again = await reply(fake, grove, "reminder off")
    assert "nothing changed" in again
    shown = await reply(fake, grove, "reminder show")
    assert "You have no daily reminder" in shown
    assert "couldn't DM you" not in shown


async def test_the_dms_buttons_act_only_while_she_is_in_the_server(
    fake: FakeDiscord, grove: Grove, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    """A very low day, tapped in the reminder DM, offers a talk button; if she has left the
    server (or was banned) by the time she presses it, no request is opened there, and she
    is shown where help is all the same. Her mood taps there are not saved either."""
    await start_at(start_bot, clock, utc(1, 5, 12))
    await run(
        fake,
        grove,
        grove.owner_id,
        "setup escalation",
        alert_channel=grove.alerts_id,
        moderator_role=grove.moderators_role,
        support_channel=grove.support_id,
    )
    await checkin(fake, grove, grove.alice, 3)
    await set_reminder(fake, grove, "21:00")
    await move_to(fake, database, clock, utc(1, 6, 20))
    [dm] = dms(fake, grove)
    await (await fake.click(dm, f"checkin:mood:{grove.guild_id}:1", grove.alice)).response()
    care = f"checkin:talk:{grove.guild_id}"
    assert care in dm.custom_ids

    del grove.world.guilds[grove.guild_id].members[grove.alice]
    pressed = await fake.click(dm, care, grove.alice)
    answer = await pressed.original_message()
    assert pressed.is_ephemeral
    assert "not a member of that server any more" in answer.content
    assert answer.embeds[0]["title"] == "🆘 If you need help right now"
    async with database.read() as session:
        assert (await session.scalars(select(SupportRequest))).all() == []
    before = [(c.id, c.mood) for c in await checkins_of(database, grove.alice)]
    again = await fake.forge_click(dm, f"checkin:mood:{grove.guild_id}:2", grove.alice)
    assert "not a member" in (await again.original_message()).content
    assert [(c.id, c.mood) for c in await checkins_of(database, grove.alice)] == before
