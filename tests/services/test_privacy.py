"""A member's data across every feature, on both backends: what /privacy show counts, what
/privacy export contains (and hides), what /privacy delete erases and keeps (a scan of every
table finds nothing of the member afterwards), retention with an injected clock, and the
erasure of members who left."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bot.db.engine import Database
from bot.db.models import (
    ActivityDay,
    AppState,
    AuditEntry,
    Base,
    BuddyBlock,
    BuddyRound,
    Checkin,
    CirclePerson,
    MemberDeparture,
    OutboxMessage,
    PrivacySettings,
    SupportRequest,
    ThinkingNote,
)
from bot.db.repositories import buddies as buddy_repo
from bot.domain.checkins import InvalidInput, Mood
from bot.domain.circles import Kind
from bot.domain.escalation import Actor, Urgency
from bot.jobs.delivery import Done, QueuedMessage
from bot.jobs.outbox import OutboxDispatcher
from bot.services.buddies import membership, rounds
from bot.services.checkins import records
from bot.services.circles import circle, milestones, notes, offers
from bot.services.circles import settings as circle_settings
from bot.services.escalation import config as escalation_config
from bot.services.escalation import requests
from bot.services.escalation.requests import Opened
from bot.services.privacy import member_data, pseudonyms, retention
from bot.services.privacy.export import Export
from bot.services.reachout import consent
from bot.services.reachout import settings as reachout_settings
from bot.services.reachout.activity import MESSAGE, REACTION, ActivityTracker
from tests.helpers import FrozenClock
from tests.jobs.ladder_support import FakeSender

# Real-sized Discord ids, so a substring match on one can only be that id.
GUILD, OTHER_GUILD = 811_000_000_000_000_101, 811_000_000_000_000_102
ME = 700_000_000_000_000_001  # the member who asks for their data, then erases it
MOD = 700_000_000_000_000_002  # the moderator who handles ME's request
BLOCKER = 700_000_000_000_000_003  # blocked ME in the buddy programme
BLOCKED = 700_000_000_000_000_004  # ME blocked them
FRIEND = 700_000_000_000_000_005  # in ME's circle, and ME in theirs; ME's buddy
ANON = 700_000_000_000_000_006  # sent ME an anonymous note
REQUESTER = 700_000_000_000_000_007  # a member whose request ME (a moderator too) handled
ALERTS, MOD_ROLE, SUPPORT = (
    600_000_000_000_000_001,
    600_000_000_000_000_002,
    600_000_000_000_000_003,
)
BUDDY_CHANNEL, CHAT_CHANNEL = 600_000_000_000_000_004, 600_000_000_000_000_005

MY_NOTE = "couldn't sleep again, the new meds"
MY_ACTED_CONTEXT = "panic at work, I need someone"
MY_WAITING_CONTEXT = "rough evening, would like to talk"
REQUESTER_CONTEXT = "my dad is in hospital"
TYPED_NAME = "Aunt Rosa"
FRIENDS_TYPED_NAME = "Cousin Mel"
TOPICS = "grief, night shifts"
ANON_NOTE = "you are not alone"
MY_NOTE_TO_FRIEND = "thinking of you today"


# --- helpers -----------------------------------------------------------------------------------


async def _all(db: Database, model: Any, *where: Any) -> list[Any]:
    async with db.session() as session:
        return list((await session.scalars(select(model).where(*where))).all())


async def _one(db: Database, model: Any, key: Any) -> Any:
    async with db.session() as session:
        return await session.get(model, key)


def _moved(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    return {key for key in old if old[key] != new[key]}


async def _scan(db: Database, user_id: int) -> list[tuple[str, str]]:
    async with db.session() as session:
        return await member_data.scan(session, user_id)


async def _tomb(db: Database, clock: FrozenClock, guild_id: int, user_id: int) -> int:
    async with db.session() as session:
        return await member_data.tombstone(session, guild_id, user_id, now=clock.now())


Snapshot = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


async def _snapshot(db: Database) -> Snapshot:
    """Every row of every table (free text decrypted), by primary key."""
    found: Snapshot = {}
    async with db.session() as session:
        for table in Base.metadata.sorted_tables:
            keys = [c.name for c in table.primary_key.columns]
            rows = (await session.execute(select(table))).mappings().all()
            found[table.name] = {tuple(r[k] for k in keys): dict(r) for r in rows}
    return found


def _holds(row: dict[str, Any], user_id: int) -> bool:
    """Whether a row holds the id: as a value, or inside text or JSON."""
    for value in row.values():
        if isinstance(value, int) and not isinstance(value, bool) and value == user_id:
            return True
        if isinstance(value, str | dict | list) and str(user_id) in json.dumps(value):
            return True
    return False


@dataclass
class Changes:
    removed: list[tuple[str, dict[str, Any]]]
    changed: list[tuple[str, dict[str, Any], dict[str, Any]]]
    added: list[tuple[str, dict[str, Any]]]


def _diff(before: Snapshot, after: Snapshot) -> Changes:
    changes = Changes([], [], [])
    for table, rows in before.items():
        for key, row in rows.items():
            now = after[table].get(key)
            if now is None:
                changes.removed.append((table, row))
            elif now != row:
                changes.changed.append((table, row, now))
        changes.added += [(table, after[table][k]) for k in after[table].keys() - rows.keys()]
    return changes


async def _opened(
    db: Database,
    clock: FrozenClock,
    member: int,
    context: str | None,
    guild_id: int = GUILD,
    urgency: Urgency = Urgency.STRUGGLING,
) -> int:
    result = await requests.open_request(
        db,
        clock,
        guild_id=guild_id,
        member_id=member,
        urgency=urgency,
        locale="en-US",
        context=context,
    )
    assert isinstance(result, Opened)
    return result.request.request_id


async def _checkin(
    db: Database, clock: FrozenClock, user: int, note: str | None, guild_id: int = GUILD
) -> int:
    if not await records.has_consented(db, guild_id, user):
        await records.give_consent(db, clock, guild_id, user)
    recorded = await records.record(db, clock, guild_id, user, Mood.LOW)
    if note is not None:
        await records.add_note(db, recorded.checkin_id, user, note)
    return recorded.checkin_id


async def _set_up_server(db: Database, clock: FrozenClock, guild_id: int = GUILD) -> None:
    await escalation_config.configure(
        db,
        clock,
        guild_id,
        MOD,
        alert_channel_id=ALERTS,
        moderator_role_id=MOD_ROLE,
        support_channel_id=SUPPORT,
    )
    async with db.session() as session:
        await buddy_repo.update_settings(
            session, guild_id, now=clock.now(), channel_id=BUDDY_CHANNEL
        )
    await reachout_settings.configure(db, clock, guild_id, actor_id=MOD, enabled=True)
    await circle_settings.configure(db, clock, guild_id, actor_id=MOD, allow_anonymous=True)


@dataclass(frozen=True)
class World:
    acted_request: int  # ME's, claimed and resolved by MOD
    waiting_request: int  # ME's, no moderator acted on it
    handled_request: int  # REQUESTER's, claimed, handed off, claimed again and resolved by ME
    round_id: int
    friends_entry: int  # FRIEND's circle entry naming ME
    anon_note: int
    note_to_friend: int


async def _member_everywhere(db: Database, clock: FrozenClock) -> World:
    """ME, with data in every feature, made through the real services, among other members."""
    await _set_up_server(db, clock)

    # Check-ins: one with a note, one without; a timezone in the profile.
    await _checkin(db, clock, ME, MY_NOTE)
    clock.advance(days=1)
    await _checkin(db, clock, ME, None)

    # "I need to talk": one a moderator acted on, one nobody acted on yet.
    acted = await _opened(db, clock, ME, MY_ACTED_CONTEXT)
    await requests.claim(db, clock, GUILD, acted, Actor(MOD, manage_server=True))
    await requests.resolve(db, clock, GUILD, acted, Actor(MOD, manage_server=True))
    clock.advance(minutes=5)
    waiting = await _opened(db, clock, ME, MY_WAITING_CONTEXT, urgency=Urgency.CHAT)

    # ME is a moderator too: on duty, and handles someone else's request.
    assert await escalation_config.set_duty(db, clock, GUILD, ME, True)
    handled = await _opened(db, clock, REQUESTER, REQUESTER_CONTEXT)
    await requests.claim(db, clock, GUILD, handled, Actor(ME, manage_server=True))
    await requests.hand_off(db, clock, GUILD, handled, Actor(ME, manage_server=True))
    await requests.claim(db, clock, GUILD, handled, Actor(ME, manage_server=True))
    await requests.resolve(db, clock, GUILD, handled, Actor(ME, manage_server=True))

    # Buddies: a block each way, and a round ME started as a moderator (ME pairs with FRIEND).
    await membership.join(db, clock, GUILD, ME, roles=[], timezone="Europe/Lisbon")
    for user in (BLOCKER, BLOCKED, FRIEND):
        await membership.join(db, clock, GUILD, user, roles=[])
    await membership.block(db, clock, GUILD, BLOCKER, ME)
    await membership.block(db, clock, GUILD, ME, BLOCKED)
    plan = await rounds.start(db, clock, GUILD, 7, actor_id=ME)
    assert {frozenset(g) for g in plan.groups} == {
        frozenset((ME, FRIEND)),
        frozenset((BLOCKER, BLOCKED)),
    }
    async with db.session() as session:
        latest = await buddy_repo.latest_round(session, GUILD)
    assert latest is not None

    # Reach-out: consent and activity.
    await consent.set_consent(db, clock, GUILD, ME, True)
    tracker = ActivityTracker(db, clock)
    assert await tracker.seen(GUILD, ME, MESSAGE, channel_id=CHAT_CHANNEL)
    assert await tracker.seen(GUILD, ME, REACTION, channel_id=CHAT_CHANNEL)
    assert await tracker.flush() == 1

    # Circles: ME's circle (a member and a typed name), FRIEND's circle naming ME, an offer,
    # notes both ways, milestones.
    await circle.add(db, clock, GUILD, ME, Kind.EMOTIONAL, member_id=FRIEND)
    await circle.add(db, clock, GUILD, ME, Kind.PRACTICAL, name=TYPED_NAME, professional=True)
    friends = await circle.add(db, clock, GUILD, FRIEND, Kind.EMOTIONAL, member_id=ME)
    await circle.add(db, clock, GUILD, FRIEND, Kind.COMPANIONSHIP, name=FRIENDS_TYPED_NAME)
    await offers.set_offer(
        db, clock, GUILD, ME, kinds=[Kind.EMOTIONAL, Kind.INFORMATIONAL], topics=TOPICS
    )
    anon = await notes.send(db, clock, GUILD, ANON, ME, text=ANON_NOTE, anonymous=True)
    to_friend = await notes.send(db, clock, GUILD, ME, FRIEND, text=MY_NOTE_TO_FRIEND)
    await milestones.set_opt_in(db, clock, GUILD, ME, True, joined_on=date(2024, 3, 1))

    # Data of ME in the export is also recorded (privacy.export in the audit log).
    await member_data.export_member(db, clock, GUILD, ME)
    return World(acted, waiting, handled, latest.id, friends.id, anon.note_id, to_friend.note_id)


# --- show and export -----------------------------------------------------------------------------


async def test_show_counts_every_kind_of_data(db: Database, clock: FrozenClock) -> None:
    await _member_everywhere(db, clock)
    counts = dict(await member_data.counts(db, GUILD, ME))
    async with db.session() as session:
        to_me = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.target_type == "user",
                OutboxMessage.target_id == ME,
                OutboxMessage.status.in_(("pending", "sending")),  # not those already sent
            )
        )
    assert to_me, "the scenario should leave messages queued to the member"
    assert counts == {
        "your settings (timezone, reminder)": 1,
        "check-ins (mood, and notes, encrypted)": 2,
        "your buddy-programme membership": 1,
        "people you asked not to be paired with": 1,
        "buddy pairings you were part of": 1,
        "your “I need to talk” requests": 2,
        "your moderator on-duty status": 1,
        "when you were last active, reach-out": 1,
        "days you were active (counts only)": 1,
        "people in your support circle": 2,
        "the support you offer": 1,
        "your circle choices (notes, milestones)": 1,
        "thinking-of-you notes you sent": 1,
        "thinking-of-you notes you received": 1,
        "messages Kinfolk is about to send you": to_me,
    }
    # Another member's counts are theirs alone; a member with nothing here has nothing.
    assert dict(await member_data.counts(db, GUILD, BLOCKED)) == {
        "your buddy-programme membership": 1,
        "buddy pairings you were part of": 1,
        "messages Kinfolk is about to send you": 1,  # "did you two connect?"
    }
    assert await member_data.counts(db, OTHER_GUILD, ME) == []


def _section(exported: Export, key: str) -> list[dict]:
    return exported.section(key)


async def test_export_holds_every_kind_of_data_with_free_text_decrypted(
    db: Database, clock: FrozenClock
) -> None:
    world = await _member_everywhere(db, clock)
    exported = await member_data.export(db, GUILD, ME, now=clock.now())
    data = exported.as_json()
    json.dumps(data)  # the file the member receives
    assert (data["server_id"], data["member_id"], data["timezone"]) == (
        GUILD,
        ME,
        "Europe/Lisbon",
    )
    # Every section has something: the member used every feature.
    assert [key for key, section in data["sections"].items() if not section["items"]] == []
    [settings, duty] = _section(exported, "settings")
    assert settings["your timezone"] == "Europe/Lisbon"
    assert set(duty) == {"on duty as a moderator since"}
    assert sorted((c["your private note"] or "") for c in _section(exported, "checkins")) == [
        "",
        MY_NOTE,
    ]
    requests = {r["request"]: r for r in _section(exported, "requests_to_talk")}
    assert {rid: r["what you wrote"] for rid, r in requests.items()} == {
        world.acted_request: MY_ACTED_CONTEXT,
        world.waiting_request: MY_WAITING_CONTEXT,
    }
    acted = requests[world.acted_request]
    assert (acted["now"], acted["picked up by"]) == ("resolved", f"member {MOD}")
    assert [b["never paired with"] for b in _section(exported, "blocks")] == [f"member {BLOCKED}"]
    [pairing] = _section(exported, "buddy_rounds")
    assert pairing["paired with"] == [f"member {FRIEND}"]
    [activity] = _section(exported, "reach_out")
    assert activity["may Kinfolk DM you if you go quiet"] == "yes"
    [day] = _section(exported, "activity_days")
    assert (day["messages"], day["reactions"], day["day (UTC)"]) == (
        1,
        1,
        clock.now().date().isoformat(),
    )
    people = [p for p in _section(exported, "circle") if "kind of support" in p]
    assert sorted((p["kind of support"], p["who"], p["a professional"]) for p in people) == [
        ("emotional", f"member {FRIEND}", False),
        ("practical", TYPED_NAME, True),
    ]
    [choices] = [p for p in _section(exported, "circle") if "milestones shared" in p]
    assert (choices["milestones shared"], choices["with the community since (for milestones)"]) == (
        True,
        "2024-03-01",
    )
    [offer] = _section(exported, "offers")
    assert (offer["kinds of support you offer"], offer["topics"]) == (
        ["emotional", "informational"],
        ["grief", "night shifts"],
    )
    [sent] = _section(exported, "notes_sent")
    assert (sent["to"], sent["your words"]) == (f"member {FRIEND}", MY_NOTE_TO_FRIEND)
    [received] = _section(exported, "notes_received")
    assert (received["their words"], received["from"]) == (
        ANON_NOTE,
        "someone who chose to stay anonymous",
    )
    # Queued messages: what and when, not their inner workings.
    messages = _section(exported, "messages")
    assert "a thinking-of-you note" in {m["what"] for m in messages}
    assert all(set(m) == {"what", "now", "due", "sent"} for m in messages)
    # Dates are the member's: Lisbon is UTC+0 in winter, +1 in summer; either way, labelled.
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d \(\+0[01]:00\)", sent["when"])


async def test_export_keeps_what_others_hold_in_confidence(
    db: Database, clock: FrozenClock
) -> None:
    await _member_everywhere(db, clock)
    exported = await member_data.export(db, GUILD, ME, now=clock.now())
    text = json.dumps(exported.as_json()) + exported.as_text()
    # The anonymous note does not name its sender, anywhere in either file.
    assert str(ANON) not in text
    # A block someone made against the member is theirs.
    assert str(BLOCKER) not in text
    assert len(_section(exported, "blocks")) == 1
    # So is someone's private circle naming the member.
    assert FRIENDS_TYPED_NAME not in text
    # Other moderators' requests the member handled are not the member's requests.
    assert REQUESTER_CONTEXT not in text
    # The sender of the anonymous note still sees it among the notes they sent.
    anons = await member_data.export(db, GUILD, ANON, now=clock.now())
    [sent] = _section(anons, "notes_sent")
    assert (sent["to"], sent["your words"], sent["anonymously"]) == (
        f"member {ME}",
        ANON_NOTE,
        True,
    )


async def test_export_member_is_audited(db: Database, clock: FrozenClock) -> None:
    await _set_up_server(db, clock)
    await _checkin(db, clock, ME, MY_NOTE)
    data = await member_data.export_member(db, clock, GUILD, ME)
    assert data == await member_data.export(db, GUILD, ME, now=clock.now())
    entries = await _all(db, AuditEntry, AuditEntry.action == "privacy.export")
    # A member's own request: recorded, without saying whose it was.
    assert [(e.guild_id, e.actor_id, e.created_at) for e in entries] == [
        (GUILD, member_data.MEMBER_REQUEST, clock.now())
    ]


# --- delete --------------------------------------------------------------------------------------


async def test_delete_leaves_no_trace_of_the_member_but_the_documented_pseudonyms(
    db: Database, clock: FrozenClock
) -> None:
    world = await _member_everywhere(db, clock)
    assert await _scan(db, ME), "the member's id should be found before erasure"
    before = await _snapshot(db)
    # Messages about to go to the member, or about them (a milestone post names them).
    queued_for_me = sum(_holds(r, ME) for r in before["outbox_messages"].values())
    assert queued_for_me >= 3
    tomb = await _tomb(db, clock, GUILD, ME)
    before = await _snapshot(db)
    clock.advance(hours=1)

    erased = await member_data.delete_member(db, clock, GUILD, ME)

    assert await _scan(db, ME) == []
    after = await _snapshot(db)
    changes = _diff(before, after)
    # Nothing that did not hold the member changed or went (the outbox rows of their
    # requests hold them in `member_id`). New rows: the deletion's audit row, and the block
    # against the member, whose key now names the pseudonym.
    assert erased.deleted == {
        "member_profiles": 1,
        "checkins": 2,
        "buddy_members": 1,
        "buddy_blocks": 1,
        "buddy_group_members": 1,
        "support_requests": 1,
        "moderator_duty": 1,
        "member_activity": 1,
        "activity_days": 1,
        "circle_people": 2,
        "support_offers": 1,
        "circle_members": 1,
        "outbox_messages": queued_for_me,
    }
    assert set(erased.kept) == {
        "support_requests",
        "support_requests.handled",  # someone else's request, which the member handled
        "audit_log",
        "buddy_blocks",
        "buddy_rounds",
        "circle_people",
        "thinking_notes",  # this week's notes, without their words: the limits still hold
    }
    assert set(erased.kept) <= set(member_data.KEPT_WHY)  # each is explained to the member

    for table, row in changes.removed:
        assert _holds(row, ME), (table, row)
    # Their running pair with FRIEND ends as if they had left: the group ends, FRIEND is
    # first in line for a rematch and told the neutral words, the thread is closed.
    ended = [(t, old, new) for t, old, new in changes.changed if not _holds(old, ME)]
    assert sorted((t, _moved(old, new)) for t, old, new in ended) == [
        ("buddy_groups", {"ended_at"}),
        ("buddy_members", {"updated_at", "wants_rematch"}),
    ]
    assert all(new["wants_rematch"] for t, _, new in ended if t == "buddy_members")
    added_outbox = [r for t, r in changes.added if t == "outbox_messages"]
    assert sorted((r["kind"], r["target_id"]) for r in added_outbox) == sorted(
        [("buddy_thread", 0), ("plain", FRIEND)]
    )
    assert not any(_holds(r, ME) for r in added_outbox)
    assert sorted(
        (t, r.get("action") or (r.get("user_id"), r.get("blocked_id")))
        for t, r in changes.added
        if t != "outbox_messages"
    ) == [("audit_log", "privacy.delete"), ("buddy_blocks", (BLOCKER, tomb))]
    rekeyed = [r for t, r in changes.removed if t == "buddy_blocks" and r["user_id"] == BLOCKER]
    assert [r["blocked_id"] for r in rekeyed] == [ME]
    assert sum(erased.deleted.values()) == len(changes.removed) - len(rekeyed)

    # What stays, each exactly as documented.
    changed = {(t, old.get("id")): (old, new) for t, old, new in changes.changed}
    acted_old, acted_new = changed[("support_requests", world.acted_request)]
    assert acted_new == {**acted_old, "member_id": tomb, "context": None}
    assert acted_old["context"] == MY_ACTED_CONTEXT
    assert await _one(db, SupportRequest, world.waiting_request) is None
    handled_old, handled_new = changed[("support_requests", world.handled_request)]
    assert handled_new == {**handled_old, "claimed_by": tomb, "closed_by": tomb}
    assert handled_new["context"] == REQUESTER_CONTEXT  # the requester's words are theirs

    blocks = await _all(db, BuddyBlock)
    assert [(b.user_id, b.blocked_id, b.reason) for b in blocks] == [(BLOCKER, tomb, "block")]
    round_row = await _one(db, BuddyRound, world.round_id)
    assert round_row.started_by == tomb

    friends_entry = await _one(db, CirclePerson, world.friends_entry)
    assert (friends_entry.user_id, friends_entry.kind, friends_entry.person_user_id) == (
        FRIEND,
        "emotional",
        None,
    )
    friends_circle = await circle.view(db, GUILD, FRIEND)
    assert sorted((e.person.kind.value, e.person.name) for e in friends_circle.entries) == [
        ("companionship", FRIENDS_TYPED_NAME),
        ("emotional", None),
    ]

    audit_rows = await _all(db, AuditEntry)
    actors_before = [r for r in before["audit_log"].values() if r["actor_id"] == ME]
    assert actors_before, "the scenario should have audit rows by the member"
    for row in actors_before:
        assert after["audit_log"][(row["id"],)]["actor_id"] == tomb
    handed_off = [r for r in audit_rows if r.action == "talk.handed_off"]
    assert [(r.other_member_id, r.detail) for r in handed_off] == [(tomb, {})]
    # Their own request is recorded without saying whose it was.
    [deletion] = [r for r in audit_rows if r.action == "privacy.delete"]
    assert (deletion.actor_id, deletion.created_at) == (member_data.MEMBER_REQUEST, clock.now())
    notes_now = sorted(
        (n.sender_id, n.recipient_id, n.note, n.anonymous) for n in await _all(db, ThinkingNote)
    )
    assert notes_now == sorted([(ANON, tomb, None, True), (tomb, FRIEND, None, False)])
    assert deletion.detail == {"deleted": erased.deleted, "kept": erased.kept}

    # The erased member has nothing left to show or export here.
    assert await member_data.counts(db, GUILD, ME) == []
    exported = await member_data.export(db, GUILD, ME, now=clock.now())
    assert [s.key for s in exported.sections if s.items] == []


async def test_a_block_against_an_erased_member_still_holds_when_they_come_back(
    db: Database, clock: FrozenClock
) -> None:
    await _member_everywhere(db, clock)
    await member_data.delete_member(db, clock, GUILD, ME)
    for user in (BLOCKED, FRIEND):
        assert await membership.leave(db, clock, GUILD, user)
    clock.advance(days=1)

    await membership.join(db, clock, GUILD, ME, roles=[])
    for seed in range(5):
        plan = await rounds.preview(db, clock, GUILD, seed)
        assert plan.eligible == 2
        assert plan.groups == ()
        assert sorted(plan.unplaced) == sorted((ME, BLOCKER))
    started = await rounds.start(db, clock, GUILD, 3)
    assert started.groups == ()

    # It is that block, under the pseudonym, that keeps them apart.
    async with db.session() as session:
        [block] = (await session.scalars(select(BuddyBlock))).all()
        assert block.blocked_id < 0
        await session.delete(block)
    plan = await rounds.preview(db, clock, GUILD, 0)
    assert {frozenset(g) for g in plan.groups} == {frozenset((ME, BLOCKER))}


async def test_the_pseudonym_is_stable_negative_and_per_server(
    db: Database, clock: FrozenClock
) -> None:
    first = await _tomb(db, clock, GUILD, ME)
    clock.advance(days=3)
    assert await _tomb(db, clock, GUILD, ME) == first
    assert first < 0
    assert first not in (ME, -ME)
    assert await _tomb(db, clock, OTHER_GUILD, ME) not in (first, ME)
    assert await _tomb(db, clock, OTHER_GUILD, ME) < 0
    assert await _tomb(db, clock, GUILD, FRIEND) not in (first, FRIEND)
    # One secret per deployment, made once, kept encrypted (a copy of the database alone
    # cannot turn a pseudonym back into a member), and nothing in plain text beside it.
    state = await _snapshot(db)
    assert list(state["deployment_secrets"]) == [(pseudonyms.ROW_NAME,)]
    assert "app_state" not in state or not state["app_state"]
    async with db.session() as session:
        raw = (await session.execute(text("SELECT value FROM deployment_secrets"))).scalar_one()
        plain = await pseudonyms.secret(session, now=clock.now())
    assert plain not in raw
    assert raw.startswith("gAAAA")  # a Fernet token


async def test_a_plain_text_secret_of_an_old_deployment_is_moved_and_keeps_its_pseudonyms(
    db: Database, clock: FrozenClock
) -> None:
    legacy = "an-old-plain-secret"
    async with db.session() as session:
        session.add(AppState(key=pseudonyms.LEGACY_STATE, value=legacy, updated_at=clock.now()))
    old = pseudonyms.pseudonym(legacy, GUILD, ME)

    await pseudonyms.secure(db, clock)  # what the bot does at every start

    async with db.session() as session:
        assert await session.get(AppState, pseudonyms.LEGACY_STATE) is None
        raw = (await session.execute(text("SELECT value FROM deployment_secrets"))).scalar_one()
    assert legacy not in raw
    assert await _tomb(db, clock, GUILD, ME) == old  # blocks made before still match
    # A plain copy that comes back (an old backup restored over app_state) is dropped again,
    # and the secret already stored wins.
    async with db.session() as session:
        session.add(AppState(key=pseudonyms.LEGACY_STATE, value="other", updated_at=clock.now()))
    await pseudonyms.secure(db, clock)
    async with db.session() as session:
        assert await session.get(AppState, pseudonyms.LEGACY_STATE) is None
    assert await _tomb(db, clock, GUILD, ME) == old


async def test_deleting_in_one_server_leaves_the_other_server_alone(
    db: Database, clock: FrozenClock
) -> None:
    await _member_everywhere(db, clock)
    await _set_up_server(db, clock, OTHER_GUILD)
    other_checkin = await _checkin(db, clock, ME, "other server note", guild_id=OTHER_GUILD)
    other_request = await _opened(db, clock, ME, "other server words", guild_id=OTHER_GUILD)
    await circle.add(db, clock, OTHER_GUILD, ME, Kind.EMOTIONAL, name="Sam")
    await membership.join(db, clock, OTHER_GUILD, ME, roles=[])
    await membership.block(db, clock, OTHER_GUILD, FRIEND, ME)
    other_before = {
        table: {k: r for k, r in rows.items() if r.get("guild_id") == OTHER_GUILD}
        for table, rows in (await _snapshot(db)).items()
    }
    other_counts = await member_data.counts(db, OTHER_GUILD, ME)

    await member_data.delete_member(db, clock, GUILD, ME)

    snapshot = await _snapshot(db)
    other_after = {
        table: {k: r for k, r in rows.items() if r.get("guild_id") == OTHER_GUILD}
        for table, rows in snapshot.items()
    }
    assert other_after == other_before
    assert await member_data.counts(db, OTHER_GUILD, ME) == other_counts
    assert (await _one(db, Checkin, other_checkin)).note == "other server note"
    assert (await _one(db, SupportRequest, other_request)).context == "other server words"
    assert (await _one(db, BuddyBlock, (OTHER_GUILD, FRIEND, ME))) is not None
    # What is left of the member anywhere is in the other server only.
    assert await _scan(db, ME) != []
    guilds_holding_me = {
        row.get("guild_id")
        for rows in snapshot.values()
        for row in rows.values()
        if _holds(row, ME)
    }
    assert guilds_holding_me == {OTHER_GUILD}

    await member_data.delete_member(db, clock, OTHER_GUILD, ME)
    assert await _scan(db, ME) == []
    [(_, _, blocked)] = [
        (b.guild_id, b.user_id, b.blocked_id)
        for b in await _all(db, BuddyBlock, BuddyBlock.guild_id == OTHER_GUILD)
    ]
    assert blocked == await _tomb(db, clock, OTHER_GUILD, ME)
    assert blocked != await _tomb(db, clock, GUILD, ME)


async def test_deleting_twice_is_harmless(db: Database, clock: FrozenClock) -> None:
    await _member_everywhere(db, clock)
    await member_data.delete_member(db, clock, GUILD, ME)
    before = await _snapshot(db)
    clock.advance(minutes=1)

    again = await member_data.delete_member(db, clock, GUILD, ME)

    assert (again.deleted, again.kept) == ({}, {})
    changes = _diff(before, await _snapshot(db))
    assert (changes.removed, changes.changed) == ([], [])
    assert [(t, r["action"], r["actor_id"]) for t, r in changes.added] == [
        ("audit_log", "privacy.delete", member_data.MEMBER_REQUEST)
    ]
    assert await _scan(db, ME) == []


async def test_what_was_kept_is_counted_in_rows(db: Database, clock: FrozenClock) -> None:
    await _set_up_server(db, clock)
    handled = await _opened(db, clock, REQUESTER, REQUESTER_CONTEXT)
    await requests.claim(db, clock, GUILD, handled, Actor(ME, manage_server=True))
    await requests.hand_off(
        db, clock, GUILD, handled, Actor(ME, manage_server=True)
    )  # audit: actor ME, detail previous=ME
    await requests.claim(db, clock, GUILD, handled, Actor(ME, manage_server=True))
    await requests.resolve(db, clock, GUILD, handled, Actor(ME, manage_server=True))
    before = await _snapshot(db)

    async with db.session() as session:
        erased = await member_data.erase(session, GUILD, ME, now=clock.now())

    changes = _diff(before, await _snapshot(db))
    rows_kept: dict[str, int] = {}
    for table, _, _ in changes.changed:
        rows_kept[table] = rows_kept.get(table, 0) + 1
    assert rows_kept == {"support_requests": 1, "audit_log": 4}
    # The request is someone else's, handled by the member as a moderator: told so.
    assert erased.kept == {"support_requests.handled": 1, "audit_log": 4}


async def test_a_request_a_moderator_claimed_then_handed_off_is_kept(
    db: Database, clock: FrozenClock
) -> None:
    await _set_up_server(db, clock)
    request_id = await _opened(db, clock, ME, MY_ACTED_CONTEXT)
    await requests.claim(db, clock, GUILD, request_id, Actor(MOD, manage_server=True))
    await requests.hand_off(db, clock, GUILD, request_id, Actor(MOD, manage_server=True))
    await requests.cancel(db, clock, request_id, ME)

    await member_data.delete_member(db, clock, GUILD, ME)

    row = await _one(db, SupportRequest, request_id)
    assert row is not None
    assert (row.member_id, row.context) == (await _tomb(db, clock, GUILD, ME), None)


# --- retention -----------------------------------------------------------------------------------


async def _purge(db: Database, clock: FrozenClock) -> dict[str, int]:
    async with db.session() as session:
        return await retention.purge(session, clock.now())


async def _texts(db: Database) -> dict[str, dict[int, str | None]]:
    return {
        "checkins": {r.id: r.note for r in await _all(db, Checkin)},
        "support_requests": {r.id: r.context for r in await _all(db, SupportRequest)},
        "thinking_notes": {r.id: r.note for r in await _all(db, ThinkingNote)},
    }


async def _free_text(
    db: Database, clock: FrozenClock, guild_id: int, label: str, closed: bool = True
) -> dict[str, int]:
    """A check-in note, a closed (or still open) request's words and a note, written now."""
    checkin = await _checkin(db, clock, ME, f"{label} check-in", guild_id=guild_id)
    request = await _opened(db, clock, ME, f"{label} words", guild_id=guild_id)
    if closed:
        await requests.claim(db, clock, guild_id, request, Actor(MOD, manage_server=True))
        await requests.resolve(db, clock, guild_id, request, Actor(MOD, manage_server=True))
    note = await notes.send(db, clock, guild_id, FRIEND, ME, text=f"{label} note")
    return {"checkins": checkin, "support_requests": request, "thinking_notes": note.note_id}


