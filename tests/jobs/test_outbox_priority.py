"""Outbox priority: a member waiting for a person is never stuck behind a backlog of bulk
nudges, and a message whose dispatcher died is picked up before anything new."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.db.engine import Database
from bot.db.repositories import outbox
from bot.domain.escalation import LadderStep
from bot.jobs.delivery import plain_payload
from bot.services.buddies import rounds
from bot.services.checkins import prompt, reminders
from bot.services.circles import handlers as circle_handlers
from bot.services.circles import milestones, notes
from bot.services.escalation import requests
from bot.services.privacy import retention
from bot.services.reachout import settings as reachout_settings
from bot.services.reachout import sweep
from tests.helpers import FrozenClock, outbox_counts
from tests.jobs.ladder_support import (
    ALERTS,
    FakeSender,
    configure_escalation,
    make_dispatcher,
    open_talk,
)

LEASE = timedelta(minutes=2)


# ----- which kind goes first ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "priority"),
    [
        # A member waiting for a person, and a report about a harmful note.
        (requests.KIND_ALERT, outbox.URGENT),
        (requests.KIND_STEP[LadderStep.REPING], outbox.URGENT),
        (requests.KIND_STEP[LadderStep.ESCALATE], outbox.URGENT),
        (requests.KIND_MEMBER_UPDATE, outbox.URGENT),
        (requests.KIND_REFRESH, outbox.URGENT),
        (notes.KIND_REPORT, outbox.URGENT),
        # Everyday messages.
        ("plain", outbox.NORMAL),
        (rounds.KIND_INTRO, outbox.NORMAL),
        (rounds.KIND_CHECKUP, outbox.NORMAL),
        (rounds.KIND_ROUND, outbox.NORMAL),
        (notes.KIND_NOTE, outbox.NORMAL),
        (circle_handlers.KIND_UNDELIVERED, outbox.NORMAL),
        # Bulk nudges and scheduled jobs.
        (reminders.KIND_REMINDER, outbox.BULK),
        (prompt.KIND_PROMPT, outbox.BULK),
        (sweep.KIND_DM, outbox.BULK),
        (sweep.KIND_BUDDY, outbox.BULK),
        (reachout_settings.KIND_SWEEP, outbox.BULK),
        (sweep.KIND_SWEEP_ALL, outbox.BULK),
        (reachout_settings.KIND_DIGEST, outbox.BULK),
        (milestones.KIND_MILESTONE, outbox.BULK),
        (retention.KIND_RETENTION, outbox.BULK),
        (retention.KIND_LEAVER, outbox.BULK),
        # Only the "talk." prefix is urgent, not a kind that merely starts with "talk".
        ("talkative", outbox.NORMAL),
        ("unknown_kind", outbox.NORMAL),
    ],
)
def test_priority_of_the_kinds_the_features_queue(kind: str, priority: int) -> None:
    assert outbox.priority_of(kind) == priority


def test_every_bulk_kind_is_one_a_feature_queues() -> None:
    """A typo in BULK_KINDS would silently leave that kind at normal priority."""
    queued = {
        reminders.KIND_REMINDER,
        prompt.KIND_PROMPT,
        sweep.KIND_DM,
        sweep.KIND_BUDDY,
        reachout_settings.KIND_SWEEP,
        sweep.KIND_SWEEP_ALL,
        reachout_settings.KIND_DIGEST,
        milestones.KIND_MILESTONE,
        retention.KIND_RETENTION,
        retention.KIND_LEAVER,
    }
    assert queued == outbox.BULK_KINDS


# ----- claiming -------------------------------------------------------------------------------


async def _enqueue(
    db: Database,
    clock: FrozenClock,
    key: str,
    kind: str,
    *,
    due_in: float = 0,
    target_id: int = 42,
) -> None:
    async with db.session() as session:
        await outbox.enqueue(
            session,
            key=key,
            kind=kind,
            target_type="user",
            target_id=target_id,
            payload=plain_payload(key),
            due_at=clock.now() + timedelta(seconds=due_in),
            now=clock.now(),
            guild_id=1,
        )


async def _claim(db: Database, clock: FrozenClock, owner: str, limit: int) -> list[str]:
    async with db.session() as session:
        rows = await outbox.claim_due(
            session, now=clock.now(), owner=owner, lease=LEASE, limit=limit
        )
    return [row.idempotency_key for row in rows]


async def test_an_alert_queued_after_a_bulk_backlog_is_sent_first(
    db: Database, clock: FrozenClock
) -> None:
    # 200 reach-out DMs, due well before the member asks for help.
    async with db.session() as session:
        for number in range(200):
            await outbox.enqueue(
                session,
                key=f"reachout:{number}",
                kind=sweep.KIND_DM,
                target_type="user",
                target_id=10_000 + number,
                payload=plain_payload(f"thinking of you {number}"),
                due_at=clock.now() - timedelta(minutes=30),
                now=clock.now() - timedelta(minutes=30),
            )
    await configure_escalation(db, clock)
    sender = FakeSender()
    dispatcher = make_dispatcher(db, clock, sender)
    assert dispatcher.batch < 200
    rid = await open_talk(db, clock)

    assert await dispatcher.run_once() == dispatcher.batch
    delivered = sender.take()
    assert (delivered[0].target_type, delivered[0].target_id) == ("channel", ALERTS)
    assert delivered[0].view == "talk.alert"
    # The rest of the batch is the oldest of the backlog, in the order it was queued.
    backlog = [f"thinking of you {n}" for n in range(dispatcher.batch - 1)]
    assert [d.content for d in delivered[1:]] == backlog
    async with db.session() as session:
        alert = await outbox.get_by_key(session, f"talk:{rid}:alert")
        counts = await outbox_counts(session)
    assert alert is not None
    assert alert.status == outbox.SENT
    assert counts[outbox.SENT] == dispatcher.batch


async def test_claim_order_is_priority_then_due_time_then_id(
    db: Database, clock: FrozenClock
) -> None:
    await _enqueue(db, clock, "bulk-oldest", "checkin_reminder", due_in=-600)
    await _enqueue(db, clock, "normal-old", "plain", due_in=-300)
    await _enqueue(db, clock, "urgent-new", "talk.reping", due_in=-1)
    await _enqueue(db, clock, "normal-new", "plain", due_in=-1)
    await _enqueue(db, clock, "urgent-old", "circle_note_report", due_in=-60)
    await _enqueue(db, clock, "normal-new-2", "plain", due_in=-1)  # same due time: by id
    await _enqueue(db, clock, "urgent-future", "talk.alert", due_in=30)  # not due yet
    async with db.session() as session:
        stored = {
            key: row.priority
            for key in ("bulk-oldest", "normal-old", "urgent-new")
            if (row := await outbox.get_by_key(session, key)) is not None
        }
    assert stored == {"bulk-oldest": outbox.BULK, "normal-old": outbox.NORMAL, "urgent-new": 0}

    assert await _claim(db, clock, "a", limit=3) == ["urgent-old", "urgent-new", "normal-old"]
    assert await _claim(db, clock, "b", limit=10) == ["normal-new", "normal-new-2", "bulk-oldest"]
    assert await _claim(db, clock, "c", limit=10) == []
    clock.advance(seconds=30)
    assert await _claim(db, clock, "c", limit=10) == ["urgent-future"]


async def test_expired_leases_are_reclaimed_before_pending_messages(
    db: Database, clock: FrozenClock
) -> None:
    for number in range(3):
        await _enqueue(db, clock, f"bulk-{number}", "reachout_dm", due_in=-10 + number)
    assert await _claim(db, clock, "crashed", limit=10) == ["bulk-0", "bulk-1", "bulk-2"]
    clock.advance(minutes=1)
    await _enqueue(db, clock, "busy", "plain")
    assert await _claim(db, clock, "alive", limit=10) == ["busy"]  # leased until +3 min
    for number in range(3):
        await _enqueue(db, clock, f"urgent-{number}", "talk.alert", due_in=-number)

    clock.advance(minutes=1)  # "crashed"'s lease ends exactly now: not expired yet
    assert await _claim(db, clock, "peek", limit=1) == ["urgent-2"]
    clock.advance(seconds=1)
    # Four rows fit: the three whose dispatcher died come first although they are bulk, and
    # "busy" (its lease still running) is not taken.
    # (Returned most urgent first, as the dispatcher sends them.)
    claimed = await _claim(db, clock, "rescuer", limit=4)
    assert claimed == ["urgent-1", "bulk-0", "bulk-1", "bulk-2"]
    async with db.session() as session:
        rows = {k: await outbox.get_by_key(session, k) for k in ("bulk-0", "busy", "urgent-0")}
    assert rows["bulk-0"] is not None
    assert (rows["bulk-0"].lease_owner, rows["bulk-0"].attempts) == ("rescuer", 2)
    assert rows["busy"] is not None
    assert rows["busy"].lease_owner == "alive"
    assert rows["urgent-0"] is not None
    assert rows["urgent-0"].status == outbox.PENDING


async def test_a_limit_smaller_than_the_expired_rows_takes_only_expired_ones(
    db: Database, clock: FrozenClock
) -> None:
    await _enqueue(db, clock, "bulk", "reachout_dm", due_in=-30)
    await _enqueue(db, clock, "normal", "plain", due_in=-20)
    assert await _claim(db, clock, "crashed", limit=10) == ["normal", "bulk"]
    clock.advance(minutes=3)
    await _enqueue(db, clock, "urgent", "talk.alert")
    # The expired rows keep their own priority order among themselves.
    assert await _claim(db, clock, "rescuer", limit=1) == ["normal"]
    assert await _claim(db, clock, "rescuer", limit=1) == ["bulk"]
    assert await _claim(db, clock, "rescuer", limit=1) == ["urgent"]
