"""'I need to talk' end to end, the moderators' side: claim, resolve, hand off, the ladder
across restarts, broken channels, duty and set-up — on both backends."""

from __future__ import annotations

from sqlalchemy import text

from bot.client import KinfolkBot
from bot.db.engine import Database
from tests.e2e.conftest import StartBot
from tests.e2e.driver import settle
from tests.e2e.escalation.world import (
    Circle,
    alert_texts,
    alerts,
    configure,
    embed_text,
    field,
    request_row,
    talk,
    the_alert,
)
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock


async def test_claim_opens_a_private_thread_with_exactly_the_member_and_moderator(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database
) -> None:
    await talk(fake, circle, circle.alice, "chat")
    alert = await the_alert(fake, circle)
    request_id = (await request_row(database, circle.alice)).id
    claim = await fake.click(alert, f"talk:claim:{request_id}", circle.mod)
    await claim.response()
    await fake.wait_for(lambda: claim.followups, what="the claim follow-up")
    assert "private thread" in claim.followups[-1].content
    [thread] = [t for t in fake.threads if t.parent_id == circle.support_id]
    assert thread.type == 12  # private
    assert not thread.invitable
    humans = thread.thread_members - {circle.world.bot_user.id}
    assert humans == {circle.alice, circle.mod}
    intro = fake.messages(thread.id)[0]
    assert fake.pinged(intro) == {f"user:{circle.alice}", f"user:{circle.mod}"}
    alert = alerts(fake, circle)[0]
    assert f"Claimed by <@{circle.mod}>" in field(alert, "Status")
    assert field(alert, "Private thread") == f"<#{thread.id}>"
    row = await request_row(database, circle.alice)
    assert (row.status, row.claimed_by, row.thread_id) == ("claimed", circle.mod, thread.id)


async def test_resolve_closes_the_thread(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database
) -> None:
    await talk(fake, circle, circle.alice, "chat")
    request_id = (await request_row(database, circle.alice)).id
    claim = await fake.click(await the_alert(fake, circle), f"talk:claim:{request_id}", circle.mod)
    await fake.wait_for(lambda: claim.followups, what="the claim follow-up")
    resolve = await fake.click(alerts(fake, circle)[0], f"talk:resolve:{request_id}", circle.mod)
    await resolve.response()
    [thread] = fake.threads
    await fake.wait_for(lambda: thread.archived and thread.locked, what="the thread archived")
    assert "closed this conversation" in fake.messages(thread.id)[-1].content
    alert = alerts(fake, circle)[0]
    assert f"Resolved by <@{circle.mod}>" in field(alert, "Status")
    assert (await request_row(database, circle.alice)).status == "resolved"


async def test_hand_off_frees_the_request_for_another_moderator(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database
) -> None:
    await talk(fake, circle, circle.alice, "struggling")
    request_id = (await request_row(database, circle.alice)).id
    claim = await fake.click(await the_alert(fake, circle), f"talk:claim:{request_id}", circle.mod)
    await fake.wait_for(lambda: claim.followups, what="the claim follow-up")
    handed = await fake.click(alerts(fake, circle)[0], f"talk:handoff:{request_id}", circle.mod)
    await handed.response()
    await fake.wait_for(
        lambda: any("handed off" in t for t in alert_texts(fake, circle)), what="hand-off ping"
    )
    assert "Waiting" in field(alerts(fake, circle)[0], "Status")
    again = await fake.click(alerts(fake, circle)[0], f"talk:claim:{request_id}", circle.mod2)
    await fake.wait_for(lambda: again.followups, what="the second claim follow-up")
    [thread] = fake.threads  # the same private thread, now with the new moderator
    assert circle.mod2 in thread.thread_members
    assert (await request_row(database, circle.alice)).claimed_by == circle.mod2