async def test_purge_clears_free_text_older_than_90_days_by_default(
    db: Database, clock: FrozenClock
) -> None:
    await _set_up_server(db, clock)
    old = await _free_text(db, clock, GUILD, "old")
    clock.advance(days=60)
    new = await _free_text(db, clock, GUILD, "new")

    clock.advance(days=29, hours=23)  # the old ones are 89 days 23 hours old
    assert set((await _purge(db, clock)).values()) == {0}
    assert all(texts[old[table]] is not None for table, texts in (await _texts(db)).items())

    clock.advance(hours=2)  # now 90 days and 1 hour
    cleared = await _purge(db, clock)
    assert cleared == {
        "checkins": 1,
        "support_requests": 1,
        "thinking_notes": 1,
        "activity_days": 0,
    }
    texts = await _texts(db)
    for table in texts:
        assert texts[table][old[table]] is None, table
    assert texts["checkins"][new["checkins"]] == "new check-in"
    assert texts["support_requests"][new["support_requests"]] == "new words"
    assert texts["thinking_notes"][new["thinking_notes"]] == "new note"
    # Only the text goes: the check-in, the request and the note stay.
    assert len(await _all(db, Checkin)) == 2
    assert len(await _all(db, SupportRequest)) == 2
    assert len(await _all(db, ThinkingNote)) == 2
    # Run again: nothing more to clear.
    assert set((await _purge(db, clock)).values()) == {0}


