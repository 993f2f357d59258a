"""Thinking-of-you notes end to end: the DM with the sender's name (or without it, only where
the server allows), the limits (one a week to the same person, three a day), the
recipient's one-tap opt-out and report, and closed DMs failing kindly — on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from bot.client import KinfolkBot
from bot.db.engine import Database
from bot.db.models import AuditEntry, ThinkingNote
from bot.domain.escalation import MODERATORS_ONLY
from bot.ui.permissions import MANAGE_SERVER_REFUSAL
from tests.e2e.circles.world import (
    Commons,
    click,
    notes_of,
    open_circle,
    outbox_rows,
    reply,
    run,
    setup_circles,
    setup_escalation,
)
from tests.e2e.conftest import StartBot
from tests.e2e.driver import settle
from tests.fakediscord import FakeDiscord, StoredMessage
from tests.helpers import FrozenClock


async def think_of(
    fake: FakeDiscord, commons: Commons, sender: int, recipient: int, **options: object
) -> str:
    """/thinking-of-you; returns the sender's private answer."""
    answer = await reply(fake, commons, sender, "thinking-of-you", member=recipient, **options)
    return answer.content


def notes_to(fake: FakeDiscord, member: int) -> list[StoredMessage]:
    return [m for m in fake.dm_messages(member) if "is thinking of you" in m.content]


async def the_note(fake: FakeDiscord, member: int, count: int = 1) -> StoredMessage:
    await fake.wait_for(lambda: len(notes_to(fake, member)) == count, what="the note's DM")
    return notes_to(fake, member)[-1]


