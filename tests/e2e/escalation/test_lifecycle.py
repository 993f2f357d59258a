"""'I need to talk' as real communities use it, end to end on both backends: a member erased
while others ask, buttons that name another server's request, "I'm OK now" and then asking
again, asking more urgently, and a claim whose answer to Discord fails. Two servers share the
bot: Harbour (the talk world) and Lighthouse."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from sqlalchemy import select

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import AuditEntry, Base, OutboxMessage, SupportRequest
from bot.jobs.delivery import PROBLEM_NOT_POSTED, Delivery, Sent, Undeliverable
from tests.e2e.driver import settle
from tests.e2e.escalation.world import (
    RESOURCE_MARKERS,
    Circle,
    alert_texts,
    alerts,
    build_circle,
    configure,
    embed_text,
    field,
    request_row,
    talk,
)
from tests.fakediscord import FakeDiscord, InteractionHandle, StoredMessage
from tests.helpers import FrozenClock


@dataclass
class Lighthouse:
    guild_id: int
    owner_id: int
    general_id: int
    alerts_id: int
    support_id: int
    moderators_role: int
    keeper: int  # a moderator there
    carol: int


@pytest.fixture
def servers() -> tuple[Circle, Lighthouse]:
    """Harbour (the talk world) and Lighthouse, in one world the stand-in serves."""
    circle = build_circle()
    world = circle.world
    guild = world.add_guild("Lighthouse")
    moderators = world.add_role(guild.id, "Keepers")
    lighthouse = Lighthouse(
        guild_id=guild.id,
        owner_id=world.guilds[guild.id].owner_id,
        general_id=world.add_text_channel(guild.id, "general").id,
        alerts_id=world.add_text_channel(guild.id, "keepers").id,
        support_id=world.add_text_channel(guild.id, "support").id,
        moderators_role=moderators.id,
        keeper=world.add_member(guild.id, "keeper", roles=[moderators.id]).id,
        carol=world.add_member(guild.id, "carol").id,
    )
    return circle, lighthouse


@pytest.fixture
def circle(servers: tuple[Circle, Lighthouse]) -> Circle:
    return servers[0]


@pytest.fixture
def lighthouse(servers: tuple[Circle, Lighthouse]) -> Lighthouse:
    return servers[1]


async def carol_talks(fake: FakeDiscord, lighthouse: Lighthouse, feeling: str) -> InteractionHandle:
    handle = await fake.invoke(
        lighthouse.guild_id,
        lighthouse.general_id,
        lighthouse.carol,
        "talk",
        options={"feeling": feeling},
    )
    await handle.response()
    return handle


@pytest.fixture
async def ready(
    fake: FakeDiscord, circle: Circle, lighthouse: Lighthouse, kinfolk: KinfolkBot
) -> KinfolkBot:
    await configure(fake, circle)
    options = {
        "alert_channel": lighthouse.alerts_id,
        "moderator_role": lighthouse.moderators_role,
        "support_channel": lighthouse.support_id,
    }
    handle = await fake.invoke(
        lighthouse.guild_id,
        lighthouse.general_id,
        lighthouse.owner_id,
        "setup escalation",
        options=options,
    )
    await handle.original_message()
    return kinfolk


def alerts_in(fake: FakeDiscord, channel_id: int) -> list[StoredMessage]:
    return [
        m
        for m in fake.messages(channel_id)
        if m.embeds and m.embeds[0].get("title", "").endswith("Someone needs to talk")
    ]


async def alert_showing(fake: FakeDiscord, channel_id: int, request_id: int) -> StoredMessage:
    def found() -> StoredMessage | None:
        return next(
            (
                m
                for m in alerts_in(fake, channel_id)
                if f"talk:claim:{request_id}" in set(m.custom_ids)
            ),
            None,
        )

    return await fake.wait_for(found, what=f"the alert of request {request_id}")


async def answered(handle: InteractionHandle, fake: FakeDiscord) -> StoredMessage:
    """The private answer to a press answered by a deferral and a follow-up."""
    await handle.response()
    await fake.wait_for(lambda: handle.followups, what="the follow-up")
    answer = handle.followups[-1]
    assert answer.ephemeral
    return answer


async def erase(fake: FakeDiscord, guild_id: int, channel_id: int, member: int) -> None:
    warning = await fake.invoke(guild_id, channel_id, member, "privacy delete")
    confirm = await fake.click(
        await warning.original_message(), f"privacy:delete:{guild_id}", member
    )
    assert (await confirm.original_message()).content.startswith("Done.")


async def waiting_rows(database: Database, prefix: str) -> list[str]:
    async with database.read() as session:
        keys = await session.scalars(
            select(OutboxMessage.idempotency_key).where(
                OutboxMessage.idempotency_key.like(prefix + "%"),
                OutboxMessage.status.in_(("pending", "sending")),
            )
        )
        return list(keys)


async def test_after_an_erasure_the_next_request_gets_a_new_id_and_its_own_alert(
    fake: FakeDiscord,
    circle: Circle,
    lighthouse: Lighthouse,
    ready: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await talk(fake, circle, circle.alice, "chat")
    first = (await request_row(database, circle.alice)).id
    old_alert = await alert_showing(fake, circle.alerts_id, first)
    await erase(fake, *circle.where(circle.alice))
    await settle(fake, database, clock)
    # Her alert is a neutral note now: it names nobody and has no buttons left.
    old_alert = fake.world.message_index[old_alert.id]
    assert str(circle.alice) not in old_alert.content + str(old_alert.embeds)
    assert set(old_alert.custom_ids) == set()
    assert await waiting_rows(database, f"talk:{first}:") == []

    # Another member, in each server, in crisis: each gets a new request and its own alert.
    await talk(fake, circle, circle.bob, "crisis")
    bobs = (await request_row(database, circle.bob)).id
    await carol_talks(fake, lighthouse, "crisis")
    carols = (await request_row(database, lighthouse.carol)).id
    assert len({first, bobs, carols}) == 3
    assert min(bobs, carols) > first
    bob_alert = await alert_showing(fake, circle.alerts_id, bobs)
    assert fake.pinged(bob_alert) == {f"role:{circle.moderators_role}"}
    assert "In crisis" in field(bob_alert, "Urgency")
    carol_alert = await alert_showing(fake, lighthouse.alerts_id, carols)
    assert fake.pinged(carol_alert) == {f"role:{lighthouse.moderators_role}"}


async def test_buttons_naming_another_servers_request_change_nothing_and_show_nothing(
    fake: FakeDiscord,
    circle: Circle,
    lighthouse: Lighthouse,
    ready: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    carol = await carol_talks(fake, lighthouse, "crisis")
    theirs = (await request_row(database, lighthouse.carol)).id
    add = await fake.click(
        await carol.original_message(), f"talk:context:{theirs}", lighthouse.carol
    )
    await add.response()
    await fake.submit_modal(add, {"talk-context": "the words only Lighthouse may read"})
    await talk(fake, circle, circle.alice, "chat")
    ours = (await request_row(database, circle.alice)).id
    harbour_alert = await alert_showing(fake, circle.alerts_id, ours)

    # Harbour's moderator presses buttons that name Lighthouse's request, on Harbour's alert.
    for action in ("claim", "show", "resolve", "handoff"):
        pressed = await fake.forge_click(harbour_alert, f"talk:{action}:{theirs}", circle.mod)
        await pressed.response()
        replies = [await pressed.original_message()] if pressed.is_ephemeral else []
        if not replies:
            replies = [await answered(pressed, fake)]
        [reply] = replies
        assert "can't find that request here" in reply.content, action
        assert "only Lighthouse" not in reply.content + str(reply.embeds)
    row = await request_row(database, lighthouse.carol)
    assert (row.status, row.claimed_by, row.thread_id) == ("open", None, None)
    assert fake.threads == []
    # Nothing about it was recorded as Harbour's moderator's doing.
    async with database.read() as session:
        acted = (
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.actor_id == circle.mod)
            )
        ).all()
    assert not any(a.startswith("talk.") for a in acted)
    # A server-bound button of another server is refused too (a check-in mood for Lighthouse).
    mood = await fake.forge_click(
        harbour_alert, f"checkin:mood:{lighthouse.guild_id}:1", circle.alice
    )
    reply = await mood.original_message()
    assert mood.is_ephemeral
    assert "belongs to another server" in reply.content


async def test_im_ok_now_then_asking_again_opens_a_new_request_at_once_on_the_same_alert(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    first_answer = await talk(fake, circle, circle.alice, "chat")
    first = (await request_row(database, circle.alice)).id
    alert = await alert_showing(fake, circle.alerts_id, first)
    ok = await fake.click(
        await first_answer.original_message(), f"talk:cancel:{first}", circle.alice
    )
    assert "I've closed your request" in (await ok.original_message()).content
    await settle(fake, database, clock)

    clock.advance(seconds=20)
    again = await talk(fake, circle, circle.alice, "crisis")
    answer = await again.original_message()
    assert "a moment ago" not in answer.content
    assert answer.embeds[0]["title"] == "🆘 If you need help right now"
    assert all(marker in embed_text(answer.embeds) for marker in RESOURCE_MARKERS)
    second = (await request_row(database, circle.alice)).id
    assert second != first
    assert (await request_row(database, circle.alice)).status == "open"
    await settle(fake, database, clock)
    # Folded into the alert the team already has: it shows the new request and its buttons,
    # and a reply pings at once (crisis is more urgent than the chat they were told of).
    assert [m.id for m in alerts(fake, circle)] == [alert.id]
    alert = await alert_showing(fake, circle.alerts_id, second)
    assert "In crisis" in field(alert, "Urgency")
    assert "Waiting" in field(alert, "Status")
    assert "asked again" in field(alert, "Asked again")
    [note] = [m for m in fake.messages(circle.alerts_id) if "asked again" in m.content]
    assert fake.pinged(note) == {f"role:{circle.moderators_role}"}

    # Closing and asking again at once, no more urgent: no new ping now, and the member is
    # told so; the crisis ladder pings two minutes later if nobody has claimed it.
    await fake.click(answer, f"talk:cancel:{second}", circle.alice)
    await settle(fake, database, clock)
    third_answer = await (await talk(fake, circle, circle.alice, "crisis")).original_message()
    assert "Your new request is with the team" in embed_text(third_answer.embeds)
    third = (await request_row(database, circle.alice)).id
    await settle(fake, database, clock)
    notes = [m for m in fake.messages(circle.alerts_id) if "asked again" in m.content]
    assert len(notes) == 2
    assert fake.pinged(notes[-1]) == set()
    assert [m.id for m in alerts(fake, circle)] == [alert.id]
    clock.advance(minutes=2)
    await settle(fake, database, clock)
    assert len([t for t in alert_texts(fake, circle) if "Still waiting" in t]) == 1
    assert (await request_row(database, circle.alice)).id == third


async def test_asking_more_urgently_raises_the_request_the_team_sees(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await talk(fake, circle, circle.alice, "chat")
    rid = (await request_row(database, circle.alice)).id
    await alert_showing(fake, circle.alerts_id, rid)
    await talk(fake, circle, circle.bob, "struggling")
    await settle(fake, database, clock)

    clock.advance(minutes=1)
    raised = await talk(fake, circle, circle.alice, "crisis")
    reply = await raised.original_message()
    assert raised.is_ephemeral
    assert "I've updated your request" in reply.content
    assert "In crisis" in reply.content
    assert all(marker in embed_text(reply.embeds) for marker in RESOURCE_MARKERS)
    assert {f"talk:context:{rid}", f"talk:cancel:{rid}"} <= set(reply.custom_ids)
    await settle(fake, database, clock)
    alert = await alert_showing(fake, circle.alerts_id, rid)
    assert "In crisis" in field(alert, "Urgency")
    [note] = [m for m in fake.messages(circle.alerts_id) if "More urgent now" in m.content]
    assert fake.pinged(note) == {f"role:{circle.moderators_role}"}
    # The ladder restarts at the crisis pace: re-pinged 2 minutes after the rise, not 5
    # after the chat request.
    clock.advance(minutes=2)
    await settle(fake, database, clock)
    assert any("Still waiting" in t and "In crisis" in t for t in alert_texts(fake, circle))
    # The queue re-orders, and the rise is audited.
    queue = await fake.invoke(*circle.where(circle.mod), "support queue")
    lines = (await queue.original_message()).embeds[0]["description"].splitlines()
    assert "In crisis" in lines[0]
    assert f"<@{circle.alice}>" in lines[0]
    async with database.read() as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert "talk.urgency_raised" in actions


async def test_raising_a_claimed_request_tells_the_moderator_in_the_thread(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await talk(fake, circle, circle.alice, "chat")
    rid = (await request_row(database, circle.alice)).id
    claim = await fake.click(
        await alert_showing(fake, circle.alerts_id, rid), f"talk:claim:{rid}", circle.mod
    )
    await answered(claim, fake)
    [thread] = fake.threads
    raised = await talk(fake, circle, circle.alice, "struggling")
    assert "told the moderator who is with you" in (await raised.original_message()).content
    await settle(fake, database, clock)
    [note] = [m for m in fake.messages(thread.id) if "more urgent now" in m.content]
    assert fake.pinged(note) == {f"user:{circle.mod}"}
    assert (await request_row(database, circle.alice)).status == "claimed"


async def test_a_claim_discord_never_acknowledged_changes_nothing(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await talk(fake, circle, circle.alice, "struggling")
    rid = (await request_row(database, circle.alice)).id
    alert = await alert_showing(fake, circle.alerts_id, rid)
    # Discord no longer knows the interaction (it took too long to reach the bot, say): the
    # first answer and the apology after it both fail.
    failure = fake.inject_failure(
        "POST", r"^/interactions/\d+/[^/]+/callback$", status=404, count=2
    )
    await fake.click(alert, f"talk:claim:{rid}", circle.mod)
    await fake.wait_for(lambda: failure.hits == 2, what="the press handled")
    row = await request_row(database, circle.alice)
    assert (row.status, row.claimed_by) == ("open", None)
    assert fake.threads == []


async def test_a_claim_whose_answer_fails_midway_gives_the_request_back_with_its_ladder(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    await talk(fake, circle, circle.alice, "struggling")
    rid = (await request_row(database, circle.alice)).id
    alert = await alert_showing(fake, circle.alerts_id, rid)
    # Acknowledged, then the interaction's token stops working (it expired, say): the alert
    # can't be edited and the moderator can't be told.
    fake.inject_failure("*", r"^/webhooks/\d+/[^/]+", status=404, count=50)
    claim = await fake.click(alert, f"talk:claim:{rid}", circle.mod)
    await claim.response()

    async def given_back() -> bool:
        row = await request_row(database, circle.alice)
        return (row.status, row.claimed_by) == ("open", None)

    await fake.wait_for(given_back, what="the claim given back")
    assert fake.threads == []
    await settle(fake, database, clock)
    assert "Waiting" in field(alerts(fake, circle)[0], "Status")
    # Its ladder runs as before: re-pinged at 5 minutes.
    clock.advance(minutes=5)
    await settle(fake, database, clock)
    assert any("Still waiting" in t for t in alert_texts(fake, circle))
    async with database.read() as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert "talk.claim_undone" in actions


async def test_every_request_stays_in_its_own_server(
    fake: FakeDiscord,
    circle: Circle,
    lighthouse: Lighthouse,
    ready: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await carol_talks(fake, lighthouse, "chat")
    await talk(fake, circle, circle.alice, "chat")
    await settle(fake, database, clock)
    clock.advance(minutes=20)
    await settle(fake, database, clock)
    async with database.read() as session:
        rows = (await session.scalars(select(SupportRequest))).all()
    by_server = {row.member_id: row.guild_id for row in rows}
    assert by_server == {circle.alice: circle.guild_id, lighthouse.carol: lighthouse.guild_id}
    for message in fake.messages(circle.alerts_id):
        assert str(lighthouse.carol) not in message.content + str(message.embeds)
    for message in fake.messages(lighthouse.alerts_id):
        assert str(circle.alice) not in message.content + str(message.embeds)
    assert len(alerts_in(fake, lighthouse.alerts_id)) == 1
    assert len([t for t in alert_texts(fake, circle) if "Still waiting" in t]) == 1


SERVER_BOUND = (
    "checkin:start:{g}",
    "checkin:mood:{g}:1",
    "checkin:talk:{g}",
    "checkin:export:{g}",
    "checkin:forget:{g}:sure",
    "circle:notes:{g}:off",
    "circle:milestones:{g}:on",
    "circle:notes-off:{g}",
    "privacy:delete:{g}",
    "reachout:answer:{g}:talk",
    "reachout:answer:{g}:stop",
    "reachout:ask:{g}:yes",
)


@pytest.mark.parametrize("template", SERVER_BOUND)
async def test_a_button_naming_another_server_is_refused_and_changes_nothing(
    fake: FakeDiscord,
    circle: Circle,
    lighthouse: Lighthouse,
    ready: KinfolkBot,
    database: Database,
    template: str,
) -> None:
    await talk(fake, circle, circle.alice, "chat")  # something of hers to change, in Harbour
    message = await alert_showing(
        fake, circle.alerts_id, (await request_row(database, circle.alice)).id
    )

    async def everything() -> dict[str, int]:
        async with database.read() as session:
            return {
                table.name: len((await session.execute(select(table))).all())
                for table in Base.metadata.sorted_tables
            }

    before = await everything()
    pressed = await fake.forge_click(message, template.format(g=lighthouse.guild_id), circle.alice)
    reply = await pressed.original_message()
    assert pressed.is_ephemeral
    assert "belongs to another server" in reply.content
    assert await everything() == before


async def test_erasing_after_asking_again_leaves_one_neutral_alert_and_nothing_queued(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    first_answer = await talk(fake, circle, circle.alice, "chat")
    first = (await request_row(database, circle.alice)).id
    await alert_showing(fake, circle.alerts_id, first)
    await fake.click(await first_answer.original_message(), f"talk:cancel:{first}", circle.alice)
    await talk(fake, circle, circle.alice, "chat")  # folded into the same alert
    second = (await request_row(database, circle.alice)).id
    await alert_showing(fake, circle.alerts_id, second)
    await settle(fake, database, clock)
    posted = len(fake.messages(circle.alerts_id))

    await erase(fake, *circle.where(circle.alice))
    await settle(fake, database, clock)
    clock.advance(minutes=30)  # past every timer the two requests had
    await settle(fake, database, clock)
    assert len(fake.messages(circle.alerts_id)) == posted  # edited, never posted anew
    for message in fake.messages(circle.alerts_id):
        assert str(circle.alice) not in message.content + str(message.embeds)
        assert set(message.custom_ids) == set()
    async with database.read() as session:
        assert (await session.scalars(select(SupportRequest))).all() == []
    assert await waiting_rows(database, "talk") == []


async def test_a_folded_request_whose_alert_was_deleted_gets_a_new_alert(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    answer = await talk(fake, circle, circle.alice, "chat")
    first = (await request_row(database, circle.alice)).id
    alert = await alert_showing(fake, circle.alerts_id, first)
    await fake.click(await answer.original_message(), f"talk:cancel:{first}", circle.alice)
    await settle(fake, database, clock)
    fake.world.message_index[alert.id].deleted = True  # a moderator tidied the channel

    await talk(fake, circle, circle.alice, "chat")
    second = (await request_row(database, circle.alice)).id
    await settle(fake, database, clock)
    fresh = await alert_showing(fake, circle.alerts_id, second)
    assert fresh.id != alert.id
    assert "Waiting" in field(fresh, "Status")
    row = await request_row(database, circle.alice)
    assert row.alert_message_id == fresh.id


async def test_a_retried_alert_finds_its_earlier_copy_instead_of_posting_again(
    fake: FakeDiscord, circle: Circle, ready: KinfolkBot, database: Database, clock: FrozenClock
) -> None:
    """After a crash or a timeout mid-send (longer ago than Discord keeps nonces), a retry
    looks among the alert channel's recent messages for the alert it may have posted."""
    await talk(fake, circle, circle.alice, "chat")
    rid = (await request_row(database, circle.alice)).id
    alert = await alert_showing(fake, circle.alerts_id, rid)
    await settle(fake, database, clock)
    posted = len(fake.messages(circle.alerts_id))
    again = Delivery(
        target_type="channel",
        target_id=circle.alerts_id,
        content="(a second copy)",
        find_existing=f"Request #{rid}",
    )
    assert await ready.sender.deliver(again) == Sent(circle.alerts_id, alert.id)
    missing = replace(again, find_existing="Request #999999", post_if_missing=False)
    outcome = await ready.sender.deliver(missing)
    assert isinstance(outcome, Undeliverable)
    assert outcome.code == PROBLEM_NOT_POSTED
    assert len(fake.messages(circle.alerts_id)) == posted  # nothing new was posted