async def test_a_server_with_a_shorter_retention_is_purged_at_its_own_period(
    db: Database, clock: FrozenClock
) -> None:
    await _set_up_server(db, clock)
    await _set_up_server(db, clock, OTHER_GUILD)
    assert await retention.configure(
        db, clock, OTHER_GUILD, actor_id=MOD, retention_days=30
    ) == retention.PrivacyConfig(30, retention.DEFAULT_GRACE_DAYS)
    default = await _free_text(db, clock, GUILD, "default")
    short = await _free_text(db, clock, OTHER_GUILD, "short")

    clock.advance(days=29)
    await _purge(db, clock)
    texts = await _texts(db)
    assert all(texts[t][short[t]] is not None for t in texts)

    clock.advance(days=1, minutes=1)
    cleared = await _purge(db, clock)
    assert {k: v for k, v in cleared.items() if k != "activity_days"} == {
        "checkins": 1,
        "support_requests": 1,
        "thinking_notes": 1,
    }
    texts = await _texts(db)
    assert all(texts[t][short[t]] is None for t in texts)
    assert all(texts[t][default[t]] is not None for t in texts)

    clock.advance(days=60)  # the default server's are now 90 days old and 1 minute
    await _purge(db, clock)
    texts = await _texts(db)
    assert all(texts[t][default[t]] is None for t in texts)


