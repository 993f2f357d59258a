"""The life of a support request on both backends: what each transition saves, queues and
audits, and what it refuses."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from bot.db.engine import Database
from bot.db.models import AuditEntry, OutboxMessage, SupportRequest
from bot.db.repositories import outbox
from bot.domain.escalation import Status, TransitionRefused, Urgency
from bot.services.escalation import config, requests
from bot.services.escalation.requests import AlreadyOpen, CoolingDown, NotYours, Opened
from tests.helpers import FrozenClock

GUILD, MEMBER, MOD, MOD2 = 100, 200, 300, 301
ALERTS, MODS, SUPPORT = 10, 20, 30


async def _configure(db: Database, clock: FrozenClock) -> None:
    await config.configure(
        db,
        clock,
        GUILD,
        MOD,
        alert_channel_id=ALERTS,
        moderator_role_id=MODS,
        support_channel_id=SUPPORT,
    )


async def _open(
    db: Database,
    clock: FrozenClock,
    member: int = MEMBER,
    urgency: Urgency = Urgency.STRUGGLING,
    context: str | None = None,
) -> Opened | AlreadyOpen | CoolingDown:
    return await requests.open_request(
        db,
        clock,
        guild_id=GUILD,
        member_id=member,
        urgency=urgency,
        locale="en-US",
        context=context,
    )


async def _opened(
    db: Database,
    clock: FrozenClock,
    member: int = MEMBER,
    urgency: Urgency = Urgency.STRUGGLING,
    context: str | None = None,
) -> int:
    result = await _open(db, clock, member, urgency, context)
    assert isinstance(result, Opened)
    return result.request.request_id


async def _outbox(db: Database) -> dict[str, OutboxMessage]:
    async with db.session() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
    return {row.idempotency_key: row for row in rows}


async def _audit(db: Database) -> list[tuple[int, str, int | None]]:
    async with db.session() as session:
        rows = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.subject_type == "support_request")
                .order_by(AuditEntry.id)
            )
        ).all()
    return [(row.actor_id, row.action, row.subject_id) for row in rows]


def _due(rows: dict[str, OutboxMessage], key: str) -> datetime:
    return rows[key].due_at


@pytest.mark.parametrize(
    ("urgency", "first", "second"), [(Urgency.STRUGGLING, 5, 15), (Urgency.CRISIS, 2, 5)]
)
async def test_open_saves_the_request_and_queues_alert_and_ladder(
    db: Database, clock: FrozenClock, urgency: Urgency, first: int, second: int
) -> None:
    await _configure(db, clock)
    now = clock.now()
    result = await _open(db, clock, urgency=urgency)
    assert isinstance(result, Opened)
    request = result.request
    assert (request.status, request.urgency, request.member_id) == (Status.OPEN, urgency, MEMBER)
    assert request.generation == 0
    assert result.resources.lines
    assert "988" in result.resources.lines[0]
    saved = await requests.get_request(db, request.request_id)
    assert saved.status is Status.OPEN
    assert saved.created_at == now

    rows = await _outbox(db)
    rid = request.request_id
    assert set(rows) == {
        f"talk:{rid}:alert",
        f"talk:{rid}:g0:reping",
        f"talk:{rid}:g0:escalate",
        f"talk:{rid}:g0:member",
    }
    alert = rows[f"talk:{rid}:alert"]
    assert (alert.kind, alert.target_type, alert.target_id) == ("talk.alert", "channel", ALERTS)
    assert alert.due_at == now
    assert alert.payload == {"request_id": rid}
    assert _due(rows, f"talk:{rid}:g0:reping") == now + timedelta(minutes=first)
    assert _due(rows, f"talk:{rid}:g0:escalate") == now + timedelta(minutes=second)
    member = rows[f"talk:{rid}:g0:member"]
    assert (member.target_type, member.target_id) == ("user", MEMBER)
    assert member.due_at == now + timedelta(minutes=second)
    assert all(row.status == outbox.PENDING for row in rows.values())
    assert await _audit(db) == [(MEMBER, "talk.opened", rid)]


async def test_a_second_open_while_active_changes_nothing(db: Database, clock: FrozenClock) -> None:
    rid = await _opened(db, clock)
    before = await _outbox(db)
    clock.advance(minutes=10)
    again = await _open(db, clock, urgency=Urgency.CRISIS)
    assert isinstance(again, AlreadyOpen)
    assert again.request.request_id == rid
    assert again.resources.lines  # still answered with resources
    assert set(await _outbox(db)) == set(before)
    async with db.session() as session:
        assert len((await session.scalars(select(SupportRequest))).all()) == 1
    # Claimed still counts as active.
    await requests.claim(db, clock, rid, MOD)
    assert isinstance(await _open(db, clock), AlreadyOpen)


async def test_a_new_request_right_after_cancelling_waits_for_the_cooldown(
    db: Database, clock: FrozenClock
) -> None:
    rid = await _opened(db, clock)
    cancelled = await requests.cancel(db, clock, rid, MEMBER)
    assert cancelled.status is Status.CANCELLED
    clock.advance(seconds=30)
    waiting = await _open(db, clock)
    assert isinstance(waiting, CoolingDown)
    assert waiting.left == timedelta(seconds=30)
    assert waiting.resources.lines
    clock.advance(seconds=31)
    again = await _open(db, clock)
    assert isinstance(again, Opened)
    assert again.request.request_id != rid


async def test_context_is_encrypted_at_rest_and_appended(db: Database, clock: FrozenClock) -> None:
    secret = "I lost my job today and I can't sleep"
    rid = await _opened(db, clock, context=f"  {secret}  ")
    async with db.session() as session:
        raw = (await session.execute(text("SELECT context FROM support_requests"))).scalar_one()
    assert raw
    assert secret not in raw
    assert "lost my job" not in raw
    assert (await requests.context_for_thread(db, rid)) == secret

    clock.advance(minutes=2)
    info = await requests.add_context(db, clock, rid, MEMBER, " and my cat is ill ")
    assert info.has_context
    words = await requests.context_for_thread(db, rid)
    assert words is not None
    assert words.startswith(secret)
    assert words.endswith("and my cat is ill")
    async with db.session() as session:
        raw = (await session.execute(text("SELECT context FROM support_requests"))).scalar_one()
    assert "cat is ill" not in raw

    _, read = await requests.read_context(db, clock, rid, MOD)
    assert read == words
    assert (MOD, "talk.context_viewed", rid) in await _audit(db)


async def test_member_changes_are_refused_when_not_theirs_or_empty(
    db: Database, clock: FrozenClock
) -> None:
    rid = await _opened(db, clock)
    with pytest.raises(NotYours):
        await requests.add_context(db, clock, rid, MEMBER + 1, "hi")
    with pytest.raises(NotYours):
        await requests.cancel(db, clock, rid, MEMBER + 1)
    with pytest.raises(TransitionRefused, match="nothing to add"):
        await requests.add_context(db, clock, rid, MEMBER, "   ")
    with pytest.raises(ValueError, match="1000"):
        await requests.add_context(db, clock, rid, MEMBER, "x" * 1001)
    assert not (await requests.get_request(db, rid)).has_context
    await requests.cancel(db, clock, rid, MEMBER)
    with pytest.raises(TransitionRefused, match="already been closed"):
        await requests.add_context(db, clock, rid, MEMBER, "hello")


async def test_claim_rules_and_ladder_cancelled(db: Database, clock: FrozenClock) -> None:
    await _configure(db, clock)
    rid = await _opened(db, clock)
    with pytest.raises(TransitionRefused, match="can't claim your own"):
        await requests.claim(db, clock, rid, MEMBER)
    assert (await requests.get_request(db, rid)).status is Status.OPEN

    clock.advance(minutes=1)
    claimed = await requests.claim(db, clock, rid, MOD)
    assert (claimed.status, claimed.claimed_by, claimed.claimed_at) == (
        Status.CLAIMED,
        MOD,
        clock.now(),
    )
    with pytest.raises(TransitionRefused, match="Someone has already claimed this request"):
        await requests.claim(db, clock, rid, MOD2)
    assert (await requests.get_request(db, rid)).claimed_by == MOD

    rows = await _outbox(db)
    for step in ("reping", "escalate", "member"):
        assert rows[f"talk:{rid}:g0:{step}"].status == outbox.CANCELLED
    assert rows[f"talk:{rid}:alert"].status == outbox.PENDING  # the alert still goes out
    assert (MOD, "talk.claimed", rid) in await _audit(db)


async def test_hand_off_starts_a_new_generation(db: Database, clock: FrozenClock) -> None:
    await _configure(db, clock)
    rid = await _opened(db, clock, urgency=Urgency.CRISIS)
    with pytest.raises(TransitionRefused, match="Only a claimed request"):
        await requests.hand_off(db, clock, rid, MOD)
    clock.advance(minutes=1)
    await requests.claim(db, clock, rid, MOD)
    clock.advance(minutes=10)
    now = clock.now()
    handed = await requests.hand_off(db, clock, rid, MOD)
    assert (handed.status, handed.generation, handed.claimed_by) == (Status.OPEN, 1, None)

    rows = await _outbox(db)
    handoff = rows[f"talk:{rid}:g1:handoff"]
    assert (handoff.kind, handoff.due_at, handoff.target_id) == ("talk.reping", now, ALERTS)
    assert handoff.payload == {"request_id": rid, "generation": 1, "handoff": True}
    assert _due(rows, f"talk:{rid}:g1:reping") == now + timedelta(minutes=2)
    assert _due(rows, f"talk:{rid}:g1:escalate") == now + timedelta(minutes=5)
    assert _due(rows, f"talk:{rid}:g1:member") == now + timedelta(minutes=5)
    assert rows[f"talk:{rid}:g1:reping"].payload["generation"] == 1
    assert (MOD, "talk.handed_off", rid) in await _audit(db)

    # A second moderator can now claim it; that cancels the new generation's steps.
    await requests.claim(db, clock, rid, MOD2)
    rows = await _outbox(db)
    assert all(rows[f"talk:{rid}:g1:{s}"].status == outbox.CANCELLED for s in ("reping", "member"))


async def test_resolve_and_cancel_close_and_audit(db: Database, clock: FrozenClock) -> None:
    await _configure(db, clock)
    first = await _opened(db, clock)
    second = await _opened(db, clock, member=MEMBER + 1)
    resolved = await requests.resolve(db, clock, first, MOD)
    assert (resolved.status, resolved.closed_by, resolved.closed_at) == (
        Status.RESOLVED,
        MOD,
        clock.now(),
    )
    with pytest.raises(TransitionRefused, match="already closed"):
        await requests.resolve(db, clock, first, MOD2)
    with pytest.raises(TransitionRefused, match="already closed"):
        await requests.claim(db, clock, first, MOD2)
    cancelled = await requests.cancel(db, clock, second, MEMBER + 1)
    assert (cancelled.status, cancelled.closed_by) == (Status.CANCELLED, MEMBER + 1)
    rows = await _outbox(db)
    for rid in (first, second):
        assert rows[f"talk:{rid}:g0:reping"].status == outbox.CANCELLED
    audit = await _audit(db)
    assert (MOD, "talk.resolved", first) in audit
    assert (MEMBER + 1, "talk.cancelled", second) in audit
    assert await requests.queue(db, GUILD) == []


async def test_every_moderator_action_is_audited(db: Database, clock: FrozenClock) -> None:
    await _configure(db, clock)
    rid = await _opened(db, clock)
    await requests.claim(db, clock, rid, MOD)
    await requests.read_context(db, clock, rid, MOD)
    await requests.hand_off(db, clock, rid, MOD)
    await requests.claim(db, clock, rid, MOD2)
    await requests.resolve(db, clock, rid, MOD2)
    assert await _audit(db) == [
        (MEMBER, "talk.opened", rid),
        (MOD, "talk.claimed", rid),
        (MOD, "talk.context_viewed", rid),
        (MOD, "talk.handed_off", rid),
        (MOD2, "talk.claimed", rid),
        (MOD2, "talk.resolved", rid),
    ]
    async with db.session() as session:
        entries = (await session.scalars(select(AuditEntry))).all()
    assert all(entry.guild_id == GUILD for entry in entries)
    assert {e.action for e in entries} >= {"settings.escalation"}


async def test_unknown_request_is_refused(db: Database, clock: FrozenClock) -> None:
    with pytest.raises(TransitionRefused, match="can't find"):
        await requests.claim(db, clock, 9999, MOD)


async def test_queue_is_most_urgent_then_longest_waiting(db: Database, clock: FrozenClock) -> None:
    chat = await _opened(db, clock, member=1, urgency=Urgency.CHAT)
    clock.advance(minutes=1)
    struggling = await _opened(db, clock, member=2, urgency=Urgency.STRUGGLING)
    clock.advance(minutes=1)
    crisis_late = await _opened(db, clock, member=3, urgency=Urgency.CRISIS)
    clock.advance(minutes=1)
    closed = await _opened(db, clock, member=4, urgency=Urgency.CRISIS)
    await requests.cancel(db, clock, closed, 4)
    # A later crisis, claimed: still in the queue (active), after the one waiting longer.
    clock.advance(minutes=1)
    crisis_claimed = await _opened(db, clock, member=5, urgency=Urgency.CRISIS)
    await requests.claim(db, clock, crisis_claimed, MOD)
    other_guild = await requests.open_request(
        db, clock, guild_id=GUILD + 1, member_id=6, urgency=Urgency.CRISIS, locale=None
    )
    assert isinstance(other_guild, Opened)

    queue = await requests.queue(db, GUILD)
    assert [r.request_id for r in queue] == [crisis_late, crisis_claimed, struggling, chat]
    assert [r.status for r in queue].count(Status.CLAIMED) == 1


async def test_a_concurrent_double_open_yields_one_request(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    results = await asyncio.gather(
        _open(db, clock, context="first"), _open(db, clock, context="second")
    )
    assert sorted(type(r).__name__ for r in results) == ["AlreadyOpen", "Opened"]
    [opened] = [r for r in results if isinstance(r, Opened)]
    [already] = [r for r in results if isinstance(r, AlreadyOpen)]
    assert already.request.request_id == opened.request.request_id
    async with db.session() as session:
        assert len((await session.scalars(select(SupportRequest))).all()) == 1
    rows = await _outbox(db)
    assert len([k for k in rows if k.endswith(":alert")]) == 1
    assert [a for _, a, _ in await _audit(db)] == ["talk.opened"]


async def test_context_stops_growing_at_what_one_embed_can_show(
    db: Database, clock: FrozenClock
) -> None:
    rid = await _opened(db, clock, context="x" * 1000)
    await requests.add_context(db, clock, rid, MEMBER, "y" * 1000)
    await requests.add_context(db, clock, rid, MEMBER, "z" * 1000)
    before = await requests.context_for_thread(db, rid)
    with pytest.raises(TransitionRefused, match="private thread"):
        await requests.add_context(db, clock, rid, MEMBER, "w" * 1000)
    assert await requests.context_for_thread(db, rid) == before  # nothing changed


async def test_recording_a_thread_reports_a_request_closed_meanwhile(
    db: Database, clock: FrozenClock
) -> None:
    rid = await _opened(db, clock)
    await requests.claim(db, clock, rid, MOD)
    await requests.cancel(db, clock, rid, MEMBER)  # the member is OK, just as the thread opens
    info = await requests.record_thread(db, clock, rid, 777, MOD)
    assert info.thread_id == 777  # remembered, never orphaned
    assert not info.status.active  # so the caller closes the thread instead of using it
    assert (MOD, "talk.thread_opened", rid) in await _audit(db)
