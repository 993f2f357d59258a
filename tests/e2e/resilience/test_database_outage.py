"""PostgreSQL restarting or hanging under a running bot (issue 9).

The bot's database goes through a TCP proxy (`proxy.py`) that can cut every connection and
turn new ones away, the way a restart looks to a client, or stop answering altogether. While
the database is away every member still gets a kind answer inside Discord's 3 seconds;
when it is back everything works again without restarting the bot, and nothing saved
before, queued, or counted meanwhile is lost. PostgreSQL only: SQLite has no server to
restart, and the real PostgreSQL is shared, so only the proxy ever goes away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

import tests.e2e.conftest as e2e
from bot.client import KinfolkBot
from bot.db import migrate
from bot.db.engine import Database
from bot.db.models import ActivityDay, MemberActivity
from bot.ui.errors import TRY_AGAIN
from tests.conftest import POSTGRES_URL, fresh_database
from tests.e2e.conftest import StartBot
from tests.e2e.driver import settle
from tests.e2e.reachout.world import handlers_done
from tests.e2e.resilience.proxy import PostgresProxy
from tests.e2e.resilience.world import (
    RESOURCE_MARKERS,
    Shelter,
    alerts,
    answered_within,
    checkins_of,
    embed_text,
    outbox_row,
    reply,
    requests_of,
    run,
    set_up_escalation,
    talk,
    text_of,
)
from tests.fakediscord import FakeDiscord, InteractionHandle, StoredMessage
from tests.helpers import FrozenClock

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="KINFOLK_TEST_POSTGRES_URL not set")

PICKER = "How are you today?"
UNSAVED = "couldn't save your request"


# ----- fixtures -------------------------------------------------------------------------
@pytest.fixture
async def direct(tmp_path: Path) -> AsyncIterator[Database]:
    """The test's fresh database, reached directly: for looking while the bot's is away."""
    async with fresh_database("postgresql", tmp_path, create_schema=False) as db:
        await migrate.upgrade(db)
        yield db


@pytest.fixture
async def proxy() -> AsyncIterator[PostgresProxy]:
    url = make_url(POSTGRES_URL or "")
    async with PostgresProxy(url.host or "127.0.0.1", url.port or 5432) as running:
        yield running


@pytest.fixture
async def database(direct: Database, proxy: PostgresProxy) -> AsyncIterator[Database]:
    """What the bot uses (overrides the e2e fixture): the same database, through the proxy,
    with the running bot's timeouts (as `kinfolk run` opens it)."""
    url = make_url(direct.url).set(host="127.0.0.1", port=proxy.port)
    db = Database(
        url.render_as_string(hide_password=False),
        connect_args=direct.connect_args,
        timeouts=True,
    )
    yield db
    proxy.restore()
    await db.close(grace=2)


class QuickFlushBot(KinfolkBot):
    """Writes the activity it counted every 0.2 s instead of every 15 s."""

    def __init__(self, **options: object) -> None:
        super().__init__(participation_flush_seconds=0.2, **options)  # type: ignore[arg-type]


@pytest.fixture
async def bot(
    monkeypatch: pytest.MonkeyPatch, start_bot: StartBot, proxy: PostgresProxy
) -> AsyncIterator[KinfolkBot]:
    monkeypatch.setattr(e2e, "KinfolkBot", QuickFlushBot)
    running = await start_bot()
    yield running
    proxy.restore()  # before the bot stops: it writes what it counted on the way out


# ----- helpers --------------------------------------------------------------------------
async def kind_answer(fake: FakeDiscord, handle: InteractionHandle) -> str:
    """The private answer to an interaction made while the database was away: in time,
    never silence, never an error id."""
    await answered_within(handle)
    assert handle.is_ephemeral
    text = await text_of(fake, handle)
    assert "error id" not in text
    return text


