"""The health snapshot an operator watches: what waits in the outbox, and who waits for a
person. Read from the database, so it is the same whichever process asks."""

from __future__ import annotations

from datetime import timedelta

from bot.db.engine import Database
from bot.db.repositories import outbox
from bot.domain.escalation import Actor, Urgency
from bot.jobs.delivery import plain_payload
from bot.services import health
from bot.services.escalation import requests
from bot.services.escalation.requests import Opened
from tests.helpers import FrozenClock

LEASE = timedelta(minutes=2)
GUILD, MODERATOR = 100, 300


async def test_an_empty_deployment_reports_nothing_waiting(
    db: Database, clock: FrozenClock
) -> None:
    snapshot = await health.snapshot(db, clock)
    assert snapshot == health.Health(
        outbox_due={},
        outbox_sending=0,
        outbox_failed=0,
        outbox_oldest_due_seconds=0.0,
        escalations_waiting=0,
        escalation_oldest_wait_seconds=0.0,
    )


async def test_outbox_figures_by_priority_and_state(db: Database, clock: FrozenClock) -> None:
    # (key, kind, due in seconds)
    queued = [
        ("urgent-a", "talk.alert", -60),
        ("urgent-b", "circle_note_report", -5),
        ("normal", "plain", -120),
        ("bulk-a", "reachout_dm", -1800),  # the longest-waiting due message: 30 minutes
        ("bulk-b", "checkin_reminder", 0),  # due this very moment
        ("bulk-c", "checkin_prompt", -10),
        ("not-yet", "talk.reping", 30),  # queued for later: not due, not counted
        ("leased-a", "plain", -7200),  # these four are claimed below: not due any more
        ("leased-b", "reachout_dm", -7200),
        ("given-up", "plain", -7200),
        ("sent", "plain", -7200),
    ]
    async with db.session() as session:
        for key, kind, due_in in queued:
            await outbox.enqueue(
                session,
                key=key,
                kind=kind,
                target_type="user",
                target_id=42,
                payload=plain_payload(key),
                due_at=clock.now() + timedelta(seconds=due_in),
                now=clock.now() - timedelta(hours=3),
            )
        claimed = await outbox.claim_due(
            session, now=clock.now() - timedelta(hours=1), owner="w", lease=LEASE, limit=10
        )
        assert sorted(row.idempotency_key for row in claimed) == sorted(
            ["leased-a", "leased-b", "given-up", "sent"]
        )
        ids = {row.idempotency_key: row.id for row in claimed}
        await outbox.mark_failed(session, ids["given-up"], owner="w", reason="dms_closed")
        await outbox.mark_sent(session, ids["sent"], owner="w", now=clock.now())

    snapshot = await health.snapshot(db, clock)
    assert snapshot.outbox_due == {outbox.URGENT: 2, outbox.NORMAL: 1, outbox.BULK: 3}
    # The two leases ran out an hour ago, but they are counted as sending until reclaimed.
    assert (snapshot.outbox_sending, snapshot.outbox_failed) == (2, 1)
    assert snapshot.outbox_oldest_due_seconds == 1800.0
    assert (snapshot.escalations_waiting, snapshot.escalation_oldest_wait_seconds) == (0, 0.0)

    clock.advance(seconds=30)  # "not-yet" falls due; everything due has waited 30 s longer
    later = await health.snapshot(db, clock)
    assert later.outbox_due == {outbox.URGENT: 3, outbox.NORMAL: 1, outbox.BULK: 3}
    assert later.outbox_oldest_due_seconds == 1830.0


async def _open(db: Database, clock: FrozenClock, member: int) -> int:
    result = await requests.open_request(
        db, clock, guild_id=GUILD, member_id=member, urgency=Urgency.STRUGGLING, locale="en-GB"
    )
    assert isinstance(result, Opened)
    return result.request.request_id


async def test_escalations_waiting_are_the_unclaimed_open_requests(
    db: Database, clock: FrozenClock
) -> None:
    start = clock.now()
    claimed = await _open(db, clock, member=201)  # the oldest, but a moderator has it
    clock.advance(minutes=2)
    cancelled = await _open(db, clock, member=202)  # the member is OK now
    clock.advance(minutes=13)
    oldest = await _open(db, clock, member=203)  # opened at +15 min: the oldest waiting
    clock.advance(minutes=4)
    await _open(db, clock, member=204)
    clock.advance(minutes=1)  # now +20 min
    resolved = await _open(db, clock, member=205)

    await requests.claim(db, clock, GUILD, claimed, Actor(MODERATOR, manage_server=True))
    await requests.cancel(db, clock, cancelled, 202)
    await requests.claim(db, clock, GUILD, resolved, Actor(MODERATOR, manage_server=True))
    await requests.resolve(db, clock, GUILD, resolved, Actor(MODERATOR, manage_server=True))

    snapshot = await health.snapshot(db, clock)
    assert snapshot.escalations_waiting == 2
    assert snapshot.escalation_oldest_wait_seconds == 5 * 60.0
    # Every request's alert was queued urgent, due when it was opened.
    assert snapshot.outbox_due[outbox.URGENT] >= 5
    assert snapshot.outbox_oldest_due_seconds == (clock.now() - start).total_seconds()

    await requests.claim(
        db, clock, GUILD, oldest, Actor(MODERATOR, manage_server=True)
    )  # member 204 (+19 min) is left
    clock.advance(minutes=1)
    snapshot = await health.snapshot(db, clock)
    assert (snapshot.escalations_waiting, snapshot.escalation_oldest_wait_seconds) == (1, 120.0)
