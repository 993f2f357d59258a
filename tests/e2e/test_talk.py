"""'I need to talk' end to end: the real bot against the stand-in, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.services.escalation import requests
from tests.e2e.conftest import StartBot, assert_every_message_sets_allowed_mentions
from tests.e2e.talk_world import (
    Circle,
    alert_texts,
    alerts,
    build_circle,
    configure,
    field,
    request_row,
    settle,
    talk,
    the_alert,
)
from tests.fakediscord import FakeDiscord, point_discord_py_at
from tests.helpers import FrozenClock

RESOURCE_MARKERS = ("988", "116 123", "9-8-8", "13 11 14", "findahelpline.com", "emergency number")


@pytest.fixture
def circle() -> Circle:
    return build_circle()


@pytest.fixture
async def fake(circle: Circle) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(circle.world, bucket=(50, 1.0)) as server:
        undo = point_discord_py_at(server.api_base, server.gateway_url)
        try:
            yield server
            assert_every_message_sets_allowed_mentions(server)
            everyone = [
                m.id for m in circle.world.message_index.values() if "everyone" in server.pinged(m)
            ]
            assert everyone == [], "a message pinged @everyone"
        finally:
            undo()


@pytest.fixture
async def ready(fake: FakeDiscord, circle: Circle, kinfolk: KinfolkBot) -> KinfolkBot:
    await configure(fake, circle)
    return kinfolk


def embed_text(embeds: list[dict]) -> str:
    return "\n".join(str(e.get("title", "")) + str(e.get("description", "")) for e in embeds)


@pytest.mark.parametrize("feeling", ["chat", "struggling", "crisis"])
async def test_each_urgency_answers_at_once_and_alerts_moderators(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, feeling: str
) -> None:
    handle = await talk(fake, circle, circle.alice, feeling)
    answer = await handle.original_message()
    assert handle.is_ephemeral
    text_shown = embed_text(answer.embeds)
    assert all(marker in text_shown for marker in RESOURCE_MARKERS)
    first = answer.embeds[0]["title"]
    if feeling == "crisis":
        assert first == "🆘 If you need help right now"  # resources first and prominent
    else:
        assert first == "I'm here, and the team has been told"
    row = await request_row(database, circle.alice)
    assert (row.urgency, row.status) == (feeling, "open")
    alert = await the_alert(fake, circle)
    assert fake.pinged(alert) == {f"role:{circle.moderators_role}"}
    assert field(alert, "Member") == f"<@{circle.alice}>"
    assert "Waiting" in field(alert, "Status")

    async def recorded() -> bool:
        return (await request_row(database, circle.alice)).alert_message_id == alert.id

    await fake.wait_for(recorded, what="the alert's message id recorded")


async def test_picker_then_one_tap(fake: FakeDiscord, circle: Circle, ready: KinfolkBot) -> None:
    picker = await talk(fake, circle, circle.alice)
    message = await picker.original_message()
    assert picker.is_ephemeral
    chosen = await fake.click(message, "talk:start:struggling", circle.alice)
    answer = await chosen.original_message()
    assert "I'm here" in embed_text(answer.embeds)
    alert = await the_alert(fake, circle)
    assert "Struggling" in field(alert, "Urgency")


async def test_context_is_encrypted_and_shown_only_on_request(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, backend: str
) -> None:
    secret = f"I lost my job today and @everyone keeps asking <@&{circle.moderators_role}>"
    answer = await (await talk(fake, circle, circle.alice, "struggling")).original_message()
    request_id = (await request_row(database, circle.alice)).id
    opened = await fake.click(answer, f"talk:context:{request_id}", circle.alice)
    await opened.response()
    assert opened.modal is not None
    submitted = await fake.submit_modal(opened, {"talk-context": secret})
    assert "added that" in (await submitted.original_message()).content
    # At rest: not in the database, whichever backend.
    async with database.session() as session:
        stored = await session.scalar(text("SELECT context FROM support_requests"))
    assert secret not in stored
    if backend == "sqlite":
        raw = b"".join(p.read_bytes() for p in Path(database.engine.url.database).parent.glob("*"))
        assert b"lost my job" not in raw
    alert = await the_alert(fake, circle)
    assert "lost my job" not in str(alert.embeds)  # not left in channel history
    shown = await fake.click(alert, f"talk:show:{request_id}", circle.mod)
    reply = await shown.original_message()
    assert shown.is_ephemeral
    assert reply.embeds[0]["description"] == secret


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


async def test_second_talk_offers_to_add_instead_of_duplicating(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database
) -> None:
    await talk(fake, circle, circle.alice, "chat")
    await the_alert(fake, circle)
    again = await talk(fake, circle, circle.alice, "crisis")
    reply = await again.original_message()
    assert "already have a request open" in reply.content
    request_id = (await request_row(database, circle.alice)).id
    assert {f"talk:context:{request_id}", f"talk:cancel:{request_id}"} <= _custom_ids(reply)
    assert len(alerts(fake, circle)) == 1


async def test_member_cancels_and_the_ladder_stops(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    answer = await (await talk(fake, circle, circle.alice, "chat")).original_message()
    request_id = (await request_row(database, circle.alice)).id
    await the_alert(fake, circle)
    cancelled = await fake.click(answer, f"talk:cancel:{request_id}", circle.alice)
    await cancelled.response()
    assert "closed your request" in (await cancelled.original_message()).content
    await fake.wait_for(
        lambda: "OK now" in field(alerts(fake, circle)[0], "Status"), what="alert updated"
    )
    clock.advance(minutes=30)
    await settle(fake, database, clock)
    assert alert_texts(fake, circle) == []
    assert fake.dm_messages(circle.alice) == []
    # A cancelled request cannot be claimed.
    assert fake.messages(circle.alerts_id)[0].components  # buttons remain for the record


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


async def test_server_resources_come_first_and_user_text_pings_nobody(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot
) -> None:
    chosen = await fake.invoke(
        *circle.where(circle.owner_id), "setup resources", options={"mode": "extend"}
    )
    await chosen.response()
    assert chosen.modal is not None
    line = "@everyone Our counsellor: call 0800 123 456"
    saved = await fake.submit_modal(chosen, {"resources-lines": line})
    await saved.original_message()
    answer = await (await talk(fake, circle, circle.alice, "struggling")).original_message()
    resources = next(e for e in answer.embeds if "Support you can reach" in e["title"])
    assert resources["description"].split("\n• ")[1] == line
    assert "988" in resources["description"]


def _custom_ids(message: object) -> set[str]:
    ids: set[str] = set()
    for row in getattr(message, "components", []):
        for component in row.get("components", []):
            if "custom_id" in component:
                ids.add(component["custom_id"])
    return ids


@pytest.mark.parametrize("failure", ["unreachable", "too slow"])
async def test_a_failed_save_still_shows_crisis_resources_in_time(
    fake: FakeDiscord,
    circle: Circle,
    ready: KinfolkBot,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    async def broken(*_: object, **__: object) -> None:
        if failure == "too slow":
            await asyncio.sleep(10)  # e.g. the database is restarting
        raise ConnectionRefusedError("database restarting")

    monkeypatch.setattr(requests, "open_request", broken)
    handle = await talk(fake, circle, circle.alice, "crisis")
    answer = await handle.original_message()  # the stand-in fails the test past 3 s
    assert handle.is_ephemeral
    assert "couldn't save your request" in answer.content
    assert "error id" not in answer.content  # an outage, not a bug
    assert all(marker in embed_text(answer.embeds) for marker in RESOURCE_MARKERS)
    assert answer.embeds[0]["title"] == "🆘 If you need help right now"


async def test_a_form_opened_before_a_restart_can_be_sent_after_it(
    fake: FakeDiscord, circle: Circle, start_bot: StartBot, database: Database
) -> None:
    await start_bot()
    await configure(fake, circle)
    answer = await (await talk(fake, circle, circle.alice, "struggling")).original_message()
    request_id = (await request_row(database, circle.alice)).id
    opened = await fake.click(answer, f"talk:context:{request_id}", circle.alice)
    await opened.response()
    assert opened.modal is not None
    await start_bot()  # Kinfolk restarts while the member is typing
    sent = await fake.submit_modal(opened, {"talk-context": "it's been a long week"})
    reply = await sent.original_message()
    assert sent.is_ephemeral
    assert "added that" in reply.content
    row = await request_row(database, circle.alice)
    assert (row.id, row.context) == (request_id, "it's been a long week")