async def test_full_ladder_with_an_injected_clock(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await talk(fake, circle, circle.alice, "crisis")
    await the_alert(fake, circle)
    clock.advance(minutes=1, seconds=59)
    await settle(fake, database, clock)
    assert alert_texts(fake, circle) == []
    clock.advance(seconds=2)  # the crisis re-ping timer: 2 minutes
    await settle(fake, database, clock)
    [reping] = fake.messages(circle.alerts_id)[1:]
    assert "Still waiting" in reping.content
    assert fake.pinged(reping) == {f"role:{circle.moderators_role}"}
    clock.advance(minutes=3)  # the crisis second timer: 5 minutes
    await settle(fake, database, clock)
    escalation = fake.messages(circle.alerts_id)[2]
    assert "Nobody has claimed" in escalation.content
    assert fake.pinged(escalation) == {f"role:{circle.admins_role}"}
    [dm] = fake.dm_messages(circle.alice)
    assert "haven't found someone for you yet" in dm.content
    assert "988" in embed_text(dm.embeds)
    clock.advance(hours=2)
    await settle(fake, database, clock)
    assert len(fake.messages(circle.alerts_id)) == 3
    assert len(fake.dm_messages(circle.alice)) == 1


async def test_a_restart_mid_ladder_neither_drops_nor_doubles_a_ping(
    fake: FakeDiscord,
    circle: Circle,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await start_bot()
    await configure(fake, circle)
    await talk(fake, circle, circle.alice, "struggling")
    await the_alert(fake, circle)
    clock.advance(minutes=5)
    await settle(fake, database, clock)
    assert [t for t in alert_texts(fake, circle) if "Still waiting" in t] != []
    await start_bot()  # stop and start: a restart between the two timers
    clock.advance(minutes=10)
    await settle(fake, database, clock)
    await start_bot()
    clock.advance(minutes=30)
    await settle(fake, database, clock)
    texts = alert_texts(fake, circle)
    assert sum("Still waiting" in t for t in texts) == 1
    assert sum("Nobody has claimed" in t for t in texts) == 1
    assert len(fake.dm_messages(circle.alice)) == 1
    # The alert's buttons still work after the restarts.
    request_id = (await request_row(database, circle.alice)).id
    claim = await fake.click(alerts(fake, circle)[0], f"talk:claim:{request_id}", circle.mod)
    await fake.wait_for(lambda: claim.followups, what="the claim follow-up")
    assert (await request_row(database, circle.alice)).status == "claimed"


async def test_a_missing_alert_channel_keeps_the_request_and_tells_the_owner_once(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    world = circle.world
    world.channels.pop(circle.alerts_id)  # deleted on Discord's side
    world.guilds[circle.guild_id].channel_ids.remove(circle.alerts_id)
    answer = await (await talk(fake, circle, circle.alice, "crisis")).original_message()
    assert "988" in embed_text(answer.embeds)  # the member is still answered with resources
    await fake.wait_for(lambda: fake.dm_messages(circle.owner_id), what="the owner told")
    for _ in range(3):
        clock.advance(minutes=1)
        await settle(fake, database, clock)
    [notice] = fake.dm_messages(circle.owner_id)
    assert "no longer exists" in notice.content
    assert (await request_row(database, circle.alice)).status == "open"
    about = await fake.invoke(*circle.where(circle.mod), "about")
    status = next(
        f["value"]
        for f in (await about.original_message()).embeds[0]["fields"]
        if f["name"] == "In this server"
    )
    assert "no longer exists" in status
    fake.take_unimplemented()  # the 404s for the deleted channel were the point


async def test_a_non_moderator_cannot_claim(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database
) -> None:
    await talk(fake, circle, circle.alice, "chat")
    alert = await the_alert(fake, circle)
    request_id = (await request_row(database, circle.alice)).id
    refused = await fake.click(alert, f"talk:claim:{request_id}", circle.bob)
    reply = await refused.original_message()
    assert refused.is_ephemeral
    assert "Only the server's moderators" in reply.content
    assert (await request_row(database, circle.alice)).status == "open"
    assert "Waiting" in field(alerts(fake, circle)[0], "Status")
    assert fake.threads == []
    queue = await fake.invoke(*circle.where(circle.bob), "support queue")
    assert "Only the server's moderators" in (await queue.original_message()).content


async def test_duty_roster_decides_who_is_pinged(
    fake: FakeDiscord, circle: Circle, kinfolk: KinfolkBot
) -> None:
    await configure(fake, circle, on_duty_role=circle.on_duty_role)
    on = await fake.invoke(*circle.where(circle.mod), "support duty on")
    await on.response()
    assert on.is_ephemeral
    await fake.wait_for(lambda: "on duty" in on.record.original.content, what="duty reply")
    member = circle.world.guilds[circle.guild_id].members[circle.mod]
    assert circle.on_duty_role in member.roles
    await talk(fake, circle, circle.alice, "chat")
    alert = await the_alert(fake, circle)
    assert fake.pinged(alert) == {f"role:{circle.on_duty_role}"}
    off = await fake.invoke(*circle.where(circle.mod), "support duty off")
    await off.response()
    assert off.is_ephemeral
    await fake.wait_for(lambda: "off duty" in off.record.original.content, what="duty reply")
    assert circle.on_duty_role not in member.roles


async def test_queue_lists_the_most_urgent_first(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot
) -> None:
    await talk(fake, circle, circle.alice, "chat")
    await talk(fake, circle, circle.bob, "crisis")
    queue = await fake.invoke(*circle.where(circle.mod), "support queue")
    lines = (await queue.original_message()).embeds[0]["description"].splitlines()
    assert f"<@{circle.bob}>" in lines[0]
    assert f"<@{circle.alice}>" in lines[1]


async def test_setup_escalation_is_for_managers_only(
    fake: FakeDiscord, circle: Circle, kinfolk: KinfolkBot, database: Database
) -> None:
    refused = await fake.invoke(
        *circle.where(circle.mod),
        "setup escalation",
        options={
            "alert_channel": circle.alerts_id,
            "moderator_role": circle.moderators_role,
            "support_channel": circle.support_id,
        },
    )
    assert "Manage Server" in (await refused.original_message()).content
    bad = await configure(fake, circle, first_minutes=20, second_minutes=10)
    assert "longer than the first" in (await bad.original_message()).content
    async with database.session() as session:
        rows = await session.scalar(text("SELECT count(*) FROM escalation_settings"))
    assert rows == 0
