"""Check-ins end to end, over time: streaks across midnights, timezones and a DST change,
the /mood chart, and a member's own copy or erasure of their check-ins — on both backends."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import zlib
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from matplotlib.image import imread

from bot.client import KinfolkBot
from bot.db.engine import Database
from tests.e2e.checkins.world import Grove, checkin, checkins_of, profile_of, run
from tests.e2e.conftest import embed_fields
from tests.fakediscord import FakeDiscord, InteractionHandle, StoredMessage
from tests.helpers import FrozenClock

LOS_ANGELES = ZoneInfo("America/Los_Angeles")
BERLIN = ZoneInfo("Europe/Berlin")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def move_to(clock: FrozenClock, local: datetime) -> None:
    """Move the frozen clock forward to the instant of `local` (an aware datetime)."""
    delta = local.astimezone(UTC) - clock.now()
    assert delta.total_seconds() >= 0, "these tests only move time forward"
    clock.advance(seconds=delta.total_seconds())


async def use_timezone(fake: FakeDiscord, grove: Grove, member: int, name: str) -> None:
    done = await run(fake, grove, member, "reminder timezone", timezone=name)
    assert f"your days now follow **{name}**" in (await done.original_message()).content


async def mood(fake: FakeDiscord, grove: Grove, member: int, **options: int) -> StoredMessage:
    """/mood, waiting until the deferred ("thinking…") answer has been filled in."""
    handle = await run(fake, grove, member, "mood", **options)
    assert handle.is_ephemeral
    message = await handle.original_message()
    await fake.wait_for(
        lambda: bool(message.attachments or message.embeds or message.content),
        timeout=30,  # the first chart imports matplotlib
        what="/mood's answer",
    )
    assert message.ephemeral
    return message


async def clicked(
    fake: FakeDiscord, message: StoredMessage, cid: str, member: int
) -> StoredMessage:
    handle = await fake.click(message, cid, member)
    answer = await handle.original_message()
    assert handle.is_ephemeral
    return answer


def assert_valid_png(data: bytes) -> tuple[int, int]:
    """Signature, a well-formed IHDR chunk (with its CRC) and a decodable image."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    (crc,) = struct.unpack(">I", data[29:33])
    assert crc == zlib.crc32(data[12:29])
    assert width > 0
    assert height > 0
    assert depth == 8
    assert colour in (2, 6)
    assert interlace in (0, 1)
    assert data.endswith(b"IEND\xae\x42\x60\x82")
    pixels = imread(io.BytesIO(data))
    assert pixels.size > 0
    assert pixels.shape[:2] == (height, width)
    return width, height


# ----- streaks -----------------------------------------------------------------------------