async def test_an_open_request_keeps_its_words_until_closed(
    db: Database, clock: FrozenClock
) -> None:
    await _set_up_server(db, clock)
    waiting = await _opened(db, clock, ME, "still waiting")
    claimed = await _opened(db, clock, REQUESTER, "a moderator is with me")
    await requests.claim(db, clock, GUILD, claimed, Actor(MOD, manage_server=True))
    clock.advance(days=200)
    cleared = await _purge(db, clock)
    assert cleared["support_requests"] == 0
    assert (await _one(db, SupportRequest, waiting)).context == "still waiting"
    assert (await _one(db, SupportRequest, claimed)).context == "a moderator is with me"

    await requests.resolve(db, clock, GUILD, claimed, Actor(MOD, manage_server=True))
    assert (await _purge(db, clock))["support_requests"] == 1
    assert (await _one(db, SupportRequest, claimed)).context is None
    assert (await _one(db, SupportRequest, waiting)).context == "still waiting"


async def test_daily_activity_counts_older_than_90_days_go(
    db: Database, clock: FrozenClock
) -> None:
    await _set_up_server(db, clock)
    tracker = ActivityTracker(db, clock)
    first_day = clock.now().date()
    await tracker.seen(GUILD, ME, MESSAGE)
    await tracker.flush()
    clock.advance(days=90)
    await tracker.seen(GUILD, ME, MESSAGE)
    await tracker.flush()
    assert (await _purge(db, clock))["activity_days"] == 0  # exactly 90 days: kept
    clock.advance(days=1)
    await tracker.seen(GUILD, ME, REACTION)
    await tracker.flush()

    assert (await _purge(db, clock))["activity_days"] == 1
    days = sorted(d.day for d in await _all(db, ActivityDay))
    assert first_day not in days
    assert days == [first_day + timedelta(days=90), first_day + timedelta(days=91)]


