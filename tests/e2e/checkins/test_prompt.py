"""The server's daily check-in prompt end to end: /setup checkins (Manage Server only), the
prompt posted once a day at the server's local time with its "Check in" button, across
restarts, timezone and time changes — on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import CheckinSettings
from bot.services.checkins.prompt import KIND_PROMPT, PROMPT_TEXT
from tests.e2e.checkins.world import Grove, checkins_of, outbox_rows, run
from tests.e2e.conftest import StartBot
from tests.e2e.driver import settle
from tests.fakediscord import FakeDiscord, StoredMessage
from tests.helpers import FrozenClock

CONSENT_QUESTION = "Is it OK for Kinfolk to keep your check-ins?"


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


async def start_at(start_bot: StartBot, clock: FrozenClock, when: datetime) -> KinfolkBot:
    clock._now = when
    return await start_bot()


async def move_to(fake: FakeDiscord, db: Database, clock: FrozenClock, when: datetime) -> None:
    assert when >= clock.now(), "the clock only moves forward"
    clock._now = when
    await settle(fake, db, clock)


async def setup_checkins(
    fake: FakeDiscord, grove: Grove, member: int, channel: int | None = None, **options: str
) -> str:
    handle = await run(
        fake, grove, member, "setup checkins", channel=channel or grove.checkins_id, **options
    )
    assert handle.is_ephemeral
    return (await handle.original_message()).content


def prompts(fake: FakeDiscord, grove: Grove) -> list[StoredMessage]:
    bot_id = fake.world.bot_user.id
    return [
        m
        for m in fake.messages(grove.checkins_id, ephemeral=False)
        if m.author_id == bot_id and m.content == PROMPT_TEXT
    ]


async def settings_of(db: Database, grove: Grove) -> CheckinSettings | None:
    async with db.session() as session:
        return await session.get(CheckinSettings, grove.guild_id)


async def test_a_member_without_manage_server_cannot_set_up_checkins(
    fake: FakeDiscord, grove: Grove, kinfolk: KinfolkBot, database: Database
) -> None:
    answer = await setup_checkins(fake, grove, grove.alice, prompt_time="10:00")
    assert "Manage Server" in answer
    assert await settings_of(database, grove) is None
    assert await outbox_rows(database, KIND_PROMPT) == []


async def test_the_prompt_is_posted_once_a_day_and_its_button_starts_a_checkin(
    fake: FakeDiscord, grove: Grove, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    await start_at(start_bot, clock, utc(5, 8))
    answer = await setup_checkins(fake, grove, grove.owner_id, prompt_time="10:00")
    assert answer.startswith("Done.")
    assert f"<#{grove.checkins_id}>" in answer
    assert "every day at **10:00** UTC time" in answer

    await move_to(fake, database, clock, utc(5, 9, 59))
    assert prompts(fake, grove) == []
    await move_to(fake, database, clock, utc(5, 10))
    [prompt] = prompts(fake, grove)
    assert prompt.custom_ids == [f"checkin:start:{grove.guild_id}"]
    assert fake.pinged(prompt) == set()

    start = await fake.click(prompt, f"checkin:start:{grove.guild_id}", grove.bob)
    question = await start.original_message()
    assert start.is_ephemeral
    assert CONSENT_QUESTION in question.content
    agreed = await fake.click(question, f"checkin:consent:{grove.guild_id}:yes", grove.bob)
    picker = await agreed.original_message()
    assert picker.custom_ids == [f"checkin:mood:{grove.guild_id}:{m}" for m in range(1, 6)]
    await (await fake.click(picker, f"checkin:mood:{grove.guild_id}:5", grove.bob)).response()
    assert [(r.mood, r.local_day) for r in await checkins_of(database, grove.bob)] == [
        (5, date(2026, 1, 5))
    ]
    again = await fake.click(prompt, f"checkin:start:{grove.guild_id}", grove.bob)
    assert "How are you today?" in (await again.original_message()).content  # no second ask

    await start_bot()  # a restart in between doesn't double anything
    await move_to(fake, database, clock, utc(5, 23, 59))
    assert len(prompts(fake, grove)) == 1
    await move_to(fake, database, clock, utc(6, 9, 59))
    assert len(prompts(fake, grove)) == 1
    await move_to(fake, database, clock, utc(6, 10))
    assert len(prompts(fake, grove)) == 2
    await start_bot()
    await move_to(fake, database, clock, utc(6, 18))
    assert len(prompts(fake, grove)) == 2
    settings = await settings_of(database, grove)
    assert settings is not None
    assert settings.prompt_last_day == date(2026, 1, 6)


async def test_the_prompt_follows_the_server_timezone(
    fake: FakeDiscord, grove: Grove, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    await start_at(start_bot, clock, utc(5, 0))  # 09:00 in Tokyo (UTC+9)
    zone = await run(fake, grove, grove.owner_id, "setup timezone", timezone="Asia/Tokyo")
    assert "Asia/Tokyo" in (await zone.original_message()).content
    answer = await setup_checkins(fake, grove, grove.owner_id, prompt_time="10:00")
    assert "every day at **10:00** Asia/Tokyo time" in answer

    await move_to(fake, database, clock, utc(5, 0, 59))
    assert prompts(fake, grove) == []
    await move_to(fake, database, clock, utc(5, 1))
    assert len(prompts(fake, grove)) == 1
    await move_to(fake, database, clock, utc(6, 0, 59))
    assert len(prompts(fake, grove)) == 1
    await move_to(fake, database, clock, utc(6, 1))
    assert len(prompts(fake, grove)) == 2


async def test_a_bad_prompt_time_is_refused_and_changes_nothing(
    fake: FakeDiscord, grove: Grove, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    await start_at(start_bot, clock, utc(5, 8))
    await setup_checkins(fake, grove, grove.owner_id, prompt_time="10:00")
    before = await settings_of(database, grove)
    assert before is not None
    rows_before = [(r.idempotency_key, r.status) for r in await outbox_rows(database, KIND_PROMPT)]

    clock.advance(minutes=5)
    answer = await setup_checkins(
        fake, grove, grove.owner_id, channel=grove.general_id, prompt_time="7 o'clock"
    )
    assert "7 o'clock" in answer
    assert "isn't a time of day" in answer
    assert "21:30" in answer
    after = await settings_of(database, grove)
    assert after is not None
    assert (after.channel_id, after.prompt_time, after.prompt_version, after.updated_at) == (
        grove.checkins_id,
        "10:00",
        before.prompt_version,
        before.updated_at,
    )
    rows_after = [(r.idempotency_key, r.status) for r in await outbox_rows(database, KIND_PROMPT)]
    assert rows_after == rows_before

    await move_to(fake, database, clock, utc(5, 10))
    assert len(prompts(fake, grove)) == 1  # the old settings still work
    assert fake.messages(grove.general_id, ephemeral=False) == []


async def test_moving_the_prompt_later_the_same_day_does_not_post_it_twice(
    fake: FakeDiscord, grove: Grove, start_bot: StartBot, clock: FrozenClock, database: Database
) -> None:
    await start_at(start_bot, clock, utc(5, 8))
    await setup_checkins(fake, grove, grove.owner_id, prompt_time="10:00")
    await move_to(fake, database, clock, utc(5, 10))
    assert len(prompts(fake, grove)) == 1

    await move_to(fake, database, clock, utc(5, 10, 30))
    answer = await setup_checkins(fake, grove, grove.owner_id, prompt_time="15:00")
    assert "every day at **15:00** UTC time" in answer
    await move_to(fake, database, clock, utc(5, 15))
    await move_to(fake, database, clock, utc(5, 23, 59))
    assert len(prompts(fake, grove)) == 1

    await move_to(fake, database, clock, utc(6, 10))  # the old time no longer posts
    await move_to(fake, database, clock, utc(6, 14, 59))
    assert len(prompts(fake, grove)) == 1
    await move_to(fake, database, clock, utc(6, 15))
    assert len(prompts(fake, grove)) == 2