async def test_a_late_night_checkin_counts_for_the_local_day(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await use_timezone(fake, grove, grove.alice, "America/Los_Angeles")
    move_to(clock, datetime(2026, 1, 5, 23, 30, tzinfo=LOS_ANGELES))  # 07:30 UTC on the 6th
    assert clock.now() == datetime(2026, 1, 6, 7, 30, tzinfo=UTC)
    first = await checkin(fake, grove, grove.alice, 3)
    assert "Your first check-in" in first.content
    move_to(clock, datetime(2026, 1, 6, 20, 0, tzinfo=LOS_ANGELES))
    second = await checkin(fake, grove, grove.alice, 4)
    assert "That's 2 days in a row" in second.content
    assert [r.local_day for r in await checkins_of(database, grove.alice)] == [
        date(2026, 1, 5),
        date(2026, 1, 6),
    ]

    move_to(clock, datetime(2026, 1, 8, 20, 0, tzinfo=LOS_ANGELES))  # the 7th was skipped
    back = await checkin(fake, grove, grove.alice, 4)
    assert "Welcome back" in back.content
    assert "in a row" not in back.content
    assert not any(word in back.content.lower() for word in ("missed", "broke", "lost"))


async def test_past_local_midnight_is_a_new_day_even_within_the_same_utc_day(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await use_timezone(fake, grove, grove.bob, "America/Los_Angeles")
    move_to(clock, datetime(2026, 1, 5, 23, 30, tzinfo=LOS_ANGELES))
    await checkin(fake, grove, grove.bob, 4)
    clock.advance(hours=1)  # 00:30 in Los Angeles; still the 6th in UTC
    after_midnight = await checkin(fake, grove, grove.bob, 4)
    assert "That's 2 days in a row" in after_midnight.content
    clock.advance(hours=1)
    same_day = await checkin(fake, grove, grove.bob, 5)
    assert "You'd already checked in today" in same_day.content
    assert "Streak: 2 days" in same_day.content
    days = [r.local_day for r in await checkins_of(database, grove.bob)]
    assert days == [date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 6)]


async def test_a_streak_runs_on_across_the_change_to_summer_time(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await use_timezone(fake, grove, grove.alice, "Europe/Berlin")
    answers = []
    instants = []
    for day in (28, 29, 30):  # clocks go forward in Berlin at 02:00 on 29 March 2026
        move_to(clock, datetime(2026, 3, day, 12, 0, tzinfo=BERLIN))
        instants.append(clock.now())
        answers.append((await checkin(fake, grove, grove.alice, 4)).content)
    assert [i.hour for i in instants] == [11, 10, 10]  # UTC: the offset really changed
    assert "Your first check-in" in answers[0]
    assert "That's 2 days in a row" in answers[1]
    assert "That's 3 days in a row" in answers[2]
    assert [r.local_day for r in await checkins_of(database, grove.alice)] == [
        date(2026, 3, 28),
        date(2026, 3, 29),
        date(2026, 3, 30),
    ]
    chart = await mood(fake, grove, grove.alice)
    assert embed_fields(chart.embeds)["Streak"] == "3 days"
    assert "Europe/Berlin" in chart.embeds[0]["footer"]["text"]


# ----- /mood -------------------------------------------------------------------------------


async def test_mood_without_checkins_is_friendly_and_draws_nothing(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot
) -> None:
    answer = await mood(fake, grove, grove.alice)
    assert "No check-ins in the last 30 days yet" in answer.content
    assert answer.attachments == []
    assert answer.embeds == []


async def test_mood_charts_the_last_days_privately(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, clock: FrozenClock
) -> None:
    for level in (5, 3, 4):
        await checkin(fake, grove, grove.alice, level)
        clock.advance(days=1)
    await checkin(fake, grove, grove.bob, 1)  # somebody else's day stays out of alice's chart
    chart = await mood(fake, grove, grove.alice)
    assert [a.filename for a in chart.attachments] == ["mood.png"]
    width, height = assert_valid_png(chart.file("mood.png"))
    assert (width, height) == (800, 360)
    (embed,) = chart.embeds
    assert embed["title"] == "Your last 30 days"
    assert embed["image"]["url"] == "attachment://mood.png"
    # Three days in a row ending yesterday: still alive today.
    assert embed_fields(chart.embeds) == {
        "Check-ins": "3",
        "Average": "4.0 (Good)",
        "Streak": "3 days",
    }
    assert {f"checkin:export:{grove.guild_id}", f"checkin:forget:{grove.guild_id}"} == set(
        chart.custom_ids
    )


async def test_mood_over_90_days_reaches_further_back(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, clock: FrozenClock
) -> None:
    await checkin(fake, grove, grove.alice, 2)
    clock.advance(days=60)
    await checkin(fake, grove, grove.alice, 4)
    recent = await mood(fake, grove, grove.alice)
    assert embed_fields(recent.embeds)["Check-ins"] == "1"
    longer = await mood(fake, grove, grove.alice, days=90)
    assert longer.embeds[0]["title"] == "Your last 90 days"
    assert embed_fields(longer.embeds)["Check-ins"] == "2"
    assert embed_fields(longer.embeds)["Average"] == "3.0 (Okay)"
    assert_valid_png(longer.file("mood.png"))


# ----- the member's own data ---------------------------------------------------------------


async def add_note(
    fake: FakeDiscord, saved: StoredMessage, checkin_id: int, member: int, note: str
) -> None:
    opened: InteractionHandle = await fake.click(saved, f"checkin:note:{checkin_id}", member)
    await opened.response()
    sent = await fake.submit_modal(opened, {"checkin-note": note})
    assert "note is saved" in (await sent.original_message()).content


async def test_download_gives_the_checkins_with_the_note_readable(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await checkin(fake, grove, grove.alice, 2)
    clock.advance(days=1)
    saved = await checkin(fake, grove, grove.alice, 4)
    latest = (await checkins_of(database, grove.alice))[-1]
    await add_note(fake, saved, latest.id, grove.alice, "Walked by the river 🌊")
    await checkin(fake, grove, grove.bob, 5)

    chart = await mood(fake, grove, grove.alice)
    download = await clicked(fake, chart, f"checkin:export:{grove.guild_id}", grove.alice)
    assert download.ephemeral
    assert [a.filename for a in download.attachments] == ["kinfolk-checkins.json"]
    data = json.loads(download.file("kinfolk-checkins.json"))
    moods = [(c["mood"], c["mood_label"], c["note"]) for c in data["checkins"]]
    assert moods == [(2, "Low", None), (4, "Good", "Walked by the river 🌊")]
    assert [c["local_day"] for c in data["checkins"]] == ["2026-01-05", "2026-01-06"]
    assert data["profile"]["checkin_consent_at"] is not None


async def test_delete_asks_first_then_erases_only_mine_and_withdraws_consent(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    for level in (3, 4):
        await checkin(fake, grove, grove.alice, level)
    await checkin(fake, grove, grove.bob, 5)
    chart = await mood(fake, grove, grove.alice)

    confirm = await clicked(fake, chart, f"checkin:forget:{grove.guild_id}", grove.alice)
    assert "Are you sure?" in confirm.content
    assert confirm.custom_ids == [f"checkin:forget:{grove.guild_id}:sure"]
    assert len(await checkins_of(database, grove.alice)) == 2  # nothing erased yet

    done = await fake.click(confirm, f"checkin:forget:{grove.guild_id}:sure", grove.alice)
    erased = await done.original_message()
    assert "I erased 2 check-ins" in erased.content
    assert erased.components == []
    assert await checkins_of(database, grove.alice) == []
    assert [r.mood for r in await checkins_of(database, grove.bob)] == [5]
    profile = await profile_of(database, grove, grove.alice)
    assert profile is not None
    assert profile.checkin_consent_at is None

    again = await (await run(fake, grove, grove.alice, "checkin")).original_message()
    assert "Is it OK for Kinfolk to keep your check-ins?" in again.content
    bob_again = await (await run(fake, grove, grove.bob, "checkin")).original_message()
    assert "How are you today?" in bob_again.content


async def test_asking_again_while_the_chart_is_drawn_is_answered_kindly_at_once(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot
) -> None:
    """Pictures are drawn in worker processes, one per member at a time: a second /mood
    while the first is still being drawn does not queue another picture. Once the chart
    has arrived, the member may ask again."""
    await checkin(fake, grove, grove.alice, 4)
    first, second = await asyncio.gather(
        *(fake.invoke(*grove.where(grove.alice), "mood") for _ in range(2))
    )
    answers = []
    for handle in (first, second):
        await handle.response(timeout=30)
        assert handle.is_ephemeral
        message = await handle.original_message()
        await fake.wait_for(
            lambda m=message: bool(m.attachments or m.content), timeout=30, what="an answer"
        )
        answers.append(message)
    charts = [m for m in answers if m.attachments]
    told = [m.content for m in answers if not m.attachments]
    assert len(charts) == 1
    assert told == ["I'm still drawing your last one; it will be here in a moment. 💛"]
    assert_valid_png(charts[0].file("mood.png"))
    again = await mood(fake, grove, grove.alice)
    assert_valid_png(again.file("mood.png"))