async def mood_picker(fake: FakeDiscord, shelter: Shelter, member: int) -> StoredMessage:
    """/checkin, agreeing to keep check-ins the first time; the message with the moods."""
    message = await (await run(fake, shelter, member, "checkin")).original_message()
    consent = f"checkin:consent:{shelter.guild_id}:yes"
    if any(c.get("custom_id") == consent for row in message.components for c in row["components"]):
        message = await (await fake.click(message, consent, member)).original_message()
    assert PICKER in message.content
    return message


async def tap_mood(
    fake: FakeDiscord, shelter: Shelter, picker: StoredMessage, member: int, mood: int = 4
) -> InteractionHandle:
    return await fake.click(picker, f"checkin:mood:{shelter.guild_id}:{mood}", member)


async def check_in(fake: FakeDiscord, shelter: Shelter, member: int, mood: int) -> str:
    picker = await mood_picker(fake, shelter, member)
    return (await (await tap_mood(fake, shelter, picker, member, mood)).original_message()).content


async def post(fake: FakeDiscord, shelter: Shelter, member: int, times: int = 1) -> None:
    for n in range(times):
        await fake.post_message(shelter.general_id, member, f"hello {n}")


async def written(
    db: Database, shelter: Shelter, member: int, messages: int
) -> tuple[datetime, int] | None:
    """(last seen, messages counted) once the stored count of messages is `messages`."""
    async with db.session() as session:
        seen = await session.get(MemberActivity, (shelter.guild_id, member))
        days = await session.scalars(
            select(ActivityDay).where(
                ActivityDay.guild_id == shelter.guild_id, ActivityDay.user_id == member
            )
        )
        counted = sum(d.messages for d in days.all())
    if seen is None or counted != messages:
        return None
    return seen.last_seen_at, counted


def re_pings(fake: FakeDiscord, shelter: Shelter) -> list[StoredMessage]:
    return [m for m in fake.messages(shelter.alerts_id) if "Still waiting" in (m.content or "")]


def unexpected(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Failures answered with an error id (logged as bugs) rather than as an outage."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name in ("kinfolk.errors", "kinfolk.talk") and r.levelno >= logging.ERROR
    ]


async def late_answers(fake: FakeDiscord) -> list[str]:
    """Once the bot's handlers have finished, take the stand-in's complaints about answers
    after the 3 s deadline (leaving any other complaint for the fixture to report)."""
    await handlers_done()
    taken = fake.take_violations()
    fake.violations.extend(v for v in taken if "first response after" not in v)
    return [v for v in taken if "first response after" in v]


def assert_still_running(bot: KinfolkBot) -> None:
    """The outbox loop and the activity flusher are alive (neither died of an error)."""
    for task in (bot._outbox_task, bot._participation_task):
        assert task is not None
        assert not task.done()


async def waiting_request(
    fake: FakeDiscord, shelter: Shelter, direct: Database, clock: FrozenClock
) -> tuple[int, str]:
    """Bob asks for help; returns his request's id and the key of its pending re-ping,
    once the alert is out and marked sent."""
    await talk(fake, shelter, shelter.bob)
    await fake.wait_for(lambda: alerts(fake, shelter), what="bob's alert")
    await settle(fake, direct, clock)
    [request] = await requests_of(direct, shelter.bob)
    reping = await outbox_row(direct, f"talk:{request.id}:g{request.generation}:reping")
    assert reping.status == "pending"
    return request.id, reping.idempotency_key


