"""Discord answering 5xx and 429 (issue 9): the bot stays up, what it says on its own is
sent exactly once when Discord recovers, and members and moderators clicking meanwhile get
a kind answer in time, with nothing left half-done — on both backends."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.repositories import outbox
from bot.jobs.delivery import plain_payload
from bot.jobs.outbox import backoff
from tests.e2e.driver import settle
from tests.e2e.resilience.world import (
    RESOURCE_MARKERS,
    Shelter,
    alerts,
    answered_within,
    embed_text,
    outbox_row,
    outbox_rows,
    requests_of,
    requests_to,
    run,
    set_up_escalation,
    talk,
)
from tests.fakediscord import FakeDiscord, InteractionHandle
from tests.helpers import FrozenClock

SERVER_ERRORS = ("DiscordServerError", "503")


async def claim(fake: FakeDiscord, shelter: Shelter, request_id: int) -> InteractionHandle:
    handle = await fake.click(alerts(fake, shelter)[0], f"talk:claim:{request_id}", shelter.mod)
    await answered_within(handle)
    await fake.wait_for(lambda: handle.followups, what="the claim follow-up")
    return handle


async def waiting_alert(fake: FakeDiscord, shelter: Shelter, database: Database) -> int:
    """Alice asks for help; returns her request id once the alert is out."""
    await talk(fake, shelter, shelter.alice)
    await fake.wait_for(lambda: alerts(fake, shelter), what="the alert")
    [request] = await requests_of(database, shelter.alice)
    return request.id


async def failed_attempts(db: Database, key: str, attempts: int) -> outbox.OutboxMessage | None:
    row = await outbox_row(db, key)
    return row if (row.status, row.attempts) == (outbox.PENDING, attempts) else None


def thread_people(fake: FakeDiscord, shelter: Shelter) -> list[set[int]]:
    return [
        t.thread_members - {shelter.world.bot_user.id}
        for t in fake.threads
        if t.parent_id == shelter.support_id
    ]


# ----- 5xx on what the bot sends on its own ---------------------------------------------
async def test_an_alert_waits_out_5xx_and_is_posted_once(
    fake: FakeDiscord,
    shelter: Shelter,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
    quick_discord_retries: None,
) -> None:
    await set_up_escalation(fake, shelter)
    posts = rf"^/channels/{shelter.alerts_id}/messages$"
    fake.inject_failure("POST", posts, status=500, count=5)  # all of discord.py's own retries
    fake.inject_failure("POST", posts, status=503, count=1)  # discord.py never retries a 503
    answer = await (await talk(fake, shelter, shelter.alice, "crisis")).original_message()
    assert all(marker in embed_text(answer.embeds) for marker in RESOURCE_MARKERS)
    [request] = await requests_of(database, shelter.alice)
    key = f"talk:{request.id}:alert"

    first = await fake.wait_for(lambda: failed_attempts(database, key, 1), what="attempt 1")
    assert "DiscordServerError" in (first.last_error or "")
    assert requests_to(fake, "POST", f"/channels/{shelter.alerts_id}/") == [500] * 5
    clock.advance(seconds=backoff(1).total_seconds())
    second = await fake.wait_for(lambda: failed_attempts(database, key, 2), what="attempt 2")
    assert "503" in (second.last_error or "")
    assert alerts(fake, shelter) == []
    clock.advance(seconds=backoff(2).total_seconds())
    await fake.wait_for(lambda: alerts(fake, shelter), what="the alert")
    await settle(fake, database, clock)

    [alert] = alerts(fake, shelter)
    assert requests_to(fake, "POST", f"/channels/{shelter.alerts_id}/") == [500] * 5 + [503, 200]
    row = await outbox_row(database, key)
    assert (row.status, row.attempts) == (outbox.SENT, 3)
    [request] = await requests_of(database, shelter.alice)
    assert request.alert_message_id == alert.id
    # The bot stayed up: the next request goes straight through.
    await talk(fake, shelter, shelter.bob)
    await fake.wait_for(lambda: len(alerts(fake, shelter)) == 2, what="bob's alert")


async def test_a_reminder_dm_waits_out_5xx_and_arrives_once(
    fake: FakeDiscord,
    shelter: Shelter,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
    quick_discord_retries: None,
) -> None:
    answer = await run(
        fake, shelter, shelter.alice, "reminder set", time="21:00", timezone="Europe/Berlin"
    )
    assert "error id" not in (await answer.original_message()).content
    [reminder] = await outbox_rows(database, kind="checkin_reminder")
    fake.inject_failure("POST", r"^/users/@me/channels$", status=502, count=5)  # opening the DM
    fake.inject_failure("POST", r"^/channels/\d+/messages$", status=503, count=1)  # then sending
    clock._now = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)  # 21:00 in Berlin

    await fake.wait_for(lambda: failed_attempts(database, reminder.idempotency_key, 1))
    clock.advance(seconds=backoff(1).total_seconds())
    await fake.wait_for(lambda: failed_attempts(database, reminder.idempotency_key, 2))
    assert fake.dm_messages(shelter.alice) == []
    clock.advance(seconds=backoff(2).total_seconds())
    await fake.wait_for(lambda: fake.dm_messages(shelter.alice), what="the reminder")
    await settle(fake, database, clock)

    [dm] = fake.dm_messages(shelter.alice)
    assert "daily check-in reminder" in dm.content
    assert requests_to(fake, "POST", "/users/@me/channels") == [502] * 5 + [200]
    row = await outbox_row(database, reminder.idempotency_key)
    assert (row.status, row.attempts) == (outbox.SENT, 3)
    # Tomorrow's is queued as usual: the chain did not break.
    assert [r.status for r in await outbox_rows(database, kind="checkin_reminder")] == [
        outbox.SENT,
        outbox.PENDING,
    ]


# ----- 5xx inside an interaction -----------------------------------------------------------
async def test_claim_when_discord_cannot_open_the_thread(
    fake: FakeDiscord,
    shelter: Shelter,
    kinfolk: KinfolkBot,
    database: Database,
    quick_discord_retries: None,
) -> None:
    await set_up_escalation(fake, shelter)
    request_id = await waiting_alert(fake, shelter, database)
    fake.inject_failure("POST", rf"^/channels/{shelter.support_id}/threads$", status=500, count=5)
    claimed = await claim(fake, shelter, request_id)
    told = claimed.followups[-1].content
    assert "couldn't open a private thread" in told
    assert f"reach out to <@{shelter.alice}> directly" in told
    assert "error id" not in told
    [request] = await requests_of(database, shelter.alice)
    assert (request.status, request.claimed_by, request.thread_id) == (
        "claimed",
        shelter.mod,
        None,
    )
    assert fake.threads == []
    # Once Discord is back, handing off and claiming again opens the thread for both.
    handed = await fake.click(alerts(fake, shelter)[0], f"talk:handoff:{request_id}", shelter.mod)
    await answered_within(handed)
    await fake.wait_for(lambda: handed.followups, what="the hand-off answer")
    again = await claim(fake, shelter, request_id)
    assert "private thread" in again.followups[-1].content
    assert thread_people(fake, shelter) == [{shelter.alice, shelter.mod}]


async def test_claim_when_discord_cannot_add_the_member_to_the_thread(
    fake: FakeDiscord, shelter: Shelter, kinfolk: KinfolkBot, database: Database
) -> None:
    await set_up_escalation(fake, shelter)
    request_id = await waiting_alert(fake, shelter, database)
    fake.inject_failure("PUT", rf"/thread-members/{shelter.alice}$", status=503, count=1)
    claimed = await claim(fake, shelter, request_id)
    assert "error id" not in claimed.followups[-1].content
    handed = await fake.click(alerts(fake, shelter)[0], f"talk:handoff:{request_id}", shelter.mod)
    await fake.wait_for(lambda: handed.followups, what="the hand-off answer")
    await claim(fake, shelter, request_id)
    assert thread_people(fake, shelter) == [{shelter.alice, shelter.mod}]


async def test_a_5xx_on_the_answers_of_a_claim_is_retried_without_duplicates(
    fake: FakeDiscord,
    shelter: Shelter,
    kinfolk: KinfolkBot,
    database: Database,
    quick_discord_retries: None,
) -> None:
    await set_up_escalation(fake, shelter)
    request_id = await waiting_alert(fake, shelter, database)
    hook = rf"^/webhooks/{shelter.world.application_id}/[^/]+"
    fake.inject_failure("PATCH", hook + "/messages/@original$", status=502, count=1)
    fake.inject_failure("POST", hook + "$", status=500, count=2)
    claimed = await claim(fake, shelter, request_id)
    await asyncio.sleep(0.1)  # room for a duplicate follow-up, if there were one
    [followup] = claimed.followups
    assert "You've claimed it" in followup.content
    assert requests_to(fake, "POST", f"/webhooks/{shelter.world.application_id}/") == [
        500,
        500,
        200,
    ]
    assert "Claimed by" in str(alerts(fake, shelter)[0].embeds)
    [request] = await requests_of(database, shelter.alice)
    assert (request.status, request.claimed_by) == ("claimed", shelter.mod)
    assert thread_people(fake, shelter) == [{shelter.alice, shelter.mod}]


# ----- 429 storms --------------------------------------------------------------------------
async def queue_burst(db: Database, shelter: Shelter, clock: FrozenClock) -> dict[str, int]:
    """Queue notices in #general and DMs to the crowd, as a busy moment would; returns each
    message's text and where it should arrive."""
    expected: dict[str, int] = {}
    async with db.session() as session:
        for n in range(20):
            text = f"notice {n}"
            expected[text] = shelter.general_id
            await _enqueue(session, clock, text, "channel", shelter.general_id)
        for member in shelter.crowd:
            text = f"hello member {member}"
            expected[text] = member
            await _enqueue(session, clock, text, "user", member)
    return expected


