"""The life of a support request on both backends: what each transition saves, queues and
audits, and what it refuses."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from bot.db.engine import Database
from bot.db.models import AuditEntry, OutboxMessage, SupportRequest
from bot.db.repositories import escalation as escalation_repo
from bot.db.repositories import outbox
from bot.domain.escalation import Actor, NotModerator, Status, TransitionRefused, Urgency
from bot.services.escalation import config, info, requests
from bot.services.escalation.requests import AlreadyOpen, NotYours, Opened, Raised
from bot.services.privacy import member_data
from tests.helpers import FrozenClock

GUILD, MEMBER, MOD, MOD2 = 100, 200, 300, 301
ALERTS, MODS, SUPPORT = 10, 20, 30
OTHER_GUILD, OTHER_MODS = 101, 21


def moderator(user: int = MOD) -> Actor:
    return Actor(user, frozenset({MODS}))


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
) -> Opened | AlreadyOpen | Raised:
    return await requests.open_request(
        db,
        clock,
        guild_id=GUILD,
        member_id=member,
        urgency=urgency,
        locale="en-US",
        context=context,
    )


async def _record_alert(db: Database, clock: FrozenClock, request_id: int, message: int) -> None:
    """The outbox has posted the request's alert in the alert channel as `message`."""
    async with db.session() as session:
        await requests.record_alert(session, clock.now(), GUILD, request_id, ALERTS, message)


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


@pytest.mark.parametrize("urgency", [Urgency.STRUGGLING, Urgency.CHAT])
async def test_a_second_open_no_more_urgent_changes_nothing(
    db: Database, clock: FrozenClock, urgency: Urgency
) -> None:
    await _configure(db, clock)
    rid = await _opened(db, clock)
    before = await _outbox(db)
    clock.advance(minutes=10)
    again = await _open(db, clock, urgency=urgency)
    assert isinstance(again, AlreadyOpen)
    assert again.request.request_id == rid
    assert again.resources.lines  # still answered with resources
    assert set(await _outbox(db)) == set(before)
    async with db.session() as session:
        assert len((await session.scalars(select(SupportRequest))).all()) == 1
    # Claimed still counts as active.
    await requests.claim(db, clock, GUILD, rid, moderator())
    assert isinstance(await _open(db, clock), AlreadyOpen)