async def test_a_note_arrives_by_dm_with_the_senders_name_and_two_buttons(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    sent = await think_of(fake, commons, commons.alice, commons.bob, note="Good luck  today!")
    assert sent.startswith(f"💌 On its way to <@{commons.bob}>.")
    dm = await the_note(fake, commons.bob)
    assert dm.content == (
        f"💌 <@{commons.alice}> from **Commons** is thinking of you.\n> Good luck today!"
    )
    [note] = await notes_of(database, commons.alice)
    assert dm.custom_ids == [
        f"circle:report:{note.id}",
        f"circle:notes-off:{commons.guild_id}",
    ]
    await settle(fake, database, clock)
    [note] = await notes_of(database, commons.alice)
    assert (note.recipient_id, note.status, note.anonymous) == (commons.bob, "sent", False)
    assert fake.dm_messages(commons.alice) == []  # nothing comes back to the sender
    assert fake.messages(commons.general_id, ephemeral=False) == []


async def test_anonymous_notes_only_where_the_server_allows_them(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    refused = await think_of(fake, commons, commons.alice, commons.bob, anonymous=True)
    assert refused == (
        "This server doesn't allow anonymous notes; send it with your name, or not at all. "
        "Nothing was sent."
    )
    await settle(fake, database, clock)
    assert fake.dm_messages(commons.bob) == []
    assert await notes_of(database, commons.alice) == []

    assert "Anonymous notes: allowed" in await setup_circles(fake, commons, allow_anonymous=True)
    sent = await think_of(fake, commons, commons.alice, commons.bob, anonymous=True)
    assert "without your name" in sent
    dm = await the_note(fake, commons.bob)
    assert dm.content == "💌 Someone in **Commons** is thinking of you."
    assert str(commons.alice) not in str(dm.payload(commons.world, fake.base_url))
    [note] = await notes_of(database, commons.alice)
    assert note.anonymous


async def test_only_moderators_may_allow_anonymous_notes(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    handle = await run(fake, commons, commons.alice, "setup circles", allow_anonymous=True)
    refusal = await handle.original_message()
    assert handle.is_ephemeral
    assert refusal.content == MANAGE_SERVER_REFUSAL
    refused = await think_of(fake, commons, commons.alice, commons.bob, anonymous=True)
    assert refused.startswith("This server doesn't allow anonymous notes")
    await settle(fake, database, clock)
    assert fake.dm_messages(commons.bob) == []


async def test_a_note_to_yourself_or_to_a_bot_is_refused_and_nothing_is_queued(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    to_self = await think_of(fake, commons, commons.alice, commons.alice)
    assert to_self.startswith("You can't send one to yourself, but we're thinking of you too.")
    to_bot = await think_of(fake, commons, commons.alice, commons.world.bot_user.id)
    assert to_bot == "Bots don't get notes; pick a person to think of."
    await settle(fake, database, clock)
    assert await notes_of(database, commons.alice) == []
    assert await outbox_rows(database, "circle_note") == []
    # Refusals don't count against the day's limit.
    for member in (commons.bob, commons.cai, commons.dee):
        assert "On its way" in await think_of(fake, commons, commons.alice, member)


async def test_one_note_a_week_to_the_same_person_and_three_a_day(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    alice = commons.alice
    assert "On its way" in await think_of(fake, commons, alice, commons.bob)
    again = await think_of(fake, commons, alice, commons.bob, note="me again")
    assert again.startswith("You sent them a note in the last week. One a week keeps it special")
    for member in (commons.cai, commons.dee):
        assert "On its way" in await think_of(fake, commons, alice, member)
    fourth = await think_of(fake, commons, alice, commons.eli)
    assert fourth.startswith("You've sent 3 notes today, which is lovely. Let's leave it there")
    await settle(fake, database, clock)
    assert [len(notes_to(fake, m)) for m in (commons.bob, commons.cai, commons.dee)] == [1, 1, 1]
    assert notes_to(fake, commons.eli) == []
    assert "me again" not in notes_to(fake, commons.bob)[0].content
    assert len(await notes_of(database, alice)) == 3

    clock.advance(days=1, minutes=1)  # a new day: eli may have one now, bob not yet
    assert "On its way" in await think_of(fake, commons, alice, commons.eli)
    assert "in the last week" in await think_of(fake, commons, alice, commons.bob)
    clock.advance(days=6)  # a week after the first: bob again
    assert "On its way" in await think_of(fake, commons, alice, commons.bob, note="me again")
    await the_note(fake, commons.bob, count=2)
    assert notes_to(fake, commons.bob)[-1].content.endswith("> me again")


async def test_no_more_of_these_refuses_later_notes_kindly_until_turned_back_on(
    fake: FakeDiscord,
    commons: Commons,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    bob = commons.bob
    await start_bot()
    await think_of(fake, commons, commons.alice, bob)
    dm = await the_note(fake, bob)
    await start_bot()  # a restart: the buttons under a delivered note still work
    off = await click(fake, dm, f"circle:notes-off:{commons.guild_id}", bob)
    assert off.content.startswith("Done: no more thinking-of-you notes from this server.")

    refused = await think_of(fake, commons, commons.cai, bob, note="hi!")
    assert refused == "They've chosen not to receive these notes right now. Nothing was sent."
    await settle(fake, database, clock)
    assert len(notes_to(fake, bob)) == 1
    assert await notes_of(database, commons.cai) == []

    circle = await open_circle(fake, commons, bob)
    on = await click(fake, circle, f"circle:notes:{commons.guild_id}:on", bob)
    assert on.content == "Done: members can send you thinking-of-you notes."
    assert "On its way" in await think_of(fake, commons, commons.cai, bob, note="hi!")
    later = await the_note(fake, bob, count=2)
    assert later.content.startswith(f"💌 <@{commons.cai}> from **Commons**")


async def test_report_sends_the_moderators_the_note_naming_its_sender(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
    backend: str,
) -> None:
    await setup_escalation(fake, commons)
    await setup_circles(fake, commons, allow_anonymous=True)
    await think_of(fake, commons, commons.alice, commons.bob, note="you owe me", anonymous=True)
    dm = await the_note(fake, commons.bob)
    assert str(commons.alice) not in dm.content
    [note] = await notes_of(database, commons.alice)

    thanks = await click(fake, dm, f"circle:report:{note.id}", commons.bob)
    assert thanks.content.startswith("Thank you for telling us. The moderators have it now")
    await fake.wait_for(lambda: fake.messages(commons.alerts_id), what="the report")
    [report] = fake.messages(commons.alerts_id)
    assert report.content.startswith(
        f"🚩 A thinking-of-you note was reported by its recipient <@{commons.bob}>."
    )
    assert f"Sent by <@{commons.alice}> (anonymously)" in report.content
    assert "The note:\n> you owe me\n" in report.content
    assert report.custom_ids == [f"circle:report-close:{note.id}"]
    [note] = await notes_of(database, commons.alice)
    assert note.status == "reported"
    assert note.reported_at == clock.now()

    twice = await click(fake, dm, f"circle:report:{note.id}", commons.bob)
    assert twice.content == "This note was already reported. The moderators have it."
    await settle(fake, database, clock)
    assert len(fake.messages(commons.alerts_id)) == 1
    # The sender is not told.
    assert fake.dm_messages(commons.alice) == []
    if backend == "sqlite":  # the note's text stays encrypted at rest, reported or not
        path = Path(str(database.engine.url.database))
        data = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert b"you owe me" not in data


async def test_without_an_alert_channel_a_report_reaches_the_server_owner(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await think_of(fake, commons, commons.alice, commons.bob, note="go away")
    dm = await the_note(fake, commons.bob)
    [note] = await notes_of(database, commons.alice)
    await click(fake, dm, f"circle:report:{note.id}", commons.bob)
    await fake.wait_for(lambda: fake.dm_messages(commons.owner_id), what="the owner told")
    [report] = fake.dm_messages(commons.owner_id)
    assert f"reported by its recipient <@{commons.bob}>" in report.content
    assert f"Sent by <@{commons.alice}> on" in report.content
    assert "(anonymously)" not in report.content
    assert "The note:\n> go away\n" in report.content
    # The owner closes it from their DMs; nobody else can.
    refused = await click(fake, report, f"circle:report-close:{note.id}", commons.alice)
    assert "Only the server's owner" in refused.content
    closed = await fake.click(report, f"circle:report-close:{note.id}", commons.owner_id)
    await closed.response()
    assert report.content.startswith(f"✅ Report closed by <@{commons.owner_id}>")
    assert report.custom_ids == []
    [note] = await notes_of(database, commons.alice)
    assert note.status == "closed"


async def test_closed_dms_fail_kindly_to_the_sender(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    commons.world.set_dms_closed(commons.bob)
    sent = await think_of(fake, commons, commons.alice, commons.bob, note="thinking of you")
    assert "If it can't be delivered, I'll let you know." in sent
    await fake.wait_for(lambda: fake.dm_messages(commons.alice), what="the sender told")
    await settle(fake, database, clock)
    [told] = fake.dm_messages(commons.alice)
    assert told.content.startswith(
        f"Your thinking-of-you note to <@{commons.bob}> in **Commons** couldn't be delivered"
    )
    assert "it's nothing to do with you" in told.content
    assert fake.pinged(told) == set()
    assert fake.dm_messages(commons.bob) == []
    [note] = await notes_of(database, commons.alice)
    assert note.status == "undelivered"


async def audit_actions(db: Database, action: str) -> int:
    async with db.read() as session:
        query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
        return int(await session.scalar(query) or 0)


async def note_by_id(db: Database, note_id: int) -> ThinkingNote | None:
    async with db.read() as session:
        return await session.get(ThinkingNote, note_id)


async def test_a_reported_note_outlives_its_senders_erasure_until_a_moderator_closes_it(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    """The sender of a reported note runs /privacy delete: the moderators keep the evidence
    (under a pseudonym), the sender's weekly limit still holds when she comes back, and the
    note's words go only when a moderator closes the report."""
    await setup_escalation(fake, commons)
    await setup_circles(fake, commons)
    await think_of(fake, commons, commons.alice, commons.bob, note="nobody likes you")
    dm = await the_note(fake, commons.bob)
    [note] = await notes_of(database, commons.alice)
    await click(fake, dm, f"circle:report:{note.id}", commons.bob)
    await fake.wait_for(lambda: fake.messages(commons.alerts_id), what="the report")

    warning = await reply(fake, commons, commons.alice, "privacy delete")
    pressed = await fake.click(warning, f"privacy:delete:{commons.guild_id}", commons.alice)
    erased = await pressed.original_message()
    assert erased.content.startswith("Done. Nothing about you in this server still carries"), (
        erased.content
    )
    # What she is told is the general rule, the same whether or not a note was reported:
    # the sender of a reported note is never told of the report.
    assert "• thinking-of-you notes from the last week, under a pseudonym" in erased.content
    await settle(fake, database, clock)

    kept = await note_by_id(database, note.id)
    assert kept is not None
    assert kept.status == "reported"
    assert kept.sender_id < 0, "the sender is under her pseudonym, never her id"
    assert kept.note == "nobody likes you", "the evidence keeps its words"
    [report] = fake.messages(commons.alerts_id)
    assert "The note:\n> nobody likes you\n" in report.content
    assert report.custom_ids == [f"circle:report-close:{note.id}"]

    # She comes back the next day: the week's limit to Bob still holds, kindly worded.
    clock.advance(days=1)
    again = await think_of(fake, commons, commons.alice, commons.bob, note="hello again")
    assert again.startswith("You sent them a note in the last week."), again
    await settle(fake, database, clock)
    assert len(notes_to(fake, commons.bob)) == 1

    # A member cannot close it; a moderator can, and then the words go.
    refused = await click(fake, report, f"circle:report-close:{note.id}", commons.cai)
    assert refused.content == MODERATORS_ONLY
    # A double tap on Close report closes it once.
    close = f"circle:report-close:{note.id}"
    taps = await asyncio.gather(*(fake.click(report, close, commons.owner_id) for _ in range(2)))
    for tap in taps:
        await tap.response(timeout=30)
    told = [(await tap.original_message()).content for tap in taps if tap.is_ephemeral]
    assert told == ["This report is already closed. Nothing was changed."]
    assert report.content.startswith(f"✅ Report closed by <@{commons.owner_id}>")
    assert "nobody likes you" not in report.content
    assert await audit_actions(database, "circles.report_closed") == 1
    left = await note_by_id(database, note.id)
    assert left is not None
    assert left.note is None
    assert left.status == "closed"
    # Still inside the week, so it still counts: the limit holds after the close too.
    again = await think_of(fake, commons, commons.alice, commons.bob, note="hello again")
    assert again.startswith("You sent them a note in the last week."), again


async def test_a_buddy_block_either_way_stops_notes_without_revealing_it(
    fake: FakeDiscord,
    commons: Commons,
    kinfolk: KinfolkBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    """Bob blocked Alice (/buddy block). Alice's notes to him, named or anonymous, are
    refused in the same words as if he had turned notes off; Bob, who knows his own block,
    is told why his are refused. Nothing reaches either."""
    await setup_circles(fake, commons, allow_anonymous=True)
    blocked = await reply(fake, commons, commons.bob, "buddy block", member=commons.alice)
    assert blocked.content.startswith("Done. You will never be paired with them")
    for anonymous in (False, True):
        refused = await think_of(
            fake, commons, commons.alice, commons.bob, note="hi", anonymous=anonymous
        )
        assert refused == "They've chosen not to receive these notes right now. Nothing was sent."
    own = await think_of(fake, commons, commons.bob, commons.alice, note="hi")
    assert own == (
        "You asked never to be paired with them, so notes between you are off too. "
        "Nothing was sent."
    )
    await settle(fake, database, clock)
    assert notes_to(fake, commons.bob) == []
    assert notes_to(fake, commons.alice) == []
    assert await notes_of(database, commons.alice) == []
    assert await notes_of(database, commons.bob) == []
    # Cai, whom nobody blocked, still can.
    assert "On its way" in await think_of(fake, commons, commons.cai, commons.bob)


async def test_a_note_to_someone_outside_the_server_is_refused(
    fake: FakeDiscord, commons: Commons, kinfolk: KinfolkBot, database: Database
) -> None:
    stranger = commons.world.add_user("stranger").id
    refused = await think_of(fake, commons, commons.alice, stranger, note="hello")
    assert refused == (
        "They're not a member of this server, so I can't send them a note here. Nothing was sent."
    )
    assert await notes_of(database, commons.alice) == []