async def _retention_rows(db: Database) -> list[tuple[str, datetime]]:
    rows = await _all(db, OutboxMessage, OutboxMessage.kind == retention.KIND_RETENTION)
    return sorted((r.idempotency_key, r.due_at) for r in rows)


async def test_the_daily_purge_is_queued_once_a_day_and_queues_the_next(
    db: Database, clock: FrozenClock
) -> None:
    # 2026-01-05 12:00 UTC: today's 03:30 has passed, so the first purge is tomorrow's.
    await retention.start(db, clock)
    await retention.start(db, clock)  # a restart: still one
    tomorrow = datetime(2026, 1, 6, 3, 30, tzinfo=clock.now().tzinfo)
    assert await _retention_rows(db) == [("privacy:retention:2026-01-06", tomorrow)]

    await _set_up_server(db, clock)
    old = await _checkin(db, clock, ME, "old note")
    clock.advance(days=91)
    handler = retention.RetentionHandler(db, clock)
    [row] = await _all(db, OutboxMessage, OutboxMessage.kind == retention.KIND_RETENTION)
    prepared = await handler.prepare(QueuedMessage.from_row(row))
    assert isinstance(prepared, Done)
    assert (await _one(db, Checkin, old)).note is None
    await handler.prepare(
        QueuedMessage.from_row(row)
    )  # a retry of the same run queues nothing more
    next_day = (clock.now() + timedelta(days=1)).date()
    assert await _retention_rows(db) == [
        ("privacy:retention:2026-01-06", tomorrow),
        (
            f"privacy:retention:{next_day.isoformat()}",
            datetime.combine(next_day, retention.PURGE_AT, tzinfo=clock.now().tzinfo),
        ),
    ]