async def test_asking_more_urgently_raises_the_open_request(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    rid = await _opened(db, clock, urgency=Urgency.CHAT)
    clock.advance(minutes=3)
    now = clock.now()
    raised = await _open(db, clock, urgency=Urgency.CRISIS)
    assert isinstance(raised, Raised)
    assert raised.previous is Urgency.CHAT
    assert (raised.request.request_id, raised.request.urgency) == (rid, Urgency.CRISIS)
    assert raised.request.generation == 1
    rows = await _outbox(db)
    # The old ladder falls silent; the new one runs at crisis pace from now.
    assert rows[f"talk:{rid}:g0:reping"].status == outbox.CANCELLED
    assert _due(rows, f"talk:{rid}:g1:reping") == now + timedelta(minutes=2)
    assert _due(rows, f"talk:{rid}:g1:escalate") == now + timedelta(minutes=5)
    note = rows[f"talk:{rid}:g1:raised"]
    assert (note.kind, note.due_at, note.payload["ping"]) == ("talk.again", now, True)
    assert any(key.startswith(f"talk:{rid}:refresh:") for key in rows)  # the alert is edited
    assert (MEMBER, "talk.urgency_raised", rid) in await _audit(db)
    # The queue sees the new urgency.
    other = await _opened(db, clock, member=MEMBER + 1, urgency=Urgency.STRUGGLING)
    assert [r.request_id for r in await requests.queue(db, GUILD)] == [rid, other]


async def test_raising_a_claimed_request_tells_the_moderator_with_the_member(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    rid = await _opened(db, clock, urgency=Urgency.CHAT)
    await requests.claim(db, clock, GUILD, rid, moderator())
    await requests.record_thread(db, clock, GUILD, rid, 777, MOD)
    raised = await _open(db, clock, urgency=Urgency.STRUGGLING)
    assert isinstance(raised, Raised)
    assert (raised.request.status, raised.request.generation) == (Status.CLAIMED, 0)
    rows = await _outbox(db)
    note = rows[f"talk:{rid}:raised:struggling"]
    assert (note.kind, note.target_id, note.payload["claimed_by"]) == ("talk.to_claimer", 777, MOD)
    assert not any(key.startswith(f"talk:{rid}:g1:") for key in rows)  # no ladder: someone's there


async def test_asking_again_after_closing_opens_a_new_request_at_once(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    rid = await _opened(db, clock)
    cancelled = await requests.cancel(db, clock, rid, MEMBER)
    assert cancelled.status is Status.CANCELLED
    clock.advance(seconds=5)
    again = await _open(db, clock, urgency=Urgency.CRISIS)
    assert isinstance(again, Opened)
    assert again.request.request_id > rid
    assert again.request.status is Status.OPEN
    # The first alert was never posted, so this one gets its own, pinging at once.
    assert (again.plan.fold, again.plan.ping) == (False, True)
    assert f"talk:{again.request.request_id}:alert" in await _outbox(db)


async def test_asking_again_folds_into_the_posted_alert_and_limits_pings(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    first = await _opened(db, clock)
    await _record_alert(db, clock, first, 5001)
    await requests.cancel(db, clock, first, MEMBER)
    clock.advance(minutes=1)
    second = await _open(db, clock)  # same urgency, a minute after the ping: no ping now
    assert isinstance(second, Opened)
    assert (second.plan.fold, second.plan.ping, second.plan.repeat) == (True, False, 1)
    sid = second.request.request_id
    rows = await _outbox(db)
    assert f"talk:{sid}:alert" not in rows
    assert rows[f"talk:{sid}:again"].payload == {
        "request_id": sid,
        "generation": 0,
        "reason": "again",
        "ping": False,
        "repeat": 1,
    }
    assert rows[f"talk:{sid}:g0:reping"].status == outbox.PENDING  # its ladder runs
    moved = await requests.get_request(db, sid)
    assert (moved.alert_channel_id, moved.alert_message_id, moved.repeat) == (ALERTS, 5001, 1)
    assert (await requests.get_request(db, first)).alert_message_id is None
    # More urgent: pinged at once, still on the same alert.
    await requests.cancel(db, clock, sid, MEMBER)
    third = await _open(db, clock, urgency=Urgency.CRISIS)
    assert isinstance(third, Opened)
    assert (third.plan.fold, third.plan.ping, third.plan.repeat) == (True, True, 2)


async def test_context_is_encrypted_at_rest_and_appended(db: Database, clock: FrozenClock) -> None:
    secret = "I lost my job today and I can't sleep"
    rid = await _opened(db, clock, context=f"  {secret}  ")
    async with db.session() as session:
        raw = (await session.execute(text("SELECT context FROM support_requests"))).scalar_one()
    assert raw
    assert secret not in raw
    assert "lost my job" not in raw
    assert (await requests.context_for_thread(db, GUILD, rid)) == secret

    clock.advance(minutes=2)
    info = await requests.add_context(db, clock, rid, MEMBER, " and my cat is ill ")
    assert info.has_context
    words = await requests.context_for_thread(db, GUILD, rid)
    assert words is not None
    assert words.startswith(secret)
    assert words.endswith("and my cat is ill")
    async with db.session() as session:
        raw = (await session.execute(text("SELECT context FROM support_requests"))).scalar_one()
    assert "cat is ill" not in raw

    await _configure(db, clock)
    _, read = await requests.read_context(db, clock, GUILD, rid, moderator())
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


async def test_claim_rules_and_the_ladder_waits(db: Database, clock: FrozenClock) -> None:
    await _configure(db, clock)
    rid = await _opened(db, clock)
    with pytest.raises(TransitionRefused, match="can't claim your own"):
        await requests.claim(db, clock, GUILD, rid, moderator(MEMBER))
    with pytest.raises(NotModerator):
        await requests.claim(db, clock, GUILD, rid, Actor(MEMBER + 1))
    assert (await requests.get_request(db, rid)).status is Status.OPEN

    clock.advance(minutes=1)
    claimed = await requests.claim(db, clock, GUILD, rid, moderator())
    assert (claimed.status, claimed.claimed_by, claimed.claimed_at) == (
        Status.CLAIMED,
        MOD,
        clock.now(),
    )
    with pytest.raises(TransitionRefused, match="Someone has already claimed this request"):
        await requests.claim(db, clock, GUILD, rid, moderator(MOD2))
    assert (await requests.get_request(db, rid)).claimed_by == MOD

    rows = await _outbox(db)
    # The ladder's rows wait (they skip themselves while claimed), so an undone claim can
    # give them back as they were.
    for step in ("reping", "escalate", "member"):
        assert rows[f"talk:{rid}:g0:{step}"].status == outbox.PENDING
    assert rows[f"talk:{rid}:alert"].status == outbox.PENDING  # the alert still goes out
    assert (MOD, "talk.claimed", rid) in await _audit(db)


async def test_hand_off_starts_a_new_generation(db: Database, clock: FrozenClock) -> None:
    await _configure(db, clock)
    rid = await _opened(db, clock, urgency=Urgency.CRISIS)
    with pytest.raises(TransitionRefused, match="Only a claimed request"):
        await requests.hand_off(db, clock, GUILD, rid, moderator())
    clock.advance(minutes=1)
    await requests.claim(db, clock, GUILD, rid, moderator())
    clock.advance(minutes=10)
    now = clock.now()
    handed = await requests.hand_off(db, clock, GUILD, rid, moderator())
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

    # The old generation's steps were tidied away; a second moderator can now claim it.
    assert all(rows[f"talk:{rid}:g0:{s}"].status == outbox.CANCELLED for s in ("reping", "member"))
    await requests.claim(db, clock, GUILD, rid, moderator(MOD2))
    assert (await requests.get_request(db, rid)).claimed_by == MOD2


async def test_resolve_and_cancel_close_and_audit(db: Database, clock: FrozenClock) -> None:
    await _configure(db, clock)
    first = await _opened(db, clock)
    second = await _opened(db, clock, member=MEMBER + 1)
    resolved = await requests.resolve(db, clock, GUILD, first, moderator())
    assert (resolved.status, resolved.closed_by, resolved.closed_at) == (
        Status.RESOLVED,
        MOD,
        clock.now(),
    )
    with pytest.raises(TransitionRefused, match="already closed"):
        await requests.resolve(db, clock, GUILD, first, moderator(MOD2))
    with pytest.raises(TransitionRefused, match="already closed"):
        await requests.claim(db, clock, GUILD, first, moderator(MOD2))
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
    await requests.claim(db, clock, GUILD, rid, moderator())
    await requests.read_context(db, clock, GUILD, rid, moderator())
    await requests.hand_off(db, clock, GUILD, rid, moderator())
    await requests.claim(db, clock, GUILD, rid, moderator(MOD2))
    await requests.resolve(db, clock, GUILD, rid, moderator(MOD2))
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
    await _configure(db, clock)
    with pytest.raises(TransitionRefused, match="can't find"):
        await requests.claim(db, clock, GUILD, 9999, moderator())


async def test_queue_is_most_urgent_then_longest_waiting(db: Database, clock: FrozenClock) -> None:
    await _configure(db, clock)
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
    await requests.claim(db, clock, GUILD, crisis_claimed, moderator())
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


async def test_a_second_active_request_is_refused_by_the_index_and_the_unit_goes_on(
    db: Database, clock: FrozenClock
) -> None:
    """What a /talk that lost the race meets (another process saved the member's request
    between its read and its insert): the save answers None rather than failing, so the
    same unit of work reads the winner (on PostgreSQL a failed statement would end it)."""
    await _configure(db, clock)
    first = await _opened(db, clock)
    values = {
        "guild_id": GUILD,
        "member_id": MEMBER,
        "urgency": Urgency.CHAT.value,
        "status": Status.OPEN.value,
        "locale": None,
        "context": None,
        "generation": 0,
        "created_at": clock.now(),
        "updated_at": clock.now(),
        "repeat": 0,
    }
    async with db.session() as session:
        assert await escalation_repo.insert_request(session, values) is None
        active = await escalation_repo.active_request(session, GUILD, MEMBER)
        assert active is not None
        assert active.id == first
    # Once it is closed, the member's next request is saved.
    await requests.cancel(db, clock, first, MEMBER, guild_id=GUILD)
    async with db.session() as session:
        second = await escalation_repo.insert_request(session, values)
    assert second is not None
    assert second > first


async def test_context_stops_growing_at_what_one_embed_can_show(
    db: Database, clock: FrozenClock
) -> None:
    rid = await _opened(db, clock, context="x" * 1000)
    await requests.add_context(db, clock, rid, MEMBER, "y" * 1000)
    await requests.add_context(db, clock, rid, MEMBER, "z" * 1000)
    before = await requests.context_for_thread(db, GUILD, rid)
    with pytest.raises(TransitionRefused, match="private thread"):
        await requests.add_context(db, clock, rid, MEMBER, "w" * 1000)
    assert await requests.context_for_thread(db, GUILD, rid) == before  # nothing changed


async def test_recording_a_thread_reports_a_request_closed_meanwhile(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    rid = await _opened(db, clock)
    await requests.claim(db, clock, GUILD, rid, moderator())
    await requests.cancel(db, clock, rid, MEMBER)  # the member is OK, just as the thread opens
    info = await requests.record_thread(db, clock, GUILD, rid, 777, MOD)
    assert info.thread_id == 777  # remembered, never orphaned
    assert not info.status.active  # so the caller closes the thread instead of using it
    assert (MOD, "talk.thread_opened", rid) in await _audit(db)


async def test_every_action_on_a_request_of_another_server_is_refused_and_changes_nothing(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    await config.configure(
        db,
        clock,
        OTHER_GUILD,
        MOD2,
        alert_channel_id=ALERTS + 1,
        moderator_role_id=OTHER_MODS,
        support_channel_id=SUPPORT + 1,
    )
    rid = await _opened(db, clock, context="only for Harbour's moderators")
    before = (await _outbox(db), await _audit(db))
    elsewhere = Actor(MOD2, frozenset({OTHER_MODS}))  # a moderator, of the other server
    for action in (requests.claim, requests.resolve, requests.read_context):
        with pytest.raises(TransitionRefused, match="can't find that request here"):
            await action(db, clock, OTHER_GUILD, rid, elsewhere)
    await requests.claim(db, clock, GUILD, rid, moderator())
    with pytest.raises(TransitionRefused, match="can't find that request here"):
        await requests.hand_off(db, clock, OTHER_GUILD, rid, elsewhere)
    with pytest.raises(TransitionRefused, match="can't find that request here"):
        await requests.record_thread(db, clock, OTHER_GUILD, rid, 888, MOD2)
    with pytest.raises(TransitionRefused, match="can't find that request here"):
        await requests.context_for_thread(db, OTHER_GUILD, rid)
    # The member's own buttons, pressed in another server, are refused too.
    with pytest.raises(TransitionRefused, match="can't find that request here"):
        await requests.add_context(db, clock, rid, MEMBER, "hi", guild_id=OTHER_GUILD)
    with pytest.raises(TransitionRefused, match="can't find that request here"):
        await requests.cancel(db, clock, rid, MEMBER, guild_id=OTHER_GUILD)
    info = await requests.get_request(db, rid)
    assert (info.status, info.claimed_by, info.thread_id) == (Status.CLAIMED, MOD, None)
    audit_rows = await _audit(db)
    assert [a for a in audit_rows if a not in before[1]] == [(MOD, "talk.claimed", rid)]


async def test_an_undone_claim_gives_the_request_back_with_its_ladder(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    rid = await _opened(db, clock)
    clock.advance(minutes=1)
    claimed = await requests.claim(db, clock, GUILD, rid, moderator())
    assert claimed.claimed_at is not None
    # The re-ping fell due while claimed and was skipped (as the dispatcher does), and the
    # escalation is being looked at by a dispatcher right now (leased).
    async with db.session() as session:
        await session.execute(
            text("UPDATE outbox_messages SET status = 'cancelled' WHERE idempotency_key = :k"),
            {"k": f"talk:{rid}:g0:reping"},
        )
        await session.execute(
            text("UPDATE outbox_messages SET status = 'sending' WHERE idempotency_key = :k"),
            {"k": f"talk:{rid}:g0:escalate"},
        )
    clock.advance(minutes=5)
    assert not await requests.undo_claim(db, clock, GUILD, rid, MOD2, claimed.claimed_at)
    assert await requests.undo_claim(db, clock, GUILD, rid, MOD, claimed.claimed_at)
    info = await requests.get_request(db, rid)
    assert (info.status, info.claimed_by, info.generation) == (Status.OPEN, None, 1)
    rows = await _outbox(db)
    # A new generation carries every step that was not sent: overdue ones go out now, the
    # others keep their time; the old generation's rows fall silent whatever a dispatcher
    # does with them.
    reping = rows[f"talk:{rid}:g1:reping"]
    assert (reping.status, reping.due_at, reping.payload["generation"]) == (
        outbox.PENDING,
        clock.now(),
        1,
    )
    assert rows[f"talk:{rid}:g1:escalate"].due_at == clock.now() + timedelta(minutes=9)
    assert rows[f"talk:{rid}:g1:member"].target_id == MEMBER
    assert (MOD, "talk.claim_undone", rid) in await _audit(db)
    # Only that claim can be given back: after another claim, the old one's time is stale.
    again = await requests.claim(db, clock, GUILD, rid, moderator())
    assert not await requests.undo_claim(db, clock, GUILD, rid, MOD, claimed.claimed_at)
    assert again.claimed_at is not None
    # A claim after a hand-off (its thread already exists) can be given back too.
    await requests.record_thread(db, clock, GUILD, rid, 777, MOD)
    await requests.hand_off(db, clock, GUILD, rid, moderator())
    clock.advance(seconds=1)
    second = await requests.claim(db, clock, GUILD, rid, moderator(MOD2))
    assert second.claimed_at is not None
    assert await requests.undo_claim(db, clock, GUILD, rid, MOD2, second.claimed_at)
    assert (await requests.get_request(db, rid)).status is Status.OPEN


async def test_erasing_a_member_who_said_im_ok_now_deletes_the_request(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    rid = await _opened(db, clock)
    await requests.cancel(db, clock, rid, MEMBER)
    erased = await member_data.delete_member(db, clock, GUILD, MEMBER)
    assert "support_requests" not in erased.kept
    assert erased.deleted["support_requests"] == 1
    async with db.session() as session:
        assert (await session.scalars(select(SupportRequest))).all() == []
    assert [k for k in await _outbox(db) if k.startswith(f"talk:{rid}:")] == []


async def test_raising_again_and_again_pings_within_the_flood_limit(
    db: Database, clock: FrozenClock
) -> None:
    """chat → crisis (raised: pinged) → OK → chat (folded) → crisis (raised again, a moment
    after a crisis ping: held back) … the team is pinged about crisis once in CRISIS_QUIET."""
    await _configure(db, clock)
    first = await _opened(db, clock, urgency=Urgency.CHAT)
    await _record_alert(db, clock, first, 5001)
    raised = await _open(db, clock, urgency=Urgency.CRISIS)
    assert isinstance(raised, Raised)
    assert raised.pinged
    rid = first
    for _ in range(3):
        clock.advance(seconds=20)
        await requests.cancel(db, clock, rid, MEMBER)
        folded = await _open(db, clock, urgency=Urgency.CHAT)
        assert isinstance(folded, Opened)
        assert (folded.plan.fold, folded.plan.ping) == (True, False)
        rid = folded.request.request_id
        again = await _open(db, clock, urgency=Urgency.CRISIS)
        assert isinstance(again, Raised)
        assert not again.pinged
        rows = await _outbox(db)
        assert rows[f"talk:{rid}:g1:raised"].payload["ping"] is False
    clock.advance(minutes=2)
    await requests.cancel(db, clock, rid, MEMBER)
    later = await _open(db, clock, urgency=Urgency.CRISIS)
    assert isinstance(later, Opened)
    assert later.plan.ping  # the quiet period is over


async def test_an_alert_posted_after_its_request_was_erased_is_withdrawn(
    db: Database, clock: FrozenClock
) -> None:
    await _record_alert(db, clock, 4242, 5009)
    rows = await _outbox(db)
    edit = rows["talk-erased:4242:5009"]
    assert (edit.kind, edit.target_id, edit.payload["edit_message_id"]) == ("plain", ALERTS, 5009)
    assert "erased" in edit.payload["content"]


@pytest.mark.parametrize("context", [None, "my words"])
async def test_the_hot_paths_rows_show_a_request_as_the_orm_does(
    db: Database, clock: FrozenClock, context: str | None
) -> None:
    """The outbox reads a request as a plain row (`message_context`, `place_alert`) rather
    than through the ORM: what the alert shows must be the same either way, words or none
    (their presence only: the words themselves stay encrypted, unread)."""
    await _configure(db, clock)
    rid = await _opened(db, clock, context=context)
    await requests.claim(db, clock, GUILD, rid, Actor(MOD, manage_server=True))
    async with db.session() as session:
        orm = await escalation_repo.get_request(session, rid)
        assert orm is not None
        expected = info.request_info(orm)
    async with db.lookup() as session:
        looked_up = await escalation_repo.message_context(session, GUILD, rid)
    assert looked_up.request is not None
    assert info.request_info(looked_up.request) == expected
    async with db.lookup() as session:  # a stale button from another server names it
        elsewhere = await escalation_repo.message_context(session, GUILD + 1, rid)
    assert elsewhere.request is None
    assert expected.has_context is (context is not None)
    async with db.session() as session:
        placed = await escalation_repo.place_alert(session, GUILD, rid, ALERTS, 777)
        assert await escalation_repo.place_alert(session, GUILD + 1, rid, ALERTS, 778) is None
    assert placed is not None
    assert info.request_info(placed) == dataclasses.replace(
        expected, alert_channel_id=ALERTS, alert_message_id=777
    )
