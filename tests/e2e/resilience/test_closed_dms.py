"""Closed DMs (Discord's 403, code 50007) on the DMs not covered elsewhere (issue 9): the
owner's notice that alerts have nowhere to go, the member's "I haven't found someone yet",
and a buddy's halfway question. Each is recorded and never retried, nothing else stops,
and no exception escapes — on both backends. (Check-in reminders, reach-out DMs and
thinking-of-you notes to closed DMs are covered in their own end-to-end tests.)"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.repositories import outbox
from bot.services.buddies.rounds import KIND_CHECKUP
from tests.e2e.buddies.world import start_round_as
from tests.e2e.driver import settle
from tests.e2e.resilience.world import (
    RESOURCE_MARKERS,
    Shelter,
    alerts,
    embed_text,
    outbox_row,
    outbox_rows,
    reply,
    requests_of,
    requests_to,
    run,
    set_up_escalation,
    talk,
)
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock

CANNOT_DM = 50007


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


async def walk(fake: FakeDiscord, db: Database, clock: FrozenClock, *steps: timedelta) -> None:
    for step in steps:
        clock.advance(seconds=step.total_seconds())
        await settle(fake, db, clock)


def dm_refusals(fake: FakeDiscord) -> int:
    """Messages Discord refused because the recipient's DMs are closed."""
    return sum(1 for status in requests_to(fake, "POST", "/messages") if status == 403)


async def test_the_owner_notice_to_closed_dms_is_recorded_once_and_alerts_still_wait(
    fake: FakeDiscord,
    shelter: Shelter,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shelter.world.set_dms_closed(shelter.owner_id)
    answer = await (await talk(fake, shelter, shelter.alice, "crisis")).original_message()
    assert all(marker in embed_text(answer.embeds) for marker in RESOURCE_MARKERS)
    key = f"talk:problem:{shelter.guild_id}:0:not_configured"
    await fake.wait_for(lambda: dm_refusals(fake) == 1, what="the owner's DM refused")
    await walk(fake, database, clock, *[timedelta(minutes=1)] * 3)  # the alert retries

    notice = await outbox_row(database, key)
    assert notice.status == outbox.FAILED
    assert (notice.last_error or "").startswith("dms_closed")
    assert notice.attempts == 1
    assert dm_refusals(fake) == 1  # not retried, not queued again by the alert's retries
    assert fake.dm_messages(shelter.owner_id) == []
    [request] = await requests_of(database, shelter.alice)
    alert = await outbox_row(database, f"talk:{request.id}:alert")
    assert (alert.status, alert.attempts) == (outbox.PENDING, 4)
    about = await run(fake, shelter, shelter.owner_id, "about")
    assert "isn't set up" in str((await about.original_message()).embeds)

    await set_up_escalation(fake, shelter)  # the owner finds out from /about
    await walk(fake, database, clock, timedelta(minutes=1))
    assert len(alerts(fake, shelter)) == 1
    assert (await outbox_row(database, alert.idempotency_key)).status == outbox.SENT
    assert errors_logged(caplog) == []


async def test_the_members_update_to_closed_dms_is_recorded_and_the_ladder_goes_on(
    fake: FakeDiscord,
    shelter: Shelter,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await set_up_escalation(fake, shelter)
    answer = await (await talk(fake, shelter, shelter.alice, "crisis")).original_message()
    await fake.wait_for(lambda: alerts(fake, shelter), what="the alert")
    # Closed for one message only: had it been retried, a DM would arrive later.
    dm = shelter.world.dm_channel_for(shelter.alice)
    fake.inject_failure("POST", rf"^/channels/{dm.id}/messages$", status=403, code=CANNOT_DM)
    await walk(fake, database, clock, timedelta(minutes=2))  # the re-ping
    assert dm_refusals(fake) == 0
    await walk(fake, database, clock, timedelta(minutes=3))  # escalation, and her DM
    assert dm_refusals(fake) == 1
    await walk(fake, database, clock, timedelta(minutes=15), timedelta(hours=2))

    [request] = await requests_of(database, shelter.alice)
    update = await outbox_row(database, f"talk:{request.id}:g{request.generation}:member")
    assert update.status == outbox.FAILED
    assert (update.last_error or "").startswith("dms_closed")
    assert update.attempts == 1
    assert fake.dm_messages(shelter.alice) == []
    texts = [m.content for m in fake.messages(shelter.alerts_id) if not m.embeds]
    assert sum("Still waiting" in t for t in texts) == 1
    assert sum("Nobody has claimed" in t for t in texts) == 1
    # Her other features are unaffected: she can still say she's OK, and check in.
    cancelled = await fake.click(answer, f"talk:cancel:{request.id}", shelter.alice)
    assert "closed your request" in (await cancelled.original_message()).content
    assert "keep your check-ins" in await reply(fake, shelter, shelter.alice, "checkin")
    assert errors_logged(caplog) == []


async def test_a_buddy_question_to_closed_dms_is_recorded_and_the_pair_goes_on(
    fake: FakeDiscord,
    shelter: Shelter,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = shelter.owner_id
    assert "error id" not in await reply(
        fake, shelter, owner, "setup buddies", channel=shelter.buddies_id
    )
    for member in (shelter.alice, shelter.bob):
        assert (await reply(fake, shelter, member, "buddy join")).startswith("You're in!")
    await start_round_as(fake, shelter.where(owner), database, clock)
    [thread] = [t for t in fake.threads if t.parent_id == shelter.buddies_id]
    shelter.world.set_dms_closed(shelter.alice)

    rows = await outbox_rows(database, kind=KIND_CHECKUP)
    assert len(rows) == 2
    halfway = min(r.due_at for r in rows) - clock.now()
    await walk(fake, database, clock, halfway, timedelta(days=1), timedelta(days=3))

    by_member = {r.target_id: r for r in await outbox_rows(database, kind=KIND_CHECKUP)}
    alices = by_member[shelter.alice]
    assert (alices.status, alices.attempts) == (outbox.FAILED, 1)
    assert (alices.last_error or "").startswith("dms_closed")
    assert by_member[shelter.bob].status == outbox.SENT
    assert [m.content[:20] for m in fake.dm_messages(shelter.bob)] == ["Hi! Halfway through "]
    assert fake.dm_messages(shelter.alice) == []
    # The pairing stands: her status still shows her buddy, and the thread is theirs.
    status = await reply(fake, shelter, shelter.alice, "buddy status")
    assert f"<@{shelter.bob}>" in status
    assert {shelter.alice, shelter.bob} <= thread.thread_members
    assert errors_logged(caplog) == []