async def test_before_the_purge_time_the_purge_is_queued_for_the_same_day(
    db: Database,
) -> None:
    early = FrozenClock(datetime(2026, 1, 5, 1, 0, tzinfo=UTC))
    await retention.start(db, early)
    assert await _retention_rows(db) == [
        ("privacy:retention:2026-01-05", datetime(2026, 1, 5, 3, 30, tzinfo=UTC))
    ]


# --- members who leave ---------------------------------------------------------------------------


async def _quiet_member(db: Database, clock: FrozenClock) -> int:
    """ME with data that queues nothing to send (so a dispatcher only sees leaver rows);
    returns the id of ME's check-in."""
    async with db.session() as session:
        await buddy_repo.update_settings(session, GUILD, now=clock.now(), channel_id=BUDDY_CHANNEL)
    checkin = await _checkin(db, clock, ME, MY_NOTE)
    await circle.add(db, clock, GUILD, ME, Kind.PRACTICAL, name=TYPED_NAME)
    await offers.set_offer(db, clock, GUILD, ME, kinds=[Kind.EMOTIONAL], topics=TOPICS)
    await membership.join(db, clock, GUILD, ME, roles=[], timezone="Europe/Lisbon")
    await notes.set_notes_off(db, clock, GUILD, ME, True)
    await consent.set_consent(db, clock, GUILD, ME, True)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    return checkin


