"""The outbox dispatcher when things go wrong: escalation not set up, a channel the bot cannot
post in, passing failures and back-off, and a dispatcher that crashed mid-send."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import OutboxMessage
from bot.db.repositories import outbox
from bot.domain.escalation import Urgency
from bot.jobs.delivery import (
    Retry,
    Undeliverable,
    plain_payload,
)
from bot.jobs.outbox import backoff
from bot.services.escalation import config, requests
from tests.helpers import FrozenClock
from tests.jobs.ladder_support import (
    ALERTS,
    GUILD,
    MEMBER,
    MODS,
    FakeSender,
    configure_escalation,
    drain,
    make_dispatcher,
    open_talk,
    outbox_row,
    to_alerts,
)


async def test_not_configured_waits_and_tells_the_owner_once(
    db: Database, clock: FrozenClock
) -> None:
    sender = FakeSender()
    dispatcher = make_dispatcher(db, clock, sender)
    rid = await open_talk(db, clock)
    for _ in range(4):  # minutes 0 to 3: nowhere to send the alert yet
        await drain(dispatcher)
        clock.advance(minutes=1)
    [notice] = sender.take()
    assert (notice.target_type, notice.target_id) == ("guild_owner", GUILD)
    assert "/setup escalation" in (notice.content or "")
    alert_row = await outbox_row(db, f"talk:{rid}:alert")
    assert alert_row.status == outbox.PENDING
    assert alert_row.last_error == "escalation is not set up"
    problem = (await config.get_config(db, GUILD)).alert_problem
    assert problem is not None
    assert "isn't set up" in problem

    await configure_escalation(db, clock)  # at minute 4, when the alert is next looked at
    await drain(dispatcher)
    [alert] = sender.take()
    assert (alert.target_id, alert.ping_roles) == (ALERTS, (MODS,))
    assert (await requests.get_request(db, rid)).alert_message_id == sender.last_sent_id
    assert (await config.get_config(db, GUILD)).alert_problem is None


async def test_an_alert_channel_without_permission_is_retried_and_the_owner_told(
    db: Database, clock: FrozenClock
) -> None:
    await configure_escalation(db, clock)
    sender = FakeSender()
    sender.answer(to_alerts, Undeliverable("no_permission", "Missing Permissions"), times=3)
    dispatcher = make_dispatcher(db, clock, sender)
    rid = await open_talk(db, clock)

    await dispatcher.run_once()
    assert len(sender.take()) == 1
    row = await outbox_row(db, f"talk:{rid}:alert")
    assert (row.status, row.due_at) == (outbox.PENDING, clock.now() + timedelta(minutes=1))
    assert (row.last_error or "").startswith("no_permission")
    problem = (await config.get_config(db, GUILD)).alert_problem
    assert problem is not None
    assert f"<#{ALERTS}>" in problem

    await dispatcher.run_once()  # only the owner's notice is due
    [notice] = sender.take()
    assert notice.target_type == "guild_owner"
    for _ in range(2):
        clock.advance(seconds=59)
        await drain(dispatcher)
        assert sender.take() == []
        clock.advance(seconds=1)
        await drain(dispatcher)
        assert [d.target_id for d in sender.take()] == [ALERTS]  # refused again, no notice

    clock.advance(minutes=1)
    await drain(dispatcher)
    [alert] = sender.take()
    assert alert.view == "talk.alert"
    assert (await requests.get_request(db, rid)).alert_message_id == sender.last_sent_id
    assert (await config.get_config(db, GUILD)).alert_problem is None
    assert (await outbox_row(db, f"talk:{rid}:alert")).attempts == 4


async def test_passing_failures_back_off_and_plain_messages_give_up(
    db: Database, clock: FrozenClock
) -> None:
    async with db.session() as session:
        await outbox.enqueue(
            session,
            key="hello",
            kind="plain",
            target_type="user",
            target_id=MEMBER,
            payload=plain_payload("hello there"),
            due_at=clock.now(),
            now=clock.now(),
        )
    sender = FakeSender()
    sender.answer(lambda d: True, Retry("503"))
    dispatcher = make_dispatcher(db, clock, sender)
    for attempt in range(1, 8):
        await dispatcher.run_once()
        row = await outbox_row(db, "hello")
        assert (row.status, row.attempts) == (outbox.PENDING, attempt)
        assert row.due_at == clock.now() + backoff(attempt)
        clock.advance(seconds=backoff(attempt).total_seconds() - 1)
        assert await dispatcher.run_once() == 0
        clock.advance(seconds=1)
    await dispatcher.run_once()
    row = await outbox_row(db, "hello")
    assert (row.status, row.attempts, row.last_error) == (outbox.FAILED, 8, "gave up: 503")
    assert [d.content for d in sender.take()] == ["hello there"] * 8
    clock.advance(days=1)
    assert await dispatcher.run_once() == 0


async def test_an_alert_never_gives_up(db: Database, clock: FrozenClock) -> None:
    await configure_escalation(db, clock)
    sender = FakeSender()
    sender.answer(lambda d: d.view == "talk.alert", Retry("503"))
    dispatcher = make_dispatcher(db, clock, sender)
    rid = await open_talk(db, clock)
    for _ in range(10):
        await drain(dispatcher, passes=1)
        clock.advance(minutes=15)
    row = await outbox_row(db, f"talk:{rid}:alert")
    assert (row.status, row.attempts) == (outbox.PENDING, 10)


async def test_a_crashed_dispatcher_is_recovered_without_duplicates(
    db: Database, clock: FrozenClock
) -> None:
    await configure_escalation(db, clock)
    sender = FakeSender()
    first = make_dispatcher(db, clock, sender, owner="first")
    second = make_dispatcher(db, clock, sender, owner="second")
    rid = await open_talk(db, clock)

    async with db.session() as session:  # "first" claims the alert, then crashes
        [claimed] = await outbox.claim_due(
            session, now=clock.now(), owner=first.owner, lease=first.lease, limit=10
        )
    assert claimed.idempotency_key == f"talk:{rid}:alert"
    assert await second.run_once() == 0
    clock.advance(minutes=2)
    assert await second.run_once() == 0  # the lease runs until strictly after 2 minutes
    clock.advance(seconds=1)
    assert await second.run_once() == 1
    [alert] = sender.take()
    assert alert.view == "talk.alert"
    async with db.session() as session:
        # The crashed owner lost its lease and cannot mark the row.
        assert not await outbox.mark_sent(session, claimed.id, owner="first", now=clock.now())

    # Both dispatchers running at once never send anything twice.
    await open_talk(db, clock, member=MEMBER + 1, urgency=Urgency.CRISIS)
    for minutes in (0, 5, 15):
        clock.advance(minutes=minutes)
        await asyncio.gather(first.run_once(), second.run_once(), first.run_once())
        await asyncio.gather(second.run_once(), first.run_once())
    deliveries = sender.take()
    assert len(deliveries) == 3 + 4  # the rest of the first ladder, all of the second
    keys = [(d.target_type, d.target_id, d.content, d.reply_to) for d in deliveries]
    assert len(set(keys)) == len(keys)
    async with db.session() as session:
        statuses = (await session.scalars(select(OutboxMessage.status))).all()
    assert set(statuses) == {outbox.SENT}


async def test_re_pings_wait_for_their_alert_after_an_outage(
    db: Database, clock: FrozenClock
) -> None:
    await configure_escalation(db, clock)
    sender = FakeSender()
    refused = Undeliverable("no_permission", "Missing Permissions")
    sender.answer(lambda d: to_alerts(d) and d.view == "talk.alert", refused)  # alert keeps failing
    dispatcher = make_dispatcher(db, clock, sender)
    rid = await open_talk(db, clock)
    clock.advance(minutes=6)  # past the re-ping timer (5 min): the step is due, the alert isn't out
    await drain(dispatcher)
    assert [d for d in sender.take() if to_alerts(d) and d.view is None] == []  # no re-ping yet
    assert (await outbox_row(db, f"talk:{rid}:g0:reping")).status == outbox.PENDING

    sender.rules.clear()  # the moderators fix the channel
    clock.advance(minutes=1)
    await drain(dispatcher)
    clock.advance(seconds=20)
    await drain(dispatcher)
    delivered = [d for d in sender.take() if to_alerts(d)]
    assert [d.view for d in delivered] == ["talk.alert", None]  # the alert, then its re-ping
    alert_id = (await requests.get_request(db, rid)).alert_message_id
    assert delivered[1].reply_to == alert_id


async def test_an_alert_whose_mark_fails_still_records_where_it_is_and_goes_once(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the alert was posted and its row's "sent" are written in one unit of work. If
    that unit fails (here: the mark), neither is lost: the record is written on its own, the
    row is marked after it, nothing is posted twice, and the re-ping answers the alert."""
    await configure_escalation(db, clock)
    sender = FakeSender()
    dispatcher = make_dispatcher(db, clock, sender)
    rid = await open_talk(db, clock)
    real_mark = outbox.mark_sent
    failures = [1]

    async def mark_failing_once(*args: Any, **kwargs: Any) -> bool:
        if failures:
            failures.pop()
            raise RuntimeError("the database went away for a moment")
        return await real_mark(*args, **kwargs)

    monkeypatch.setattr(outbox, "mark_sent", mark_failing_once)
    await drain(dispatcher)
    assert failures == []  # the combined unit did fail
    [alert] = sender.take()
    assert alert.view == "talk.alert"
    posted = (await requests.get_request(db, rid)).alert_message_id
    assert posted == sender.last_sent_id
    assert (await outbox_row(db, f"talk:{rid}:alert")).status == outbox.SENT
    clock.advance(minutes=6)
    await drain(dispatcher)
    [reping] = [d for d in sender.take() if to_alerts(d)]
    assert reping.reply_to == posted