async def _enqueue(session: object, clock: FrozenClock, text: str, kind: str, target: int) -> None:
    await outbox.enqueue(
        session,  # type: ignore[arg-type]
        key=f"burst:{text}",
        kind="plain",
        target_type=kind,
        target_id=target,
        payload=plain_payload(text),
        due_at=clock.now(),
        now=clock.now(),
    )


def delivered(fake: FakeDiscord, shelter: Shelter, expected: dict[str, int]) -> dict[str, int]:
    """How many times each queued text arrived where it should."""
    counts = dict.fromkeys(expected, 0)
    for text, target in expected.items():
        where = fake.messages(target) if target == shelter.general_id else fake.dm_messages(target)
        counts[text] = sum(m.content == text for m in where)
    return counts


async def storm_of_requests(
    fake: FakeDiscord, shelter: Shelter, count: int, first: int = 0
) -> list[InteractionHandle]:
    """Members asking for help and checking in while the storm blows (crowd members from
    `first` on; every other one runs /talk)."""
    handles = []
    for n in range(first, first + count):
        member = shelter.crowd[n]
        if n % 2:
            handles.append(await fake.invoke(*shelter.where(member), "checkin"))
        else:
            handles.append(
                await fake.invoke(*shelter.where(member), "talk", options={"feeling": "chat"})
            )
        await asyncio.sleep(0.05)
    return handles


