"""Support circles on both backends: the circle and its suggestions, offers and their use in
buddy pairing and intros, thinking-of-you notes with their limits, handlers and reports,
milestones, settings and the circle picture."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.db.engine import Database
from bot.db.models import (
    AuditEntry,
    BuddyGroup,
    CircleMember,
    CirclePerson,
    OutboxMessage,
    SupportOffer,
    ThinkingNote,
)
from bot.db.repositories import buddies as buddy_repo
from bot.db.repositories import circles as repo
from bot.db.repositories import escalation as escalation_repo
from bot.domain.checkins import InvalidInput
from bot.domain.circles import MAX_PEOPLE_PER_KIND, NOTE_MAX_CHARS, NOTES_PER_DAY, Kind, Person
from bot.jobs.delivery import (
    PROBLEM_DMS_CLOSED,
    PROBLEM_NO_PERMISSION,
    Delivery,
    QueuedMessage,
    Sent,
    Skip,
    Undeliverable,
)
from bot.services.buddies import membership, rounds
from bot.services.buddies.handlers import IntroHandler
from bot.services.circles import circle, milestones, notes, offers, settings
from bot.services.circles.handlers import (
    KIND_UNDELIVERED,
    UNDELIVERED,
    NoteHandler,
    ReportHandler,
    UndeliveredHandler,
    handlers,
)
from bot.services.circles.milestones import KIND_MILESTONE, MilestoneHandler
from bot.services.circles.picture import render_png
from tests.helpers import FrozenClock

GUILD, OTHER_GUILD, ADMIN = 100, 101, 300
BUDDY_CHANNEL, ALERT, MILESTONE_CHANNEL = 40, 41, 42
CHANNELS = {Kind.EMOTIONAL: 501, Kind.PRACTICAL: 502}
A, B, C, D, E = 201, 202, 203, 204, 205
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def _all(db: Database, model: Any) -> list[Any]:
    async with db.session() as session:
        return list((await session.scalars(select(model))).all())


async def _outbox(db: Database, kind: str) -> list[OutboxMessage]:
    rows = await _all(db, OutboxMessage)
    return sorted((r for r in rows if r.kind == kind), key=lambda r: r.id)


async def _report_content(db: Database, row: OutboxMessage) -> str:
    """What the moderators will read: the report rendered when it is sent."""
    prepared = await ReportHandler(db).prepare(QueuedMessage.from_row(row))
    assert isinstance(prepared, Delivery)
    assert (prepared.target_type, prepared.target_id) == (row.target_type, row.target_id)
    assert prepared.content is not None
    return prepared.content


async def _raw(db: Database, sql: str) -> list[Any]:
    async with db.session() as session:
        return list((await session.execute(text(sql))).scalars().all())


async def _buddies_on(db: Database, clock: FrozenClock, *users: int) -> None:
    async with db.session() as session:
        await buddy_repo.update_settings(session, GUILD, now=clock.now(), channel_id=BUDDY_CHANNEL)
    for user in users:
        await membership.join(db, clock, GUILD, user, roles=[])


def _set(clock: FrozenClock, at: datetime) -> None:
    clock.advance(seconds=(at - clock.now()).total_seconds())


async def _note(db: Database, note_id: int) -> ThinkingNote:
    async with db.session() as session:
        note = await repo.get_note(session, note_id)
    assert note is not None
    return note


# --- the circle ------------------------------------------------------------------------------


async def test_add_members_and_names_and_view_them(db: Database, clock: FrozenClock) -> None:
    sister = await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, name="  my   sister ")
    assert sister.person == Person(Kind.EMOTIONAL, name="my sister")
    friend = await circle.add(db, clock, GUILD, A, Kind.COMPANIONSHIP, member_id=B)
    gp = await circle.add(db, clock, GUILD, A, Kind.PRACTICAL, name="Dr Lee", professional=True)
    await circle.add(db, clock, GUILD, B, Kind.INFORMATIONAL, member_id=A)  # B's own circle

    mine = await circle.view(db, GUILD, A)
    assert mine.entries == (sister, friend, gp)
    assert [e.person.display() for e in mine.entries] == [
        "my sister",
        f"<@{B}>",
        "Dr Lee (professional)",
    ]
    assert mine.gaps == (Kind.INFORMATIONAL,)
    assert [kind for kind, _ in mine.suggestions] == [Kind.INFORMATIONAL]

    # Circles are per member and per server.
    theirs = await circle.view(db, GUILD, B)
    assert [e.person for e in theirs.entries] == [Person(Kind.INFORMATIONAL, user_id=A)]
    elsewhere = await circle.view(db, OTHER_GUILD, A)
    assert elsewhere.entries == ()
    assert elsewhere.gaps == tuple(Kind)


async def test_add_refuses_yourself_and_bad_names_saving_nothing(
    db: Database, clock: FrozenClock
) -> None:
    with pytest.raises(InvalidInput, match="That's you"):
        await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, member_id=A)
    with pytest.raises(InvalidInput, match="type a name"):
        await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, name="   ")
    with pytest.raises(InvalidInput, match="under 60 characters"):
        await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, name="x" * 61)
    with pytest.raises(ValueError, match="member_id or name"):
        await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL)
    assert await _all(db, CirclePerson) == []


async def test_a_member_is_added_with_their_name_kept_encrypted(
    db: Database, clock: FrozenClock
) -> None:
    """What the member select does: the id and the display name at that moment."""
    entry = await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, member_id=B, name="Bea")
    assert (entry.person.user_id, entry.person.name) == (B, "Bea")
    assert entry.person.display() == f"<@{B}>"
    with pytest.raises(InvalidInput, match="already in your circle"):
        await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, member_id=B, name="Bea B")
    # A typed "Bea" is someone else: allowed.
    await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, name="Bea")
    assert "Bea" not in str(await _raw(db, "SELECT person_name FROM circle_people"))


async def test_no_duplicates_within_a_kind(db: Database, clock: FrozenClock) -> None:
    await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, member_id=B)
    await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, name="My Sister")
    with pytest.raises(InvalidInput, match="already in your circle for emotional"):
        await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, member_id=B)
    with pytest.raises(InvalidInput, match="already in your circle"):
        await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, name=" my  SISTER ")
    assert len(await _all(db, CirclePerson)) == 2

    # The same person may give another kind of support.
    await circle.add(db, clock, GUILD, A, Kind.PRACTICAL, member_id=B)
    await circle.add(db, clock, GUILD, A, Kind.PRACTICAL, name="my sister")
    assert (await circle.view(db, GUILD, A)).gaps == (Kind.INFORMATIONAL, Kind.COMPANIONSHIP)


async def test_at_most_twelve_people_per_kind(db: Database, clock: FrozenClock) -> None:
    assert MAX_PEOPLE_PER_KIND == 12
    for n in range(MAX_PEOPLE_PER_KIND):
        await circle.add(db, clock, GUILD, A, Kind.COMPANIONSHIP, name=f"friend {n}")
    with pytest.raises(InvalidInput, match="already have 12 people for companionship"):
        await circle.add(db, clock, GUILD, A, Kind.COMPANIONSHIP, name="one more")
    with pytest.raises(InvalidInput, match="already have 12"):
        await circle.add(db, clock, GUILD, A, Kind.COMPANIONSHIP, member_id=B)
    assert len(await _all(db, CirclePerson)) == MAX_PEOPLE_PER_KIND

    # Other kinds, and other members, are not affected.
    await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, name="one more")
    await circle.add(db, clock, GUILD, B, Kind.COMPANIONSHIP, name="one more")
    # Removing one makes room again.
    first = (await circle.view(db, GUILD, A)).entries[0]
    assert await circle.remove(db, GUILD, A, first.id)
    await circle.add(db, clock, GUILD, A, Kind.COMPANIONSHIP, name="one more")


async def test_remove_only_your_own_entries(db: Database, clock: FrozenClock) -> None:
    mine = await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, name="Sam")
    theirs = await circle.add(db, clock, GUILD, B, Kind.EMOTIONAL, name="Sam")
    assert await circle.remove(db, GUILD, A, theirs.id) is False
    assert await circle.remove(db, OTHER_GUILD, A, mine.id) is False
    assert len(await _all(db, CirclePerson)) == 2

    assert await circle.remove(db, GUILD, A, mine.id) is True
    assert await circle.remove(db, GUILD, A, mine.id) is False
    assert (await circle.view(db, GUILD, A)).entries == ()
    assert [e.id for e in (await circle.view(db, GUILD, B)).entries] == [theirs.id]


async def test_mark_and_unmark_a_professional(db: Database, clock: FrozenClock) -> None:
    entry = await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, name="Jo")
    assert await circle.set_professional(db, GUILD, A, entry.id, True) is True
    [shown] = (await circle.view(db, GUILD, A)).entries
    assert shown.person.professional is True
    assert shown.person.display() == "Jo (professional)"

    assert await circle.set_professional(db, GUILD, B, entry.id, False) is False  # not B's
    assert await circle.set_professional(db, GUILD, A, entry.id + 999, False) is False
    [shown] = (await circle.view(db, GUILD, A)).entries
    assert shown.person.professional is True

    assert await circle.set_professional(db, GUILD, A, entry.id, False) is True
    [shown] = (await circle.view(db, GUILD, A)).entries
    assert shown.person.display() == "Jo"


async def test_typed_names_are_encrypted_at_rest(db: Database, clock: FrozenClock) -> None:
    await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, name="Auntie Marguerite")
    await circle.add(db, clock, GUILD, A, Kind.PRACTICAL, member_id=B)
    raw = await _raw(db, "SELECT person_name FROM circle_people ORDER BY id")
    assert raw[1] is None  # a server member has no name stored
    assert isinstance(raw[0], str)
    assert raw[0]
    assert "Marguerite" not in raw[0]
    assert "auntie" not in raw[0].lower()
    # And it reads back in the clear through the model.
    assert (await circle.view(db, GUILD, A)).entries[0].person.name == "Auntie Marguerite"


# --- gaps and suggestions --------------------------------------------------------------------


async def test_suggestions_without_channels_or_buddies(db: Database, clock: FrozenClock) -> None:
    view = await circle.view(db, GUILD, A)
    assert view.gaps == tuple(Kind)
    tips = dict(view.suggestions)
    assert list(tips) == list(Kind)
    assert "/talk" in tips[Kind.EMOTIONAL]
    assert "/offer" in tips[Kind.INFORMATIONAL]
    for tip in tips.values():
        assert "/buddy join" not in tip
        assert "<#" not in tip


async def test_suggestions_name_the_configured_channel_for_each_kind(
    db: Database, clock: FrozenClock
) -> None:
    await settings.configure(db, clock, GUILD, actor_id=ADMIN, channels=dict(CHANNELS))
    tips = dict((await circle.view(db, GUILD, A)).suggestions)
    assert f"<#{CHANNELS[Kind.EMOTIONAL]}>" in tips[Kind.EMOTIONAL]
    assert f"<#{CHANNELS[Kind.PRACTICAL]}>" in tips[Kind.PRACTICAL]
    assert f"<#{CHANNELS[Kind.PRACTICAL]}>" not in tips[Kind.EMOTIONAL]
    assert "<#" not in tips[Kind.INFORMATIONAL]
    assert "<#" not in tips[Kind.COMPANIONSHIP]

    # A kind that is filled gets no suggestion, whatever its channel.
    await circle.add(db, clock, GUILD, A, Kind.EMOTIONAL, name="Mum")
    view = await circle.view(db, GUILD, A)
    assert Kind.EMOTIONAL not in dict(view.suggestions)
    assert all(f"<#{CHANNELS[Kind.EMOTIONAL]}>" not in tip for _, tip in view.suggestions)


async def test_suggestions_mention_buddies_only_when_they_are_set_up(
    db: Database, clock: FrozenClock
) -> None:
    async with db.session() as session:  # settings row, but no channel: not set up
        await buddy_repo.update_settings(session, GUILD, now=clock.now(), channel_id=None)
    tips = dict((await circle.view(db, GUILD, A)).suggestions)
    assert all("/buddy join" not in tip for tip in tips.values())

    await _buddies_on(db, clock)
    tips = dict((await circle.view(db, GUILD, A)).suggestions)
    assert "/buddy join" in tips[Kind.EMOTIONAL]
    assert "/buddy join" in tips[Kind.COMPANIONSHIP]
    assert "/buddy join" not in tips[Kind.PRACTICAL]
    # Another server's buddy programme does not count.
    other = dict((await circle.view(db, OTHER_GUILD, A)).suggestions)
    assert all("/buddy join" not in tip for tip in other.values())


# --- settings --------------------------------------------------------------------------------


async def test_configure_merges_channels_and_audits(db: Database, clock: FrozenClock) -> None:
    assert await settings.get_config(db, GUILD) == settings.CircleConfig({}, False, None)
    first = await settings.configure(db, clock, GUILD, actor_id=ADMIN, channels=dict(CHANNELS))
    assert first.channels == {"emotional": 501, "practical": 502}
    second = await settings.configure(
        db,
        clock,
        GUILD,
        actor_id=ADMIN,
        channels={Kind.PRACTICAL: None, Kind.COMPANIONSHIP: 503},
        allow_anonymous=True,
        milestone_channel_id=MILESTONE_CHANNEL,
    )
    expected = settings.CircleConfig(
        {"emotional": 501, "companionship": 503}, True, MILESTONE_CHANNEL
    )
    assert second == expected
    assert await settings.get_config(db, GUILD) == expected
    # Leaving a setting out keeps it; None clears the milestone channel.
    third = await settings.configure(db, clock, GUILD, actor_id=ADMIN, milestone_channel_id=None)
    assert third == settings.CircleConfig({"emotional": 501, "companionship": 503}, True, None)

    audits = [a for a in await _all(db, AuditEntry) if a.action == "settings.circles"]
    assert len(audits) == 3
    assert {a.actor_id for a in audits} == {ADMIN}


# --- offers ----------------------------------------------------------------------------------


async def test_set_offer_keeps_what_is_not_changed(db: Database, clock: FrozenClock) -> None:
    assert await offers.get(db, GUILD, A) == offers.NO_OFFER
    given = await offers.set_offer(
        db, clock, GUILD, A, kinds=[Kind.COMPANIONSHIP, Kind.EMOTIONAL], topics="job loss, grief"
    )
    # Kinds come back in the standard order.
    assert given == offers.Offer((Kind.EMOTIONAL, Kind.COMPANIONSHIP), ("job loss", "grief"), True)
    changed = await offers.set_offer(db, clock, GUILD, A, share_with_buddy=False)
    assert changed == offers.Offer(
        (Kind.EMOTIONAL, Kind.COMPANIONSHIP), ("job loss", "grief"), False
    )
    cleared = await offers.set_offer(db, clock, GUILD, A, topics="  ", kinds=[Kind.PRACTICAL])
    assert cleared == offers.Offer((Kind.PRACTICAL,), (), False)
    assert await offers.get(db, GUILD, A) == cleared
    assert await offers.get(db, OTHER_GUILD, A) == offers.NO_OFFER


async def test_bad_topics_change_nothing(db: Database, clock: FrozenClock) -> None:
    await offers.set_offer(db, clock, GUILD, A, kinds=[Kind.PRACTICAL], topics="moving house")
    with pytest.raises(InvalidInput, match="Up to 5 topics"):
        await offers.set_offer(
            db, clock, GUILD, A, kinds=[Kind.EMOTIONAL], topics="a, b, c, d, e, f"
        )
    with pytest.raises(InvalidInput, match="under 40 characters"):
        await offers.set_offer(db, clock, GUILD, A, topics="x" * 41)
    assert await offers.get(db, GUILD, A) == offers.Offer(
        (Kind.PRACTICAL,), ("moving house",), True
    )
    with pytest.raises(InvalidInput):
        await offers.set_offer(db, clock, GUILD, B, topics="y" * 41)
    assert [row.user_id for row in await _all(db, SupportOffer)] == [A]


async def test_withdraw_an_offer(db: Database, clock: FrozenClock) -> None:
    await offers.set_offer(db, clock, GUILD, A, kinds=[Kind.EMOTIONAL])
    assert await offers.withdraw(db, GUILD, B) is False
    assert await offers.withdraw(db, GUILD, A) is True
    assert await offers.withdraw(db, GUILD, A) is False
    assert await offers.get(db, GUILD, A) == offers.NO_OFFER
    assert await _all(db, SupportOffer) == []


async def test_topics_are_encrypted_at_rest(db: Database, clock: FrozenClock) -> None:
    await offers.set_offer(db, clock, GUILD, A, topics="bereavement, new parent")
    [raw] = await _raw(db, "SELECT topics FROM support_offers")
    assert isinstance(raw, str)
    assert raw
    assert "bereavement" not in raw
    assert "parent" not in raw


async def test_for_pairing_knows_gaps_only_of_members_with_a_circle(
    db: Database, clock: FrozenClock
) -> None:
    await offers.set_offer(db, clock, GUILD, A, kinds=[Kind.EMOTIONAL, Kind.PRACTICAL])
    await circle.add(db, clock, GUILD, B, Kind.PRACTICAL, name="neighbour")
    await circle.add(db, clock, GUILD, B, Kind.COMPANIONSHIP, member_id=C)
    await offers.set_offer(db, clock, GUILD, C, kinds=[Kind.INFORMATIONAL])
    await circle.add(db, clock, GUILD, C, Kind.EMOTIONAL, name="partner")
    await offers.set_offer(db, clock, OTHER_GUILD, D, kinds=[Kind.EMOTIONAL])
    async with db.session() as session:
        support = await offers.for_pairing(session, GUILD, [A, B, C, D])
    assert support == {
        A: (frozenset({"emotional", "practical"}), frozenset()),  # no circle: no gaps assumed
        B: (frozenset(), frozenset({"emotional", "informational"})),
        C: (
            frozenset({"informational"}),
            frozenset({"practical", "informational", "companionship"}),
        ),
        D: (frozenset(), frozenset()),  # an offer in another server does not count here
    }


# --- offers in buddy pairing -----------------------------------------------------------------


def _together(groups: tuple[tuple[int, ...], ...], a: int, b: int) -> bool:
    return any({a, b} <= set(g) for g in groups)


async def test_pairing_prefers_an_offer_meeting_a_gap(db: Database, clock: FrozenClock) -> None:
    await _buddies_on(db, clock, A, B, C, D)
    # Without offers, seed 1 pairs A with B and C with D.
    before = await rounds.preview(db, clock, GUILD, 1)
    assert before.groups == ((A, B), (C, D))

    await offers.set_offer(db, clock, GUILD, A, kinds=[Kind.EMOTIONAL])
    await circle.add(db, clock, GUILD, C, Kind.PRACTICAL, name="neighbour")  # C lacks emotional
    for seed in range(8):
        plan = await rounds.preview(db, clock, GUILD, seed)
        assert plan.groups == ((A, C), (B, D)), seed

    started = await rounds.start(db, clock, GUILD, 1)
    assert started.groups == ((A, C), (B, D))
    async with db.session() as session:
        group = await buddy_repo.current_group(session, GUILD, A)
        assert group is not None
        members = await buddy_repo.group_members(session, group.id)
    assert sorted(m.user_id for m in members) == [A, C]


async def test_an_offer_does_not_meet_a_gap_that_is_filled(
    db: Database, clock: FrozenClock
) -> None:
    await _buddies_on(db, clock, A, B, C, D)
    await offers.set_offer(db, clock, GUILD, A, kinds=[Kind.EMOTIONAL])
    # C has someone for emotional support, so A's offer meets nothing: seed 1 is as before.
    await circle.add(db, clock, GUILD, C, Kind.EMOTIONAL, name="partner")
    assert (await rounds.preview(db, clock, GUILD, 1)).groups == ((A, B), (C, D))
    # A member who never built a circle is not assumed to lack anything.
    await circle.remove(db, GUILD, C, (await circle.view(db, GUILD, C)).entries[0].id)
    assert (await rounds.preview(db, clock, GUILD, 1)).groups == ((A, B), (C, D))


async def test_an_offer_never_outweighs_a_block(db: Database, clock: FrozenClock) -> None:
    await _buddies_on(db, clock, A, B, C, D)
    await offers.set_offer(db, clock, GUILD, A, kinds=[Kind.EMOTIONAL])
    await circle.add(db, clock, GUILD, C, Kind.PRACTICAL, name="neighbour")
    await membership.block(db, clock, GUILD, C, A)
    for seed in range(6):
        plan = await rounds.preview(db, clock, GUILD, seed)
        assert not _together(plan.groups, A, C)
        assert plan.unplaced == ()


async def test_the_intro_mentions_only_offers_chosen_to_be_shared(
    db: Database, clock: FrozenClock
) -> None:
    await _buddies_on(db, clock, A, B)
    await offers.set_offer(
        db, clock, GUILD, A, kinds=[Kind.EMOTIONAL], topics="job loss, new parent"
    )
    await offers.set_offer(
        db, clock, GUILD, B, kinds=[Kind.PRACTICAL], topics="moving house", share_with_buddy=False
    )
    await rounds.start(db, clock, GUILD, 1)
    [row] = await _outbox(db, rounds.KIND_INTRO)
    delivery = await IntroHandler(db, clock).prepare(QueuedMessage.from_row(row))
    assert isinstance(delivery, Delivery)
    assert delivery.content is not None
    assert (
        f"<@{A}> is glad to offer emotional support (someone who listens); "
        "advice on job loss, new parent."
    ) in delivery.content
    assert f"<@{B}> is glad to offer" not in delivery.content
    assert "practical support" not in delivery.content
    assert "moving house" not in delivery.content


async def test_the_intro_says_nothing_of_offers_when_none_are_shared(
    db: Database, clock: FrozenClock
) -> None:
    await _buddies_on(db, clock, A, B)
    await offers.set_offer(db, clock, GUILD, A, kinds=[Kind.EMOTIONAL], share_with_buddy=False)
    await offers.set_offer(db, clock, GUILD, B, kinds=[])  # a row, but nothing offered
    await rounds.start(db, clock, GUILD, 1)
    [row] = await _outbox(db, rounds.KIND_INTRO)
    delivery = await IntroHandler(db, clock).prepare(QueuedMessage.from_row(row))
    assert isinstance(delivery, Delivery)
    assert delivery.content is not None
    assert f"<@{A}> and <@{B}>" in delivery.content
    assert "glad to offer" not in delivery.content


async def test_offers_of_topics_only_are_shared(db: Database, clock: FrozenClock) -> None:
    await _buddies_on(db, clock, A, B)
    await offers.set_offer(db, clock, GUILD, B, topics="grief")
    await rounds.start(db, clock, GUILD, 1)
    [row] = await _outbox(db, rounds.KIND_INTRO)
    delivery = await IntroHandler(db, clock).prepare(QueuedMessage.from_row(row))
    assert isinstance(delivery, Delivery)
    assert delivery.content is not None
    assert f"<@{B}> is glad to offer advice on grief." in delivery.content


# --- thinking-of-you: sending ----------------------------------------------------------------


async def test_send_saves_the_note_and_queues_its_dm(db: Database, clock: FrozenClock) -> None:
    queued = await notes.send(db, clock, GUILD, A, B, text="  Hope today   is kind to you ")
    assert queued.anonymous is False
    note = await _note(db, queued.note_id)
    assert (note.guild_id, note.sender_id, note.recipient_id) == (GUILD, A, B)
    assert (note.note, note.anonymous, note.status) == (
        "Hope today is kind to you",
        False,
        "queued",
    )
    assert note.created_at == clock.now()

    [row] = await _outbox(db, notes.KIND_NOTE)
    assert row.kind == "circle_note"
    assert (row.target_type, row.target_id, row.guild_id) == ("user", B, GUILD)
    assert row.payload == {"note_id": queued.note_id}
    assert row.idempotency_key == f"circle:note:{queued.note_id}"
    assert row.due_at == clock.now()


async def test_note_text_is_encrypted_at_rest(db: Database, clock: FrozenClock) -> None:
    await notes.send(db, clock, GUILD, A, B, text="Remember the lighthouse walk")
    await notes.send(db, clock, GUILD, A, C)  # no text
    raw = await _raw(db, "SELECT note FROM thinking_notes ORDER BY id")
    assert raw[1] is None
    assert isinstance(raw[0], str)
    assert raw[0]
    assert "lighthouse" not in raw[0]


@pytest.mark.parametrize(
    ("recipient", "kwargs", "message"),
    [
        (A, {}, "yourself"),
        (B, {"recipient_is_bot": True}, "Bots don't get notes"),
        (B, {"text": "x" * (NOTE_MAX_CHARS + 1)}, f"under {NOTE_MAX_CHARS} characters"),
        (B, {"anonymous": True}, "doesn't allow anonymous"),
    ],
)
async def test_refused_notes_save_nothing(
    db: Database, clock: FrozenClock, recipient: int, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        await notes.send(db, clock, GUILD, A, recipient, **kwargs)
    assert await _all(db, ThinkingNote) == []
    assert await _all(db, OutboxMessage) == []


async def test_a_note_of_the_longest_length_is_sent(db: Database, clock: FrozenClock) -> None:
    queued = await notes.send(db, clock, GUILD, A, B, text="x" * NOTE_MAX_CHARS)
    assert (await _note(db, queued.note_id)).note == "x" * NOTE_MAX_CHARS


async def test_anonymous_only_where_the_server_allows_it(db: Database, clock: FrozenClock) -> None:
    await settings.configure(db, clock, GUILD, actor_id=ADMIN, allow_anonymous=False)
    with pytest.raises(InvalidInput, match="doesn't allow anonymous"):
        await notes.send(db, clock, GUILD, A, B, anonymous=True)
    assert await _all(db, ThinkingNote) == []

    await settings.configure(db, clock, GUILD, actor_id=ADMIN, allow_anonymous=True)
    queued = await notes.send(db, clock, GUILD, A, B, anonymous=True)
    assert queued.anonymous is True
    assert (await _note(db, queued.note_id)).anonymous is True
    # Allowed in one server is not allowed in another.
    with pytest.raises(InvalidInput, match="doesn't allow anonymous"):
        await notes.send(db, clock, OTHER_GUILD, A, C, anonymous=True)


async def test_a_recipient_can_turn_notes_off(db: Database, clock: FrozenClock) -> None:
    await notes.set_notes_off(db, clock, GUILD, B, True)
    with pytest.raises(InvalidInput, match="chosen not to receive"):
        await notes.send(db, clock, GUILD, A, B, text="hi")
    assert await _all(db, ThinkingNote) == []
    assert await _all(db, OutboxMessage) == []
    # Only in that server.
    await notes.send(db, clock, OTHER_GUILD, A, B)

    await notes.set_notes_off(db, clock, GUILD, B, False)
    await notes.send(db, clock, GUILD, A, B)
    assert len(await _all(db, ThinkingNote)) == 2


async def test_at_most_three_notes_a_day_from_one_sender(db: Database, clock: FrozenClock) -> None:
    assert NOTES_PER_DAY == 3
    start = clock.now()
    for recipient in (B, C, D):
        await notes.send(db, clock, GUILD, A, recipient)
        clock.advance(hours=1)
    with pytest.raises(InvalidInput, match="3 notes today"):
        await notes.send(db, clock, GUILD, A, E)
    assert len(await _all(db, ThinkingNote)) == 3
    assert len(await _outbox(db, notes.KIND_NOTE)) == 3

    # Others are not limited by A's notes; A's notes in another server do not count.
    await notes.send(db, clock, GUILD, B, E)
    await notes.send(db, clock, OTHER_GUILD, A, E)

    # A day after the first, one more is allowed (the first no longer counts), then not.
    _set(clock, start + timedelta(days=1))
    await notes.send(db, clock, GUILD, A, E)
    with pytest.raises(InvalidInput, match="3 notes today"):
        await notes.send(db, clock, GUILD, A, C + 100)


async def test_one_note_a_week_to_one_recipient(db: Database, clock: FrozenClock) -> None:
    sent = clock.now()
    await notes.send(db, clock, GUILD, A, B)
    clock.advance(days=6, hours=23, minutes=59)
    with pytest.raises(InvalidInput, match="in the last week") as refused:
        await notes.send(db, clock, GUILD, A, B)
    assert f"<t:{int((sent + timedelta(days=7)).timestamp())}:D>" in str(refused.value)
    # Someone else may still write to B, and A to someone else.
    await notes.send(db, clock, GUILD, C, B)
    await notes.send(db, clock, GUILD, A, C)
    assert len(await _all(db, ThinkingNote)) == 3

    _set(clock, sent + timedelta(days=7))
    await notes.send(db, clock, GUILD, A, B)
    assert len(await _all(db, ThinkingNote)) == 4


# --- thinking-of-you: delivery ---------------------------------------------------------------


async def _prepared(db: Database, clock: FrozenClock) -> tuple[NoteHandler, QueuedMessage]:
    [row] = await _outbox(db, notes.KIND_NOTE)
    handler = handlers(db, clock)[notes.KIND_NOTE]
    assert isinstance(handler, NoteHandler)
    return handler, QueuedMessage.from_row(row)


async def test_the_dm_names_the_sender(db: Database, clock: FrozenClock) -> None:
    queued = await notes.send(db, clock, GUILD, A, B, text="Proud of you")
    handler, message = await _prepared(db, clock)
    delivery = await handler.prepare(message)
    assert isinstance(delivery, Delivery)
    assert (delivery.target_type, delivery.target_id) == ("user", B)
    assert delivery.content == f"💌 <@{A}> from **{{server}}** is thinking of you.\n> Proud of you"
    assert delivery.server_name_of == GUILD
    assert (delivery.view, delivery.view_args) == (
        notes.NOTE_VIEW,
        {"note_id": queued.note_id, "guild_id": GUILD},
    )

    await handler.on_sent(message, Sent(channel_id=9, message_id=10))
    assert (await _note(db, queued.note_id)).status == "sent"
    assert await handler.prepare(message) == Skip("the note is sent")


async def test_an_anonymous_dm_does_not_name_the_sender(db: Database, clock: FrozenClock) -> None:
    await settings.configure(db, clock, GUILD, actor_id=ADMIN, allow_anonymous=True)
    await notes.send(db, clock, GUILD, A, B, anonymous=True)
    handler, message = await _prepared(db, clock)
    delivery = await handler.prepare(message)
    assert isinstance(delivery, Delivery)
    assert delivery.content is not None
    assert delivery.content == "💌 Someone in **{server}** is thinking of you."
    assert str(A) not in delivery.content
    assert A not in delivery.ping_users


async def test_a_note_queued_before_notes_were_turned_off_is_not_sent(
    db: Database, clock: FrozenClock
) -> None:
    await notes.send(db, clock, GUILD, A, B)
    await notes.set_notes_off(db, clock, GUILD, B, True)
    handler, message = await _prepared(db, clock)
    assert await handler.prepare(message) == Skip("the recipient turned notes off")


async def test_closed_dms_tell_the_sender_kindly(db: Database, clock: FrozenClock) -> None:
    queued = await notes.send(db, clock, GUILD, A, B, text="hi")
    handler, message = await _prepared(db, clock)
    retry = await handler.on_undeliverable(
        message, Undeliverable(PROBLEM_DMS_CLOSED, "Cannot send messages to this user")
    )
    assert retry is None
    assert (await _note(db, queued.note_id)).status == "undelivered"
    [notice] = await _outbox(db, KIND_UNDELIVERED)
    assert notice.kind == "circle_note_undelivered"
    assert (notice.target_type, notice.target_id, notice.guild_id) == ("user", A, GUILD)
    assert notice.payload == {"recipient": B}
    assert await handler.prepare(message) == Skip("the note is undelivered")

    notifier = handlers(db, clock)[KIND_UNDELIVERED]
    assert isinstance(notifier, UndeliveredHandler)
    told = await notifier.prepare(QueuedMessage.from_row(notice))
    assert isinstance(told, Delivery)
    assert (told.target_type, told.target_id, told.server_name_of) == ("user", A, GUILD)
    assert told.content == UNDELIVERED.replace("{recipient}", str(B))
    assert f"<@{B}>" in told.content
    assert "couldn't be delivered" in told.content

    # A second report of the same failure queues no second notice.
    await handler.on_undeliverable(message, Undeliverable(PROBLEM_DMS_CLOSED, "again"))
    assert len(await _outbox(db, KIND_UNDELIVERED)) == 1


async def test_other_failures_mark_the_note_but_tell_nobody(
    db: Database, clock: FrozenClock
) -> None:
    queued = await notes.send(db, clock, GUILD, A, B)
    handler, message = await _prepared(db, clock)
    assert (
        await handler.on_undeliverable(message, Undeliverable(PROBLEM_NO_PERMISSION, "x")) is None
    )
    assert (await _note(db, queued.note_id)).status == "undelivered"
    assert await _outbox(db, KIND_UNDELIVERED) == []


# --- thinking-of-you: reports ----------------------------------------------------------------


async def test_a_report_goes_to_the_alert_channel(db: Database, clock: FrozenClock) -> None:
    async with db.session() as session:
        await escalation_repo.update_settings(
            session, GUILD, now=clock.now(), alert_channel_id=ALERT
        )
    await settings.configure(db, clock, GUILD, actor_id=ADMIN, allow_anonymous=True)
    queued = await notes.send(db, clock, GUILD, A, B, text="you know what you did", anonymous=True)
    clock.advance(hours=1)

    assert await notes.report(db, clock, queued.note_id, A) is False  # the sender can't
    assert await notes.report(db, clock, queued.note_id, C) is False  # nor a bystander
    assert await _outbox(db, notes.KIND_REPORT) == []
    assert (await _note(db, queued.note_id)).status == "queued"

    assert await notes.report(db, clock, queued.note_id, B) is True
    note = await _note(db, queued.note_id)
    assert (note.status, note.reported_at) == ("reported", clock.now())
    [alert] = await _outbox(db, notes.KIND_REPORT)
    assert (alert.target_type, alert.target_id, alert.guild_id) == ("channel", ALERT, GUILD)
    assert alert.payload == {"note_id": queued.note_id}  # no text copied out of the note
    content = await _report_content(db, alert)
    assert f"reported by its recipient <@{B}>" in content
    assert f"Sent by <@{A}> (anonymously)" in content  # moderators see who sent it
    assert "> you know what you did" in content

    # Once only.
    assert await notes.report(db, clock, queued.note_id, B) is False
    assert len(await _outbox(db, notes.KIND_REPORT)) == 1
    # A reported note is no longer delivered.
    handler, message = await _prepared(db, clock)
    assert await handler.prepare(message) == Skip("the note is reported")


async def test_without_an_alert_channel_the_owner_is_told(db: Database, clock: FrozenClock) -> None:
    queued = await notes.send(db, clock, GUILD, A, B)
    assert await notes.report(db, clock, queued.note_id, B) is True
    [alert] = await _outbox(db, notes.KIND_REPORT)
    assert (alert.target_type, alert.target_id) == ("guild_owner", GUILD)
    content = await _report_content(db, alert)
    assert f"Sent by <@{A}> on" in content
    assert "(anonymously)" not in content
    assert "(no text" in content


async def test_a_reported_note_stays_encrypted_at_rest(db: Database, clock: FrozenClock) -> None:
    queued = await notes.send(db, clock, GUILD, A, B, text="Remember the lighthouse walk")
    assert await notes.report(db, clock, queued.note_id, B) is True
    payloads = await _raw(db, "SELECT payload FROM outbox_messages")
    assert len(payloads) == 2  # the note's DM and the report
    assert all("lighthouse" not in str(payload) for payload in payloads)


async def test_reporting_a_missing_note(db: Database, clock: FrozenClock) -> None:
    assert await notes.report(db, clock, 12345, B) is False
    assert await _all(db, OutboxMessage) == []


# --- milestones ------------------------------------------------------------------------------


async def _milestone_channel(db: Database, clock: FrozenClock) -> None:
    await settings.configure(
        db, clock, GUILD, actor_id=ADMIN, milestone_channel_id=MILESTONE_CHANNEL
    )


async def test_milestones_are_off_by_default(db: Database, clock: FrozenClock) -> None:
    await _milestone_channel(db, clock)
    assert await milestones.after_checkin(db, clock, GUILD, A, 6, 7) is False
    await notes.set_notes_off(db, clock, GUILD, A, False)  # a member row, milestones unset
    assert await milestones.after_checkin(db, clock, GUILD, A, 6, 7) is False
    assert await _outbox(db, KIND_MILESTONE) == []


async def test_a_streak_milestone_is_queued_once(db: Database, clock: FrozenClock) -> None:
    await _milestone_channel(db, clock)
    await milestones.set_opt_in(db, clock, GUILD, A, True)
    assert await _outbox(db, KIND_MILESTONE) == []  # no join date: no yearly milestone
    assert await milestones.after_checkin(db, clock, GUILD, A, 5, 6) is False
    assert await milestones.after_checkin(db, clock, GUILD, A, 6, 7) is True
    [row] = await _outbox(db, KIND_MILESTONE)
    assert row.payload == {"user_id": A, "kind": "streak", "value": 7}
    assert (row.target_type, row.guild_id, row.due_at) == ("channel", GUILD, clock.now())

    # The same milestone again (a broken streak climbing back, or the same day twice): no.
    assert await milestones.after_checkin(db, clock, GUILD, A, 6, 7) is False
    assert await milestones.after_checkin(db, clock, GUILD, A, 7, 7) is False
    assert len(await _outbox(db, KIND_MILESTONE)) == 1

    assert await milestones.after_checkin(db, clock, GUILD, A, 29, 30) is True
    assert [r.payload["value"] for r in await _outbox(db, KIND_MILESTONE)] == [7, 30]

    delivery = await MilestoneHandler(db, clock).prepare(QueuedMessage.from_row(row))
    assert isinstance(delivery, Delivery)
    assert (delivery.target_type, delivery.target_id) == ("channel", MILESTONE_CHANNEL)
    assert delivery.content == f"🎉 <@{A}> has checked in 7 days in a row. Lovely to see!"


async def test_opting_out_skips_a_queued_milestone(db: Database, clock: FrozenClock) -> None:
    await _milestone_channel(db, clock)
    await milestones.set_opt_in(db, clock, GUILD, A, True)
    await milestones.after_checkin(db, clock, GUILD, A, 6, 7)
    [row] = await _outbox(db, KIND_MILESTONE)
    await milestones.set_opt_in(db, clock, GUILD, A, False)
    handler = handlers(db, clock)[KIND_MILESTONE]
    assert await handler.prepare(QueuedMessage.from_row(row)) == Skip(
        "the member no longer wants milestones celebrated"
    )
    assert await milestones.after_checkin(db, clock, GUILD, A, 29, 30) is False
    assert len(await _outbox(db, KIND_MILESTONE)) == 1


async def test_no_milestone_channel_skips(db: Database, clock: FrozenClock) -> None:
    await milestones.set_opt_in(db, clock, GUILD, A, True)
    await milestones.after_checkin(db, clock, GUILD, A, 6, 7)
    [row] = await _outbox(db, KIND_MILESTONE)
    assert await MilestoneHandler(db, clock).prepare(QueuedMessage.from_row(row)) == Skip(
        "the server has no milestone channel"
    )


async def test_a_completed_buddy_round_is_celebrated_for_those_who_opted_in(
    db: Database, clock: FrozenClock
) -> None:
    await _milestone_channel(db, clock)
    await _buddies_on(db, clock, A, B, C, D)
    await milestones.set_opt_in(db, clock, GUILD, A, True)
    await milestones.set_opt_in(db, clock, GUILD, C, True)
    await milestones.set_opt_in(db, clock, GUILD, D, False)

    await rounds.start(db, clock, GUILD, 1)
    assert await _outbox(db, KIND_MILESTONE) == []  # nothing was completed yet

    clock.advance(days=14)
    await rounds.start(db, clock, GUILD, 2)
    rows = await _outbox(db, KIND_MILESTONE)
    assert sorted((r.payload["user_id"], r.payload["kind"], r.payload["value"]) for r in rows) == [
        (A, "round", 1),
        (C, "round", 1),
    ]
    by_user = {r.payload["user_id"]: r for r in rows}
    delivery = await MilestoneHandler(db, clock).prepare(QueuedMessage.from_row(by_user[A]))
    assert isinstance(delivery, Delivery)
    assert delivery.content == (
        f"🌱 <@{A}> completed a buddy round. Thank you for being there for each other!"
    )
    assert len(await _all(db, BuddyGroup)) == 4


async def test_a_member_who_left_a_round_is_not_celebrated(
    db: Database, clock: FrozenClock
) -> None:
    await _milestone_channel(db, clock)
    await _buddies_on(db, clock, A, B, C)
    for user in (A, B, C):
        await milestones.set_opt_in(db, clock, GUILD, user, True)
    await rounds.start(db, clock, GUILD, 1)  # one trio
    await membership.leave(db, clock, GUILD, C)
    await membership.join(db, clock, GUILD, C, roles=[])
    clock.advance(days=14)
    await rounds.start(db, clock, GUILD, 2)
    rows = await _outbox(db, KIND_MILESTONE)
    assert sorted(r.payload["user_id"] for r in rows) == [A, B]


async def test_the_yearly_milestone_is_queued_at_the_anniversary(
    db: Database, clock: FrozenClock
) -> None:
    await _milestone_channel(db, clock)
    # 5 January 2026; joined 10 March 2024: the second anniversary is next.
    await milestones.set_opt_in(db, clock, GUILD, A, True, joined_on=date(2024, 3, 10))
    [row] = await _outbox(db, KIND_MILESTONE)
    assert row.payload == {"user_id": A, "kind": "year", "value": 2}
    assert row.due_at == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

    # Opting in again does not queue it twice.
    await milestones.set_opt_in(db, clock, GUILD, A, True, joined_on=date(2024, 3, 10))
    assert len(await _outbox(db, KIND_MILESTONE)) == 1

    _set(clock, row.due_at)
    delivery = await MilestoneHandler(db, clock).prepare(QueuedMessage.from_row(row))
    assert isinstance(delivery, Delivery)
    assert (delivery.target_type, delivery.target_id) == ("channel", MILESTONE_CHANNEL)
    assert delivery.content == (
        f"🎂 <@{A}> has been part of this community for 2 years. We're glad you're here!"
    )
    # Next year's is queued while they stay opted in.
    rows = await _outbox(db, KIND_MILESTONE)
    assert [(r.payload["value"], r.due_at) for r in rows] == [
        (2, datetime(2026, 3, 10, 12, 0, tzinfo=UTC)),
        (3, datetime(2027, 3, 10, 12, 0, tzinfo=UTC)),
    ]


async def test_the_first_year_says_a_year(db: Database, clock: FrozenClock) -> None:
    await _milestone_channel(db, clock)
    await milestones.set_opt_in(db, clock, GUILD, A, True, joined_on=date(2025, 6, 1))
    [row] = await _outbox(db, KIND_MILESTONE)
    assert (row.payload["value"], row.due_at) == (1, datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    _set(clock, row.due_at)
    delivery = await MilestoneHandler(db, clock).prepare(QueuedMessage.from_row(row))
    assert isinstance(delivery, Delivery)
    assert delivery.content is not None
    assert "for a year." in delivery.content


async def test_a_29_february_join_is_celebrated_on_1_march(
    db: Database, clock: FrozenClock
) -> None:
    await _milestone_channel(db, clock)
    await milestones.set_opt_in(db, clock, GUILD, A, True, joined_on=date(2024, 2, 29))
    [row] = await _outbox(db, KIND_MILESTONE)
    assert (row.payload["value"], row.due_at) == (2, datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    _set(clock, row.due_at)
    assert isinstance(
        await MilestoneHandler(db, clock).prepare(QueuedMessage.from_row(row)), Delivery
    )
    rows = await _outbox(db, KIND_MILESTONE)
    # 2028 is a leap year: the fourth anniversary falls on the day itself.
    assert [(r.payload["value"], r.due_at) for r in rows] == [
        (2, datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        (3, datetime(2027, 3, 1, 12, 0, tzinfo=UTC)),
    ]
    _set(clock, rows[1].due_at)
    assert isinstance(
        await MilestoneHandler(db, clock).prepare(QueuedMessage.from_row(rows[1])), Delivery
    )
    last = (await _outbox(db, KIND_MILESTONE))[-1]
    assert (last.payload["value"], last.due_at) == (4, datetime(2028, 2, 29, 12, 0, tzinfo=UTC))


async def test_a_yearly_milestone_after_opting_out_is_skipped_and_not_renewed(
    db: Database, clock: FrozenClock
) -> None:
    await _milestone_channel(db, clock)
    await milestones.set_opt_in(db, clock, GUILD, A, True, joined_on=date(2024, 3, 10))
    [row] = await _outbox(db, KIND_MILESTONE)
    await milestones.set_opt_in(db, clock, GUILD, A, False)
    _set(clock, row.due_at)
    assert isinstance(await MilestoneHandler(db, clock).prepare(QueuedMessage.from_row(row)), Skip)
    assert len(await _outbox(db, KIND_MILESTONE)) == 1
    async with db.session() as session:
        member = await session.get(CircleMember, (GUILD, A))
    assert member is not None
    assert member.milestones is False


async def test_opting_in_on_the_anniversary_morning_celebrates_today(
    db: Database, clock: FrozenClock
) -> None:
    await _milestone_channel(db, clock)
    _set(clock, datetime(2026, 3, 10, 8, 0, tzinfo=UTC))
    await milestones.set_opt_in(db, clock, GUILD, A, True, joined_on=date(2024, 3, 10))
    [row] = await _outbox(db, KIND_MILESTONE)
    assert (row.payload["value"], row.due_at) == (2, datetime(2026, 3, 10, 12, 0, tzinfo=UTC))


async def test_opting_out_and_in_again_keeps_the_join_date(
    db: Database, clock: FrozenClock
) -> None:
    await _milestone_channel(db, clock)
    await milestones.set_opt_in(db, clock, GUILD, A, True, joined_on=date(2024, 3, 10))
    await milestones.set_opt_in(db, clock, GUILD, A, False)
    async with db.session() as session:
        member = await session.get(CircleMember, (GUILD, A))
    assert member is not None
    assert member.joined_on == date(2024, 3, 10)


# --- the picture -----------------------------------------------------------------------------


def test_render_png_is_a_valid_png() -> None:
    many = [f"friend {n}" for n in range(11)]
    png = render_png(
        {Kind.EMOTIONAL: ["my sister", "Dr Lee (professional)"], Kind.COMPANIONSHIP: many}
    )
    assert png.startswith(PNG_MAGIC)
    assert png[12:16] == b"IHDR"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (700, 700)
    assert png.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - PIL comes with matplotlib
        return
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.size == (700, 700)


def test_render_png_of_an_empty_circle() -> None:
    png = render_png({})
    assert png.startswith(PNG_MAGIC)
    matplotlib_image = pytest.importorskip("matplotlib.image")
    pixels = matplotlib_image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (700, 700)
