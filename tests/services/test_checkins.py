"""Recording check-ins on both backends: consent, the member's timezone, private encrypted
notes, sharing, history, and a member's own copy or erasure of what was kept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from bot.db.engine import Database
from bot.db.models import Checkin, MemberProfile
from bot.domain.checkins import InvalidInput, Mood, StreakNews, Summary
from bot.services import guild_config
from bot.services.checkins import prompt, records, reminders
from bot.services.checkins.records import ConsentNeeded
from tests.helpers import FrozenClock

GUILD, OTHER_GUILD, MEMBER, OTHER, ADMIN = 100, 101, 200, 201, 300
CHANNEL = 40


async def _consented(db: Database, clock: FrozenClock, user: int = MEMBER) -> None:
    await records.give_consent(db, clock, GUILD, user)


async def _checkins(db: Database) -> list[Checkin]:
    async with db.session() as session:
        return list((await session.scalars(select(Checkin).order_by(Checkin.id))).all())


async def _profile(db: Database, user: int = MEMBER) -> MemberProfile | None:
    async with db.session() as session:
        return await session.get(MemberProfile, (GUILD, user))


async def _note(db: Database, checkin_id: int) -> str | None:
    async with db.session() as session:
        row = await session.get(Checkin, checkin_id)
    assert row is not None
    return row.note


# --- consent and recording ---------------------------------------------------------------


async def test_record_needs_consent_and_stores_nothing_before_it(
    db: Database, clock: FrozenClock
) -> None:
    assert await records.has_consented(db, GUILD, MEMBER) is False
    with pytest.raises(ConsentNeeded):
        await records.record(db, clock, GUILD, MEMBER, Mood.GOOD)
    assert await _checkins(db) == []
    assert await _profile(db) is None

    # A profile without consent (say, a timezone was set) is not consent either.
    await reminders.set_timezone(db, clock, GUILD, MEMBER, "Europe/Berlin")
    with pytest.raises(ConsentNeeded):
        await records.record(db, clock, GUILD, MEMBER, Mood.GOOD)
    assert await _checkins(db) == []


async def test_record_after_consent_stores_and_reports_the_streak(
    db: Database, clock: FrozenClock
) -> None:
    await _consented(db, clock)
    assert await records.has_consented(db, GUILD, MEMBER) is True

    first = await records.record(db, clock, GUILD, MEMBER, Mood.GOOD)
    assert first.mood is Mood.GOOD
    assert first.news == StreakNews(days=1, first_ever=True, again_today=False, came_back=False)
    assert first.care is False
    assert first.share_channel_id is None
    [row] = await _checkins(db)
    assert (row.id, row.guild_id, row.user_id, row.mood) == (first.checkin_id, GUILD, MEMBER, 4)
    assert (row.local_day, row.created_at, row.note, row.shared_at) == (
        date(2026, 1, 5),
        clock.now(),
        None,
        None,
    )

    again = await records.record(db, clock, GUILD, MEMBER, Mood.OKAY)
    assert again.news.again_today
    assert again.news.days == 1
    clock.advance(days=1)
    kept = await records.record(db, clock, GUILD, MEMBER, Mood.GOOD)
    assert kept.news == StreakNews(days=2, first_ever=False, again_today=False, came_back=False)
    clock.advance(days=3)
    back = await records.record(db, clock, GUILD, MEMBER, Mood.GOOD)
    assert back.news == StreakNews(days=1, first_ever=False, again_today=False, came_back=True)
    assert len({r.checkin_id for r in (first, again, kept, back)}) == 4


async def test_consent_is_per_member_and_per_server(db: Database, clock: FrozenClock) -> None:
    await _consented(db, clock)
    assert await records.has_consented(db, GUILD, OTHER) is False
    assert await records.has_consented(db, OTHER_GUILD, MEMBER) is False
    with pytest.raises(ConsentNeeded):
        await records.record(db, clock, OTHER_GUILD, MEMBER, Mood.GOOD)


async def test_giving_consent_twice_keeps_the_first_time(db: Database, clock: FrozenClock) -> None:
    first = clock.now()
    await _consented(db, clock)
    clock.advance(days=3)
    await _consented(db, clock)
    profile = await _profile(db)
    assert profile is not None
    assert profile.checkin_consent_at == first
    assert profile.updated_at == clock.now()


async def test_record_offers_care_for_struggling_and_for_a_drop(
    db: Database, clock: FrozenClock
) -> None:
    await _consented(db, clock)
    assert (await records.record(db, clock, GUILD, MEMBER, Mood.STRUGGLING)).care is True
    await _consented(db, clock, OTHER)
    for mood in (Mood.GREAT, Mood.GOOD):
        assert (await records.record(db, clock, GUILD, OTHER, mood)).care is False
        clock.advance(days=1)
    # Average 4.5, today "Low": 2.5 below.
    assert (await records.record(db, clock, GUILD, OTHER, Mood.LOW)).care is True
    # Only the other member's own moods count; theirs are now (5, 4, 2): average 3.67.
    assert (await records.record(db, clock, GUILD, OTHER, Mood.OKAY)).care is False


async def test_record_says_where_it_could_be_shared(db: Database, clock: FrozenClock) -> None:
    await prompt.configure(db, clock, GUILD, channel_id=CHANNEL, prompt_time=None, actor_id=ADMIN)
    await _consented(db, clock)
    recorded = await records.record(db, clock, GUILD, MEMBER, Mood.GOOD)
    assert recorded.share_channel_id == CHANNEL


# --- the member's timezone ---------------------------------------------------------------


async def test_profile_timezone_beats_the_servers_which_beats_utc(
    db: Database, clock: FrozenClock
) -> None:
    # At 10:30 UTC on 5 January it is 00:30 on the 6th in Kiritimati (UTC+14) and 23:30 on
    # the 4th in Pago Pago (UTC-11): three different local days.
    now = clock.advance(minutes=-90)
    assert now == datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    await _consented(db, clock)

    await records.record(db, clock, GUILD, MEMBER, Mood.OKAY)
    await guild_config.set_timezone(db, clock, GUILD, "Pacific/Kiritimati", actor_id=ADMIN)
    assert (await records.history(db, clock, GUILD, MEMBER, 30)).timezone == "Pacific/Kiritimati"
    await records.record(db, clock, GUILD, MEMBER, Mood.OKAY)
    await reminders.set_timezone(db, clock, GUILD, MEMBER, "Pacific/Pago_Pago")
    assert (await records.history(db, clock, GUILD, MEMBER, 30)).timezone == "Pacific/Pago_Pago"
    await records.record(db, clock, GUILD, MEMBER, Mood.OKAY)

    assert [row.local_day for row in await _checkins(db)] == [
        date(2026, 1, 5),
        date(2026, 1, 6),
        date(2026, 1, 4),
    ]
    # Another member of that server without a timezone of their own gets the server's.
    assert (await records.history(db, clock, GUILD, OTHER, 30)).timezone == "Pacific/Kiritimati"
    assert (await records.history(db, clock, OTHER_GUILD, MEMBER, 30)).timezone == "UTC"


# --- notes -------------------------------------------------------------------------------


async def test_note_is_encrypted_at_rest_and_readable_through_the_model(
    db: Database, clock: FrozenClock
) -> None:
    await _consented(db, clock)
    checkin_id = (await records.record(db, clock, GUILD, MEMBER, Mood.LOW)).checkin_id
    secret = "Slept badly; worried about the exam on Friday"
    await records.add_note(db, checkin_id, MEMBER, f"  {secret}\n")

    async with db.session() as session:
        raw = (await session.execute(text("select note from checkins"))).scalar_one()
    assert isinstance(raw, str)
    assert raw.startswith("gAAAAA")  # a Fernet token
    assert secret not in raw
    assert "exam" not in raw
    assert await _note(db, checkin_id) == secret  # stripped, decrypted

    await records.add_note(db, checkin_id, MEMBER, "A better evening.")
    assert await _note(db, checkin_id) == "A better evening."


@pytest.mark.parametrize("bad", ["", "   \n\t", "x" * 1001])
async def test_unusable_notes_are_refused_and_change_nothing(
    db: Database, clock: FrozenClock, bad: str
) -> None:
    await _consented(db, clock)
    checkin_id = (await records.record(db, clock, GUILD, MEMBER, Mood.LOW)).checkin_id
    await records.add_note(db, checkin_id, MEMBER, "keep me")
    with pytest.raises(InvalidInput):
        await records.add_note(db, checkin_id, MEMBER, bad)
    assert await _note(db, checkin_id) == "keep me"


async def test_a_note_of_the_maximum_length_is_kept(db: Database, clock: FrozenClock) -> None:
    await _consented(db, clock)
    checkin_id = (await records.record(db, clock, GUILD, MEMBER, Mood.LOW)).checkin_id
    await records.add_note(db, checkin_id, MEMBER, "é" * 1000)
    assert await _note(db, checkin_id) == "é" * 1000


async def test_nobody_else_can_note_a_check_in(db: Database, clock: FrozenClock) -> None:
    await _consented(db, clock)
    checkin_id = (await records.record(db, clock, GUILD, MEMBER, Mood.LOW)).checkin_id
    with pytest.raises(InvalidInput):
        await records.add_note(db, checkin_id, OTHER, "not yours")
    assert await _note(db, checkin_id) is None
    with pytest.raises(InvalidInput):
        await records.add_note(db, checkin_id + 999, MEMBER, "no such check-in")


# --- sharing -----------------------------------------------------------------------------


async def test_sharing_needs_a_channel_happens_once_and_can_be_undone(
    db: Database, clock: FrozenClock
) -> None:
    await _consented(db, clock)
    checkin_id = (await records.record(db, clock, GUILD, MEMBER, Mood.GOOD)).checkin_id
    with pytest.raises(InvalidInput, match="no check-in channel"):
        await records.start_share(db, clock, checkin_id, MEMBER)
    assert (await _checkins(db))[0].shared_at is None

    await prompt.configure(db, clock, GUILD, channel_id=CHANNEL, prompt_time=None, actor_id=ADMIN)
    with pytest.raises(InvalidInput):
        await records.start_share(db, clock, checkin_id, OTHER)
    share = await records.start_share(db, clock, checkin_id, MEMBER)
    assert (share.guild_id, share.channel_id, share.mood) == (GUILD, CHANNEL, Mood.GOOD)
    assert (await _checkins(db))[0].shared_at == clock.now()

    with pytest.raises(InvalidInput, match="already shared"):
        await records.start_share(db, clock, checkin_id, MEMBER)

    await records.undo_share(db, checkin_id)
    assert (await _checkins(db))[0].shared_at is None
    clock.advance(minutes=1)
    again = await records.start_share(db, clock, checkin_id, MEMBER)
    assert again == share
    assert (await _checkins(db))[0].shared_at == clock.now()


# --- history -----------------------------------------------------------------------------


async def test_history_gives_daily_means_within_the_span(db: Database, clock: FrozenClock) -> None:
    await _consented(db, clock)
    first_day = date(2026, 1, 5)
    await records.record(db, clock, GUILD, MEMBER, Mood.GREAT)  # outside a 30-day span later
    clock.advance(days=31)
    for mood in (Mood.LOW, Mood.OKAY):
        await records.record(db, clock, GUILD, MEMBER, mood)
    clock.advance(days=1)
    await records.record(db, clock, GUILD, MEMBER, Mood.GOOD)
    await records.give_consent(db, clock, OTHER_GUILD, MEMBER)
    await records.record(db, clock, OTHER_GUILD, MEMBER, Mood.STRUGGLING)  # another server
    clock.advance(days=1)  # nothing today yet: yesterday's streak is still alive

    today = first_day + timedelta(days=33)
    month = await records.history(db, clock, GUILD, MEMBER, 30)
    assert (month.timezone, month.today, month.start) == ("UTC", today, today - timedelta(29))
    assert month.points == [(today - timedelta(2), 2.5), (today - timedelta(1), 4.0)]
    assert month.summary == Summary(count=3, average=3.0, streak=2)

    quarter = await records.history(db, clock, GUILD, MEMBER, 90)
    assert quarter.start == today - timedelta(89)
    assert [day for day, _ in quarter.points] == [
        first_day,
        today - timedelta(2),
        today - timedelta(1),
    ]
    assert quarter.points[0] == (first_day, 5.0)
    assert quarter.summary == Summary(count=4, average=3.5, streak=2)

    clock.advance(days=1)  # a whole day missed: the streak is over, the history is not
    later = await records.history(db, clock, GUILD, MEMBER, 30)
    assert later.summary.streak == 0
    assert later.summary.count == 3


async def test_history_of_a_member_with_no_check_ins(db: Database, clock: FrozenClock) -> None:
    empty = await records.history(db, clock, GUILD, MEMBER, 30)
    assert empty.points == []
    assert empty.summary == Summary(count=0, average=None, streak=0)


# --- export and forget -------------------------------------------------------------------


async def test_export_holds_everything_with_notes_decrypted(
    db: Database, clock: FrozenClock
) -> None:
    assert await records.export(db, GUILD, MEMBER) == {"profile": None, "checkins": []}
    consent_at = clock.now()
    await _consented(db, clock)
    await reminders.set_reminder(db, clock, GUILD, MEMBER, "9pm", "Europe/Berlin")
    first = (await records.record(db, clock, GUILD, MEMBER, Mood.LOW)).checkin_id
    await records.add_note(db, first, MEMBER, "private words")
    clock.advance(days=1)
    await records.record(db, clock, GUILD, MEMBER, Mood.GREAT)
    await _consented(db, clock, OTHER)
    await records.record(db, clock, GUILD, OTHER, Mood.OKAY)

    exported = await records.export(db, GUILD, MEMBER)
    assert exported["profile"] == {
        "timezone": "Europe/Berlin",
        "checkin_consent_at": consent_at.isoformat(),
        "reminder_time": "21:00",
        "reminder_stopped": None,
    }
    assert exported["checkins"] == [
        {
            "at": consent_at.isoformat(),
            "local_day": "2026-01-05",
            "mood": 2,
            "mood_label": "Low",
            "note": "private words",
            "shared": False,
        },
        {
            "at": clock.now().isoformat(),
            "local_day": "2026-01-06",
            "mood": 5,
            "mood_label": "Great",
            "note": None,
            "shared": False,
        },
    ]


async def test_forget_erases_check_ins_withdraws_consent_and_stops_reminders(
    db: Database, clock: FrozenClock
) -> None:
    await _consented(db, clock)
    await reminders.set_reminder(db, clock, GUILD, MEMBER, "21:00")
    checkin_id = (await records.record(db, clock, GUILD, MEMBER, Mood.LOW)).checkin_id
    await records.add_note(db, checkin_id, MEMBER, "private words")
    await records.record(db, clock, GUILD, MEMBER, Mood.OKAY)
    await _consented(db, clock, OTHER)
    await records.record(db, clock, GUILD, OTHER, Mood.GOOD)
    before = await _profile(db)
    assert before is not None

    clock.advance(hours=1)
    assert await records.forget(db, clock, GUILD, MEMBER) == 2

    assert [row.user_id for row in await _checkins(db)] == [OTHER]  # others keep theirs
    async with db.session() as session:
        notes = await session.scalar(select(func.count()).where(Checkin.note.is_not(None)))
    assert notes == 0
    assert await records.has_consented(db, GUILD, MEMBER) is False
    after = await _profile(db)
    assert after is not None
    assert after.reminder_time is None
    assert after.reminder_version == before.reminder_version + 1
    assert after.updated_at == clock.now()
    assert await records.export(db, GUILD, MEMBER) == {
        "profile": {
            "timezone": None,
            "checkin_consent_at": None,
            "reminder_time": None,
            "reminder_stopped": None,
        },
        "checkins": [],
    }
    assert await reminders.turn_off(db, clock, GUILD, MEMBER) is False
    with pytest.raises(ConsentNeeded):
        await records.record(db, clock, GUILD, MEMBER, Mood.GOOD)
    # Forgetting someone who kept nothing is harmless.
    assert await records.forget(db, clock, OTHER_GUILD, MEMBER) == 0
