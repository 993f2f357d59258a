"""The outbox dispatcher driving the escalation ladder on both backends, with a fake sender:
each step goes out once, at its time, rendered from the request's state when it falls due."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select, update

from bot.db.engine import Database
from bot.db.models import OutboxMessage, SupportRequest
from bot.db.repositories import outbox
from bot.domain.escalation import Urgency
from bot.jobs.delivery import (
    Delivery,
    Outcome,
    Retry,
    Sent,
    Undeliverable,
    plain_payload,
)
from bot.jobs.outbox import OutboxDispatcher, backoff
from bot.services.escalation import config, ladder, requests
from bot.services.escalation.requests import Opened
from tests.helpers import FrozenClock

GUILD, MEMBER, MOD, MOD2 = 100, 200, 300, 301
ALERTS, MODS, SUPPORT, SECOND_TIER, ON_DUTY = 10, 20, 30, 40, 50


class FakeSender:
    """Records every delivery; answers Sent unless told otherwise for matching deliveries."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.rules: list[tuple[Callable[[Delivery], bool], Outcome, int | None]] = []
        self._next_id = 5000
        self.last_sent_id: int | None = None

    def answer(
        self, when: Callable[[Delivery], bool], outcome: Outcome, times: int | None = None
    ) -> None:
        """Answer `outcome` to deliveries matching `when`, `times` times (None: always)."""
        self.rules.append((when, outcome, times))

    async def deliver(self, delivery: Delivery) -> Outcome:
        self.deliveries.append(delivery)
        for index, (when, outcome, times) in enumerate(self.rules):
            if when(delivery):
                if times is not None:
                    if times <= 1:
                        del self.rules[index]
                    else:
                        self.rules[index] = (when, outcome, times - 1)
                return outcome
        self._next_id += 1
        self.last_sent_id = self._next_id
        return Sent(channel_id=delivery.target_id, message_id=self._next_id)

    def take(self) -> list[Delivery]:
        """New messages delivered since the last call (edits of earlier messages aside)."""
        taken, self.deliveries = self.deliveries, []
        return [d for d in taken if getattr(d, "edit_message_id", None) is None]


def to_alerts(delivery: Delivery) -> bool:
    return delivery.target_type == "channel" and delivery.target_id == ALERTS


def _dispatcher(
    db: Database, clock: FrozenClock, sender: FakeSender, owner: str | None = None
) -> OutboxDispatcher:
    return OutboxDispatcher(
        db, clock, sender, ladder.handlers(db, clock), owner=owner, per_second=10_000
    )


async def _configure(db: Database, clock: FrozenClock, **extra: int) -> None:
    await config.configure(
        db,
        clock,
        GUILD,
        MOD,
        alert_channel_id=ALERTS,
        moderator_role_id=MODS,
        support_channel_id=SUPPORT,
        **extra,  # type: ignore[arg-type]
    )


async def _open(
    db: Database, clock: FrozenClock, member: int = MEMBER, urgency: Urgency = Urgency.STRUGGLING
) -> int:
    result = await requests.open_request(
        db, clock, guild_id=GUILD, member_id=member, urgency=urgency, locale="en-GB"
    )
    assert isinstance(result, Opened)
    return result.request.request_id


async def _row(db: Database, key: str) -> OutboxMessage:
    async with db.session() as session:
        row = await outbox.get_by_key(session, key)
    assert row is not None, key
    return row


async def _drain(dispatcher: OutboxDispatcher, passes: int = 3) -> None:
    for _ in range(passes):
        await dispatcher.run_once()


async def test_the_ladder_goes_out_once_each_at_its_time(db: Database, clock: FrozenClock) -> None:
    await _configure(db, clock, second_tier_role_id=SECOND_TIER)
    sender = FakeSender()
    dispatcher = _dispatcher(db, clock, sender)
    rid = await _open(db, clock)

    assert await dispatcher.run_once() == 1
    [alert] = sender.take()
    assert (alert.target_type, alert.target_id) == ("channel", ALERTS)
    assert alert.ping_roles == (MODS,)
    assert f"<@&{MODS}>" in (alert.content or "")
    assert alert.view == "talk.alert"
    assert alert.view_args == {"request_id": rid}
    info = await requests.get_request(db, rid)
    assert (info.alert_channel_id, info.alert_message_id) == (ALERTS, 5001)

    clock.advance(minutes=4, seconds=59)
    await _drain(dispatcher)
    assert sender.take() == []

    clock.advance(seconds=1)
    await _drain(dispatcher)
    [reping] = sender.take()
    assert (reping.target_id, reping.ping_roles, reping.reply_to) == (ALERTS, (MODS,), 5001)
    assert "Still waiting" in (reping.content or "")

    clock.advance(minutes=10)
    await _drain(dispatcher)
    deliveries = sender.take()
    assert len(deliveries) == 2
    [escalate] = [d for d in deliveries if d.target_type == "channel"]
    [member] = [d for d in deliveries if d.target_type == "user"]
    assert escalate.ping_roles == (SECOND_TIER,)
    assert escalate.reply_to == 5001
    assert member.target_id == MEMBER
    assert member.ping_roles == ()
    assert "116 123" in str(member.embeds)  # resources in the member's locale

    clock.advance(hours=2)
    assert await dispatcher.run_once() == 0
    assert sender.take() == []
    async with db.session() as session:
        assert await outbox.count_by_status(session) == {outbox.SENT: 4}