async def deliver_everything(
    fake: FakeDiscord, db: Database, shelter: Shelter, clock: FrozenClock, expected: dict[str, int]
) -> None:
    """Let the outbox work through the burst, moving the clock past any back-off: a send
    that met five 429s in a row is handed back by discord.py and retried by the outbox."""
    for _ in range(10):
        await settle(fake, db, clock)
        if set(delivered(fake, shelter, expected).values()) == {1}:
            return
        clock.advance(minutes=1)
    raise AssertionError(f"not delivered exactly once: {delivered(fake, shelter, expected)}")


async def test_a_storm_of_route_429s(
    fake: FakeDiscord,
    shelter: Shelter,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await set_up_escalation(fake, shelter)
    fake.inject_failure("POST", r"^/channels/\d+/messages$", status=429, count=12, retry_after=0.05)
    fake.inject_failure("POST", r"^/users/@me/channels$", status=429, count=4, retry_after=0.1)
    callback = r"^/interactions/\d+/[^/]+/callback$"
    fake.inject_failure("POST", callback, status=429, count=3, retry_after=0.2)
    expected = await queue_burst(database, shelter, clock)
    kinfolk.outbox.wake()
    handles = await storm_of_requests(fake, shelter, 6)

    for handle in handles:
        await answered_within(handle)
    await deliver_everything(fake, database, shelter, clock, expected)
    assert len(alerts(fake, shelter)) == 3  # one per /talk, none doubled
    assert {r.status for r in await outbox_rows(database, kind="plain")} == {outbox.SENT}
    assert sum(r.status == 429 for r in fake.requests) >= 12 + 4 + 3  # all of them were met
    for handle in handles:
        answer = await handle.original_message()
        assert answer.embeds or "keep your check-ins" in answer.content
        assert "error id" not in answer.content


def use_up_global_limit(fake: FakeDiscord) -> None:
    """Another process on the same token (a second shard) has just spent this second's
    global budget: the bot's next requests get a global 429."""
    fake.limiter.global_window.extend([time.monotonic() - 0.5] * 50)  # for the next 0.5 s


async def test_a_storm_of_global_429s_spares_interactions(
    fake: FakeDiscord,
    shelter: Shelter,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await set_up_escalation(fake, shelter)
    expected = await queue_burst(database, shelter, clock)
    use_up_global_limit(fake)
    kinfolk.outbox.wake()
    handles = await storm_of_requests(fake, shelter, 4)
    await asyncio.sleep(0.5)
    use_up_global_limit(fake)  # and again, while the bot is still catching up
    handles += await storm_of_requests(fake, shelter, 2, first=4)

    for handle in handles:  # answers to interactions don't count towards the global limit
        await answered_within(handle)
    await deliver_everything(fake, database, shelter, clock, expected)
    assert len(alerts(fake, shelter)) == 3
    assert {r.status for r in await outbox_rows(database, kind="plain")} == {outbox.SENT}
    assert sum(r.status == 429 for r in fake.requests) >= 2
