"""The outbox dispatcher driving the escalation ladder on both backends, with a fake sender:
each step goes out once, at its time, rendered from the request's state when it falls due."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bot.db.engine import Database
from bot.db.models import SupportRequest
from bot.db.repositories import outbox
from bot.domain.escalation import Actor, Urgency
from bot.services.escalation import config, requests
from tests.helpers import FrozenClock, outbox_counts
from tests.jobs.ladder_support import (
    ALERTS,
    GUILD,
    MEMBER,
    MOD,
    MODS,
    ON_DUTY,
    SECOND_TIER,
    FakeSender,
    configure_escalation,
    drain,
    make_dispatcher,
    open_talk,
    outbox_row,
)


async def test_the_ladder_goes_out_once_each_at_its_time(db: Database, clock: FrozenClock) -> None:
    await configure_escalation(db, clock, second_tier_role_id=SECOND_TIER)
    sender = FakeSender()
    dispatcher = make_dispatcher(db, clock, sender)
    rid = await open_talk(db, clock)

    assert await dispatcher.run_once() == 1
    [alert] = sender.take()
    assert (alert.target_type, alert.target_id) == ("channel", ALERTS)
    assert alert.ping_roles == (MODS,)
    assert f"<@&{MODS}>" in (alert.content or "")
    assert alert.view == "talk.alert"
    assert alert.view_args == {"request_id": rid, "status": "open"}
    info = await requests.get_request(db, rid)
    assert (info.alert_channel_id, info.alert_message_id) == (ALERTS, 5001)

    clock.advance(minutes=4, seconds=59)
    await drain(dispatcher)
    assert sender.take() == []

    clock.advance(seconds=1)
    await drain(dispatcher)
    [reping] = sender.take()
    assert (reping.target_id, reping.ping_roles, reping.reply_to) == (ALERTS, (MODS,), 5001)
    assert "Still waiting" in (reping.content or "")

    clock.advance(minutes=10)
    await drain(dispatcher)
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
        assert await outbox_counts(session) == {outbox.SENT: 4}


async def test_crisis_escalation_pings_moderators_without_a_second_tier(
    db: Database, clock: FrozenClock
) -> None:
    await configure_escalation(db, clock)
    sender = FakeSender()
    dispatcher = make_dispatcher(db, clock, sender)
    await open_talk(db, clock, urgency=Urgency.CRISIS)
    await dispatcher.run_once()
    clock.advance(minutes=2)
    await dispatcher.run_once()
    clock.advance(minutes=3)
    await dispatcher.run_once()
    deliveries = sender.take()
    assert len(deliveries) == 4
    assert [d.ping_roles for d in deliveries if d.target_type == "channel"] == [(MODS,)] * 3


async def test_a_step_for_a_claimed_request_is_skipped(db: Database, clock: FrozenClock) -> None:
    await configure_escalation(db, clock)
    sender = FakeSender()
    dispatcher = make_dispatcher(db, clock, sender)
    rid = await open_talk(db, clock)
    await dispatcher.run_once()
    sender.take()
    clock.advance(minutes=3)
    await requests.claim(db, clock, GUILD, rid, Actor(MOD, manage_server=True))
    clock.advance(minutes=30)
    await drain(dispatcher)
    assert sender.take() == []
    assert (await outbox_row(db, f"talk:{rid}:g0:reping")).status == outbox.CANCELLED

    # Even a step that escaped cancellation checks the request when it falls due.
    other = await open_talk(db, clock, member=MEMBER + 1)
    await dispatcher.run_once()
    sender.take()
    async with db.session() as session:
        await session.execute(
            update(SupportRequest)
            .where(SupportRequest.id == other)
            .values(status="claimed", claimed_by=MOD)
        )
    clock.advance(minutes=5)
    await drain(dispatcher)
    assert sender.take() == []
    row = await outbox_row(db, f"talk:{other}:g0:reping")
    assert row.status == outbox.CANCELLED
    assert row.last_error == "the request is no longer waiting"


async def test_a_hand_off_pings_again_and_silences_the_old_generation(
    db: Database, clock: FrozenClock
) -> None:
    await configure_escalation(db, clock)
    sender = FakeSender()
    dispatcher = make_dispatcher(db, clock, sender)
    rid = await open_talk(db, clock)
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
    await requests.claim(db, clock, GUILD, rid, Actor(MOD, manage_server=True))
    await requests.hand_off(db, clock, GUILD, rid, Actor(MOD, manage_server=True))

    await dispatcher.run_once()
    [handoff] = sender.take()
    assert "handed off" in (handoff.content or "")
    assert (handoff.target_id, handoff.ping_roles, handoff.reply_to) == (ALERTS, (MODS,), 5001)

    clock.advance(minutes=2, seconds=1)  # the orphan's lease expires
    await drain(dispatcher)
    assert sender.take() == []
    old = await outbox_row(db, f"talk:{rid}:g0:reping")
    assert old.status == outbox.CANCELLED
    assert "handed off" in (old.last_error or "")

    clock.advance(minutes=3)  # the new generation's re-ping (5 min after the hand-off)
    await drain(dispatcher)
    [reping] = sender.take()
    assert "Still waiting" in (reping.content or "")
    assert alert.view == "talk.alert"


async def test_the_on_duty_role_is_pinged_while_someone_is_on_duty(
    db: Database, clock: FrozenClock
) -> None:
    await configure_escalation(db, clock, on_duty_role_id=ON_DUTY)
    sender = FakeSender()
    dispatcher = make_dispatcher(db, clock, sender)
    assert await config.set_duty(db, clock, GUILD, MOD, on=True)
    await open_talk(db, clock)
    await dispatcher.run_once()
    [alert] = sender.take()
    assert alert.ping_roles == (ON_DUTY,)
    assert f"<@&{ON_DUTY}>" in (alert.content or "")
    assert f"<@&{MODS}>" not in (alert.content or "")

    assert await config.set_duty(db, clock, GUILD, MOD, on=False)
    await open_talk(db, clock, member=MEMBER + 1)
    await dispatcher.run_once()
    [alert] = sender.take()
    assert alert.ping_roles == (MODS,)