async def test_crisis_escalation_pings_moderators_without_a_second_tier(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    sender = FakeSender()
    dispatcher = _dispatcher(db, clock, sender)
    await _open(db, clock, urgency=Urgency.CRISIS)
    await dispatcher.run_once()
    clock.advance(minutes=2)
    await dispatcher.run_once()
    clock.advance(minutes=3)
    await dispatcher.run_once()
    deliveries = sender.take()
    assert len(deliveries) == 4
    assert [d.ping_roles for d in deliveries if d.target_type == "channel"] == [(MODS,)] * 3


async def test_a_step_for_a_claimed_request_is_skipped(db: Database, clock: FrozenClock) -> None:
    await _configure(db, clock)
    sender = FakeSender()
    dispatcher = _dispatcher(db, clock, sender)
    rid = await _open(db, clock)
    await dispatcher.run_once()
    sender.take()
    clock.advance(minutes=3)
    await requests.claim(db, clock, rid, MOD)
    clock.advance(minutes=30)
    await _drain(dispatcher)
    assert sender.take() == []
    assert (await _row(db, f"talk:{rid}:g0:reping")).status == outbox.CANCELLED

    # Even a step that escaped cancellation checks the request when it falls due.
    other = await _open(db, clock, member=MEMBER + 1)
    await dispatcher.run_once()
    sender.take()
    async with db.session() as session:
        await session.execute(
            update(SupportRequest)
            .where(SupportRequest.id == other)
            .values(status="claimed", claimed_by=MOD)
        )
    clock.advance(minutes=5)
    await _drain(dispatcher)
    assert sender.take() == []
    row = await _row(db, f"talk:{other}:g0:reping")
    assert row.status == outbox.CANCELLED
    assert row.last_error == "the request is no longer waiting"


async def test_a_hand_off_pings_again_and_silences_the_old_generation(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    sender = FakeSender()
    dispatcher = _dispatcher(db, clock, sender)
    rid = await _open(db, clock)
    await dispatcher.run_once()
    [alert] = sender.take()

    # A dispatcher takes the first re-ping and dies; meanwhile the request is claimed and
    # handed off. The orphaned g0 step must not fire when its lease runs out.
    clock.advance(minutes=5)
    async with db.session() as session:
        [orphan] = await outbox.claim_due(
            session, now=clock.now(), owner="dead", lease=timedelta(minutes=2), limit=10
        )
    assert orphan.idempotency_key == f"talk:{rid}:g0:reping"
    await requests.claim(db, clock, rid, MOD)
    await requests.hand_off(db, clock, rid, MOD)

    await dispatcher.run_once()
    [handoff] = sender.take()
    assert "handed off" in (handoff.content or "")
    assert (handoff.target_id, handoff.ping_roles, handoff.reply_to) == (ALERTS, (MODS,), 5001)

    clock.advance(minutes=2, seconds=1)  # the orphan's lease expires
    await _drain(dispatcher)
    assert sender.take() == []
    old = await _row(db, f"talk:{rid}:g0:reping")
    assert old.status == outbox.CANCELLED
    assert "handed off" in (old.last_error or "")

    clock.advance(minutes=3)  # the new generation's re-ping (5 min after the hand-off)
    await _drain(dispatcher)
    [reping] = sender.take()
    assert "Still waiting" in (reping.content or "")
    assert alert.view == "talk.alert"


async def test_not_configured_waits_and_tells_the_owner_once(
    db: Database, clock: FrozenClock
) -> None:
    sender = FakeSender()
    dispatcher = _dispatcher(db, clock, sender)
    rid = await _open(db, clock)
    for _ in range(4):  # minutes 0 to 3: nowhere to send the alert yet
        await _drain(dispatcher)
        clock.advance(minutes=1)
    [notice] = sender.take()
    assert (notice.target_type, notice.target_id) == ("guild_owner", GUILD)
    assert "/setup escalation" in (notice.content or "")
    alert_row = await _row(db, f"talk:{rid}:alert")
    assert alert_row.status == outbox.PENDING
    assert alert_row.last_error == "escalation is not set up"
    problem = (await config.get_config(db, GUILD)).alert_problem
    assert problem is not None
    assert "isn't set up" in problem

    await _configure(db, clock)  # at minute 4, when the alert is next looked at
    await _drain(dispatcher)
    [alert] = sender.take()
    assert (alert.target_id, alert.ping_roles) == (ALERTS, (MODS,))
    assert (await requests.get_request(db, rid)).alert_message_id == sender.last_sent_id
    assert (await config.get_config(db, GUILD)).alert_problem is None


async def test_an_alert_channel_without_permission_is_retried_and_the_owner_told(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    sender = FakeSender()
    sender.answer(to_alerts, Undeliverable("no_permission", "Missing Permissions"), times=3)
    dispatcher = _dispatcher(db, clock, sender)
    rid = await _open(db, clock)

    await dispatcher.run_once()
    assert len(sender.take()) == 1
    row = await _row(db, f"talk:{rid}:alert")
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
        await _drain(dispatcher)
        assert sender.take() == []
        clock.advance(seconds=1)
        await _drain(dispatcher)
        assert [d.target_id for d in sender.take()] == [ALERTS]  # refused again, no notice

    clock.advance(minutes=1)
    await _drain(dispatcher)
    [alert] = sender.take()
    assert alert.view == "talk.alert"
    assert (await requests.get_request(db, rid)).alert_message_id == sender.last_sent_id
    assert (await config.get_config(db, GUILD)).alert_problem is None
    assert (await _row(db, f"talk:{rid}:alert")).attempts == 4


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
    dispatcher = _dispatcher(db, clock, sender)
    for attempt in range(1, 8):
        await dispatcher.run_once()
        row = await _row(db, "hello")
        assert (row.status, row.attempts) == (outbox.PENDING, attempt)
        assert row.due_at == clock.now() + backoff(attempt)
        clock.advance(seconds=backoff(attempt).total_seconds() - 1)
        assert await dispatcher.run_once() == 0
        clock.advance(seconds=1)
    await dispatcher.run_once()
    row = await _row(db, "hello")
    assert (row.status, row.attempts, row.last_error) == (outbox.FAILED, 8, "gave up: 503")
    assert [d.content for d in sender.take()] == ["hello there"] * 8
    clock.advance(days=1)
    assert await dispatcher.run_once() == 0


async def test_an_alert_never_gives_up(db: Database, clock: FrozenClock) -> None:
    await _configure(db, clock)
    sender = FakeSender()
    sender.answer(lambda d: d.view == "talk.alert", Retry("503"))
    dispatcher = _dispatcher(db, clock, sender)
    rid = await _open(db, clock)
    for _ in range(10):
        await _drain(dispatcher, passes=1)
        clock.advance(minutes=15)
    row = await _row(db, f"talk:{rid}:alert")
    assert (row.status, row.attempts) == (outbox.PENDING, 10)


async def test_a_crashed_dispatcher_is_recovered_without_duplicates(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    sender = FakeSender()
    first = _dispatcher(db, clock, sender, owner="first")
    second = _dispatcher(db, clock, sender, owner="second")
    rid = await _open(db, clock)

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
    await _open(db, clock, member=MEMBER + 1, urgency=Urgency.CRISIS)
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


async def test_the_on_duty_role_is_pinged_while_someone_is_on_duty(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock, on_duty_role_id=ON_DUTY)
    sender = FakeSender()
    dispatcher = _dispatcher(db, clock, sender)
    assert await config.set_duty(db, clock, GUILD, MOD, on=True)
    await _open(db, clock)
    await dispatcher.run_once()
    [alert] = sender.take()
    assert alert.ping_roles == (ON_DUTY,)
    assert f"<@&{ON_DUTY}>" in (alert.content or "")
    assert f"<@&{MODS}>" not in (alert.content or "")

    assert await config.set_duty(db, clock, GUILD, MOD, on=False)
    await _open(db, clock, member=MEMBER + 1)
    await dispatcher.run_once()
    [alert] = sender.take()
    assert alert.ping_roles == (MODS,)