def _dispatcher(db: Database, clock: FrozenClock) -> OutboxDispatcher:
    return OutboxDispatcher(db, clock, FakeSender(), retention.handlers(db, clock))


async def test_a_member_who_left_is_erased_after_the_grace_period(
    db: Database, clock: FrozenClock
) -> None:
    await _quiet_member(db, clock)
    counts = await member_data.counts(db, GUILD, ME)
    left_at = clock.now()
    due = await retention.member_left(db, clock, GUILD, ME)
    assert due == left_at + timedelta(days=retention.DEFAULT_GRACE_DAYS)
    [departure] = await _all(db, MemberDeparture)
    assert (departure.guild_id, departure.user_id, departure.left_at) == (GUILD, ME, left_at)

    dispatcher = _dispatcher(db, clock)
    clock.advance(days=29, hours=23)
    assert await dispatcher.run_once() == 0
    assert await member_data.counts(db, GUILD, ME) == counts

    clock.advance(hours=1)
    assert await dispatcher.run_once() == 1
    assert await member_data.counts(db, GUILD, ME) == []
    assert await _scan(db, ME) == []
    assert await dispatcher.run_once() == 0


async def test_the_grace_period_is_the_servers_choice(db: Database, clock: FrozenClock) -> None:
    await _quiet_member(db, clock)
    await retention.configure(db, clock, GUILD, actor_id=MOD, leave_grace_days=7)
    left_at = clock.now()
    assert await retention.member_left(db, clock, GUILD, ME) == left_at + timedelta(days=7)
    clock.advance(days=7)
    assert await _dispatcher(db, clock).run_once() == 1
    assert await _scan(db, ME) == []