# ----- tests ----------------------------------------------------------------------------
async def test_a_restart_gets_kind_answers_and_nothing_is_lost(
    fake: FakeDiscord,
    shelter: Shelter,
    bot: KinfolkBot,
    proxy: PostgresProxy,
    direct: Database,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before: a server set up, a check-in saved, a request waiting, activity being counted.
    await set_up_escalation(fake, shelter)
    for options in ({"enabled": True}, {"channel": shelter.buddies_id}):
        command = "setup reachout" if "enabled" in options else "setup buddies"
        assert "error id" not in await reply(fake, shelter, shelter.owner_id, command, **options)
    assert "Saved" in await check_in(fake, shelter, shelter.alice, 4)
    picker = await mood_picker(fake, shelter, shelter.alice)  # still open during the restart
    request_id, reping = await waiting_request(fake, shelter, direct, clock)
    await post(fake, shelter, shelter.cai)
    await fake.wait_for(lambda: written(direct, shelter, shelter.cai, 1), what="activity")
    before = clock.now()

    proxy.cut(refuse=True)  # PostgreSQL restarts: nothing listens for a moment
    clock.advance(seconds=10)
    checkin = await fake.invoke(*shelter.where(shelter.alice), "checkin")
    mood = await tap_mood(fake, shelter, picker, shelter.alice)
    claim = await fake.click(alerts(fake, shelter)[0], f"talk:claim:{request_id}", shelter.mod)
    join = await fake.invoke(*shelter.where(shelter.alice), "buddy join")
    crisis = await fake.invoke(*shelter.where(shelter.cai), "talk", options={"feeling": "crisis"})
    for handle in (checkin, mood, claim, join):
        assert await kind_answer(fake, handle) == TRY_AGAIN
    assert UNSAVED in await kind_answer(fake, crisis)  # honest, and still shows where help is
    shown = embed_text((await crisis.original_message()).embeds)
    assert all(marker in shown for marker in RESOURCE_MARKERS)
    await post(fake, shelter, shelter.cai, times=3)  # counted in memory meanwhile
    clock.advance(minutes=30)  # bob's re-ping falls due while the database is away
    await asyncio.sleep(0.5)  # outbox passes and activity flushes fail meanwhile
    assert proxy.turned_away > 0
    assert await written(direct, shelter, shelter.cai, 1)  # not yet: kept for a later flush
    assert_still_running(bot)
    assert re_pings(fake, shelter) == []
    assert len(await checkins_of(direct, shelter.alice)) == 1  # nothing was half-saved
    assert await requests_of(direct, shelter.cai) == []
    assert [r.status for r in await requests_of(direct, shelter.bob)] == ["open"]

    proxy.restore()  # PostgreSQL is back; the bot was never restarted
    await fake.wait_for(lambda: re_pings(fake, shelter), what="bob's re-ping")
    last_seen, _ = await fake.wait_for(
        lambda: written(direct, shelter, shelter.cai, 4), what="activity counted meanwhile"
    )
    assert last_seen > before
    assert "Saved" in await check_in(fake, shelter, shelter.alice, 2)
    assert [c.mood for c in await checkins_of(direct, shelter.alice)] == [4, 2]
    helped = await (await talk(fake, shelter, shelter.cai, "crisis")).original_message()
    assert UNSAVED not in helped.content
    await fake.wait_for(lambda: len(alerts(fake, shelter)) == 2, what="cai's alert")
    claim = await fake.click(alerts(fake, shelter)[0], f"talk:claim:{request_id}", shelter.mod)
    await fake.wait_for(lambda: claim.followups, what="the claim follow-up")
    assert "private thread" in claim.followups[-1].content
    assert (await reply(fake, shelter, shelter.alice, "buddy join")).startswith("You're in!")
    await settle(fake, direct, clock)
    assert len(re_pings(fake, shelter)) == 1  # sent once, not once per failed pass
    assert (await outbox_row(direct, reping)).status == "sent"
    assert [r.status for r in await requests_of(direct, shelter.bob)] == ["claimed"]
    assert [r.status for r in await requests_of(direct, shelter.cai)] == ["open"]
    assert unexpected(caplog) == []


async def test_while_postgres_starts_up_members_are_asked_to_try_again(
    fake: FakeDiscord,
    shelter: Shelter,
    bot: KinfolkBot,
    proxy: PostgresProxy,
    direct: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    picker = await mood_picker(fake, shelter, shelter.alice)
    proxy.cut()  # new connections get FATAL 57P03, as while PostgreSQL starts or stops
    checkin = await fake.invoke(*shelter.where(shelter.alice), "checkin")
    mood = await tap_mood(fake, shelter, picker, shelter.alice)
    assert await text_of(fake, checkin) == TRY_AGAIN
    assert await text_of(fake, mood) == TRY_AGAIN
    assert proxy.turned_away > 0
    assert await checkins_of(direct, shelter.alice) == []
    assert unexpected(caplog) == []


async def test_after_a_hang_the_bot_recovers_without_a_restart(
    fake: FakeDiscord,
    shelter: Shelter,
    bot: KinfolkBot,
    proxy: PostgresProxy,
    direct: Database,
    clock: FrozenClock,
) -> None:
    await set_up_escalation(fake, shelter)
    assert "error id" not in await reply(
        fake, shelter, shelter.owner_id, "setup reachout", enabled=True
    )
    _, reping = await waiting_request(fake, shelter, direct, clock)
    await post(fake, shelter, shelter.cai)
    await fake.wait_for(lambda: written(direct, shelter, shelter.cai, 1), what="activity")
    proxy.hang()  # open connections go silent; new ones are never answered
    clock.advance(minutes=30)
    await post(fake, shelter, shelter.cai, times=2)
    await asyncio.sleep(0.5)  # the outbox and the activity flusher are stuck meanwhile
    assert re_pings(fake, shelter) == []
    proxy.restore()
    await fake.wait_for(lambda: re_pings(fake, shelter), what="bob's re-ping")
    await fake.wait_for(lambda: written(direct, shelter, shelter.cai, 3), what="the activity")
    assert "Saved" in await check_in(fake, shelter, shelter.alice, 3)
    await settle(fake, direct, clock)
    assert len(re_pings(fake, shelter)) == 1
    assert (await outbox_row(direct, reping)).status == "sent"
    assert_still_running(bot)


async def test_a_hung_database_still_shows_crisis_resources_in_time(
    fake: FakeDiscord,
    shelter: Shelter,
    bot: KinfolkBot,
    proxy: PostgresProxy,
    direct: Database,
    clock: FrozenClock,
) -> None:
    await set_up_escalation(fake, shelter)
    await waiting_request(fake, shelter, direct, clock)  # the pool holds live connections
    proxy.hang()
    try:
        crisis = await fake.invoke(
            *shelter.where(shelter.cai), "talk", options={"feeling": "crisis"}
        )
        await answered_within(crisis)
        slow = await crisis.original_message()
        assert "taking longer than it should" in slow.content
        assert all(marker in embed_text(slow.embeds) for marker in RESOURCE_MARKERS)
    finally:
        proxy.restore()
        late = await late_answers(fake)
    assert late == []
    # The save was not cut off: once it finished, either way, the member was told the truth.
    await fake.wait_for(lambda: crisis.followups, timeout=30, what="the follow-up")
    told = crisis.followups[-1].content
    saved = await requests_of(direct, shelter.cai)
    if saved:
        assert "saved now" in told
    else:
        assert UNSAVED in told


async def test_a_hung_database_gets_kind_answers_in_time(
    fake: FakeDiscord,
    shelter: Shelter,
    bot: KinfolkBot,
    proxy: PostgresProxy,
    direct: Database,
) -> None:
    picker = await mood_picker(fake, shelter, shelter.alice)
    proxy.hang()
    try:
        checkin = await fake.invoke(*shelter.where(shelter.alice), "checkin")
        mood = await tap_mood(fake, shelter, picker, shelter.alice)
        for handle in (checkin, mood):
            await answered_within(handle)  # answered, or at least acknowledged, in time
        for handle in (checkin, mood):
            assert await text_of(fake, handle, timeout=10) == TRY_AGAIN  # while still hung
    finally:
        proxy.restore()
        late = await late_answers(fake)
    assert late == []
    assert await checkins_of(direct, shelter.alice) == []