async def test_a_member_who_comes_back_in_time_is_not_erased(
    db: Database, clock: FrozenClock
) -> None:
    checkin = await _quiet_member(db, clock)
    counts = await member_data.counts(db, GUILD, ME)
    await retention.member_left(db, clock, GUILD, ME)
    clock.advance(days=5)
    assert await retention.member_returned(db, GUILD, ME)
    assert not await retention.member_returned(db, GUILD, ME)  # nothing pending any more
    assert await _all(db, MemberDeparture) == []

    clock.advance(days=30)
    assert await _dispatcher(db, clock).run_once() == 1
    assert await member_data.counts(db, GUILD, ME) == counts
    [row] = await _all(db, OutboxMessage, OutboxMessage.kind == retention.KIND_LEAVER)
    assert row.status != "pending"
    assert (await _one(db, Checkin, checkin)).note == MY_NOTE


async def test_a_member_who_left_again_is_erased_after_the_later_departure(
    db: Database, clock: FrozenClock
) -> None:
    await _quiet_member(db, clock)
    counts = await member_data.counts(db, GUILD, ME)
    await retention.member_left(db, clock, GUILD, ME)
    clock.advance(days=1)
    assert await retention.member_returned(db, GUILD, ME)
    clock.advance(days=1)
    second_due = await retention.member_left(db, clock, GUILD, ME)

    clock.advance(days=28)  # the first departure's erasure falls due: they came back since
    assert await _dispatcher(db, clock).run_once() == 1
    assert await member_data.counts(db, GUILD, ME) == counts

    clock.advance(days=2)
    assert clock.now() == second_due
    assert await _dispatcher(db, clock).run_once() == 1
    assert await member_data.counts(db, GUILD, ME) == []
    assert await _scan(db, ME) == []


async def test_the_leaver_handler_skips_a_member_who_returned(
    db: Database, clock: FrozenClock
) -> None:
    await _quiet_member(db, clock)
    await retention.member_left(db, clock, GUILD, ME)
    [row] = await _all(db, OutboxMessage, OutboxMessage.kind == retention.KIND_LEAVER)
    await retention.member_returned(db, GUILD, ME)
    handler = retention.LeaverHandler(db, clock)
    prepared = await handler.prepare(QueuedMessage.from_row(row))
    assert not isinstance(prepared, Done)
    assert await member_data.counts(db, GUILD, ME) != []


# --- settings ------------------------------------------------------------------------------------


async def test_privacy_settings_default_and_change(db: Database, clock: FrozenClock) -> None:
    assert await retention.get_config(db, GUILD) == retention.PrivacyConfig(90, 30)
    assert await retention.configure(
        db, clock, GUILD, actor_id=MOD, retention_days=7, leave_grace_days=0
    ) == retention.PrivacyConfig(7, 0)
    assert await retention.configure(
        db, clock, GUILD, actor_id=MOD, retention_days=3650
    ) == retention.PrivacyConfig(3650, 0)
    assert await retention.get_config(db, GUILD) == retention.PrivacyConfig(3650, 0)
    assert await retention.get_config(db, OTHER_GUILD) == retention.PrivacyConfig(90, 30)
    entries = await _all(db, AuditEntry, AuditEntry.action == "settings.privacy")
    assert [(e.actor_id, e.detail) for e in entries] == [
        (MOD, {"retention_days": 7, "leave_grace_days": 0}),
        (MOD, {"retention_days": 3650}),
    ]


@pytest.mark.parametrize(
    "values",
    [
        {"retention_days": 6},
        {"retention_days": 3651},
        {"retention_days": -1},
        {"leave_grace_days": -1},
        {"leave_grace_days": 366},
        {"retention_days": 30, "leave_grace_days": 400},
        {"retention_days": 1, "leave_grace_days": 10},
    ],
)
async def test_out_of_range_settings_change_nothing(
    db: Database, clock: FrozenClock, values: dict[str, int]
) -> None:
    await retention.configure(db, clock, GUILD, actor_id=MOD, retention_days=60)
    with pytest.raises(InvalidInput, match="Nothing was changed"):
        await retention.configure(db, clock, GUILD, actor_id=MOD, **values)
    assert await retention.get_config(db, GUILD) == retention.PrivacyConfig(60, 30)
    assert len(await _all(db, AuditEntry)) == 1
    with pytest.raises(InvalidInput):
        await retention.configure(db, clock, OTHER_GUILD, actor_id=MOD, **values)
    assert await _one(db, PrivacySettings, OTHER_GUILD) is None
