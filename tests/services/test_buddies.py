"""Taking part in buddy pairing, on both backends: join, pause, leave, block, answer, rematch."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.clock import Clock
from bot.db.crypto import configure_keys, generate_key
from bot.db.engine import Database
from bot.db.models import BuddyBlock, BuddyGroup, BuddyMember, MemberProfile, OutboxMessage
from bot.db.repositories import buddies as repo
from bot.domain.checkins import InvalidInput
from bot.jobs.delivery import Delivery, QueuedMessage, Skip
from bot.services.buddies import connect, membership, rounds
from bot.services.buddies.connect import Answer
from bot.services.buddies.handlers import ThreadHandler
from bot.services.buddies.texts import GROUP_SMALLER, PAIRING_ENDED
from tests.helpers import FrozenClock

GUILD, CHANNEL, ROLE = 100, 40, 50
A, B, C, D, E, F = 201, 202, 203, 204, 205, 206


async def _setup(db: Database, clock: FrozenClock, **values: Any) -> None:
    values.setdefault("channel_id", CHANNEL)
    async with db.session() as session:
        await repo.update_settings(session, GUILD, now=clock.now(), **values)


async def _join(db: Database, clock: FrozenClock, *users: int) -> None:
    for user in users:
        await membership.join(db, clock, GUILD, user, roles=[])


async def _all(db: Database, model: Any) -> list[Any]:
    async with db.session() as session:
        return list((await session.scalars(select(model))).all())


async def _member(db: Database, user: int) -> BuddyMember:
    async with db.session() as session:
        member = await repo.get_member(session, GUILD, user)
    assert member is not None
    return member


async def _group_of(db: Database, user: int) -> tuple[BuddyGroup | None, tuple[int, ...]]:
    """The member's running group and who is still in it."""
    async with db.session() as session:
        group = await repo.current_group(session, GUILD, user)
        if group is None:
            return None, ()
        members = await repo.group_members(session, group.id)
    return group, tuple(m.user_id for m in members if m.left_at is None)


async def _group(db: Database, group_id: int) -> BuddyGroup:
    async with db.session() as session:
        group = await repo.get_group(session, group_id)
    assert group is not None
    return group


async def _dms(db: Database) -> list[tuple[int, str]]:
    rows = await _all(db, OutboxMessage)
    return sorted((r.target_id, r.payload["content"]) for r in rows if r.kind == "plain")


async def _paired(db: Database, clock: FrozenClock, *users: int, seed: int = 1) -> BuddyGroup:
    """Set up, opt `users` in and start a round that puts them all in one group."""
    await _setup(db, clock)
    await _join(db, clock, *users)
    plan = await rounds.start(db, clock, GUILD, seed)
    assert plan.groups == (tuple(sorted(users)),)
    group, _ = await _group_of(db, users[0])
    assert group is not None
    return group


# --- joining ---------------------------------------------------------------------------------


async def test_join_is_refused_until_the_programme_is_set_up(
    db: Database, clock: FrozenClock
) -> None:
    with pytest.raises(InvalidInput, match="/setup buddies"):
        await membership.join(db, clock, GUILD, A, roles=[])
    await _setup(db, clock, channel_id=None)  # settings without a channel: not set up either
    with pytest.raises(InvalidInput, match="/setup buddies"):
        await membership.join(db, clock, GUILD, A, roles=[])
    assert await _all(db, BuddyMember) == []


async def test_join_needs_the_required_role(db: Database, clock: FrozenClock) -> None:
    await _setup(db, clock, required_role_id=ROLE)
    with pytest.raises(InvalidInput, match=f"<@&{ROLE}>"):
        await membership.join(db, clock, GUILD, A, roles=[7, 8])
    assert await _all(db, BuddyMember) == []

    await membership.join(db, clock, GUILD, A, roles=[7, ROLE])
    assert (await _member(db, A)).status == repo.ACTIVE


@pytest.mark.parametrize(
    ("timezone", "frequency"),
    [("Mars/Olympus", None), ("", "weekly"), (None, "daily"), ("Europe/Berlin", "hourly")],
)
async def test_bad_preferences_store_nothing(
    db: Database, clock: FrozenClock, timezone: str | None, frequency: str | None
) -> None:
    await _setup(db, clock)
    with pytest.raises(InvalidInput):
        await membership.join(db, clock, GUILD, A, roles=[], timezone=timezone, frequency=frequency)
    assert await _all(db, BuddyMember) == []
    assert await _all(db, MemberProfile) == []


async def test_join_keeps_preferences_and_the_timezone_in_the_profile(
    db: Database, clock: FrozenClock
) -> None:
    await _setup(db, clock)
    joined = clock.now()
    await membership.join(
        db, clock, GUILD, A, roles=[], timezone=" Asia/Kolkata ", frequency="weekly"
    )
    [profile] = await _all(db, MemberProfile)
    assert (profile.guild_id, profile.user_id, profile.timezone) == (GUILD, A, "Asia/Kolkata")
    member = await _member(db, A)
    assert (member.status, member.frequency, member.joined_at) == ("active", "weekly", joined)

    clock.advance(days=1)
    await membership.join(db, clock, GUILD, A, roles=[])  # no new preferences: kept
    member = await _member(db, A)
    assert (member.frequency, member.joined_at, member.updated_at) == (
        "weekly",
        joined,
        clock.now(),
    )


async def test_rejoining_after_leaving_reactivates(db: Database, clock: FrozenClock) -> None:
    await _setup(db, clock)
    await _join(db, clock, A, B)
    await membership.pause(db, clock, GUILD, A, 30)
    assert await membership.leave(db, clock, GUILD, A) is True
    assert await membership.leave(db, clock, GUILD, A) is False
    assert (await _member(db, A)).status == repo.LEFT
    assert (await rounds.preview(db, clock, GUILD, 1)).eligible == 1

    clock.advance(days=2)
    await _join(db, clock, A)
    member = await _member(db, A)
    assert (member.status, member.paused_until) == (repo.ACTIVE, None)
    assert (await membership.status(db, clock, GUILD, A)).taking_part is True
    assert (await rounds.preview(db, clock, GUILD, 1)).groups == ((A, B),)


# --- pausing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("days", [0, 91, -3])
async def test_pause_refuses_out_of_range_days(db: Database, clock: FrozenClock, days: int) -> None:
    await _setup(db, clock)
    await _join(db, clock, A)
    with pytest.raises(InvalidInput, match="1 to 90 days"):
        await membership.pause(db, clock, GUILD, A, days)
    member = await _member(db, A)
    assert member.paused_until is None
    assert await membership.pause(db, clock, GUILD, A, 90) == clock.now() + timedelta(days=90)
    with pytest.raises(InvalidInput, match="not in the buddy programme"):
        await membership.pause(db, clock, GUILD, B, 5)


async def test_paused_members_are_skipped_until_paused_until(
    db: Database, clock: FrozenClock
) -> None:
    await _setup(db, clock)
    await _join(db, clock, A, B, C)
    until = await membership.pause(db, clock, GUILD, C, 7)
    assert (await membership.status(db, clock, GUILD, C)).paused_until == until

    assert (await rounds.start(db, clock, GUILD, 1)).groups == ((A, B),)
    clock.advance(days=7, seconds=-1)
    assert (await rounds.preview(db, clock, GUILD, 2)).eligible == 2
    clock.advance(seconds=1)
    assert (await rounds.start(db, clock, GUILD, 2)).groups == ((A, B, C),)
    assert (await membership.status(db, clock, GUILD, C)).paused_until is None


# --- leaving ---------------------------------------------------------------------------------

Leaving = Callable[[Database, Clock, int, int], Awaitable[object]]


@pytest.mark.parametrize("leaving", [membership.leave, membership.member_left_server])
async def test_leaving_ends_a_pair_and_tells_the_buddy_kindly(
    db: Database, clock: FrozenClock, leaving: Leaving
) -> None:
    group = await _paired(db, clock, A, B)
    clock.advance(days=3)
    await leaving(db, clock, GUILD, A)

    member = await _member(db, A)
    assert (member.status, member.wants_rematch) == (repo.LEFT, False)
    assert (await _group(db, group.id)).ended_at == clock.now()
    assert await _group_of(db, B) == (None, ())
    [dm] = [r for r in await _all(db, OutboxMessage) if r.kind == "plain"]
    assert (dm.target_type, dm.target_id, dm.payload["content"]) == ("user", B, PAIRING_ENDED)
    assert dm.idempotency_key.startswith(f"buddy:changed:{group.id}:{B}:")
    assert (await _member(db, B)).wants_rematch is True

    await _join(db, clock, C)
    plan = await rounds.start(db, clock, GUILD, 2)
    assert plan.groups == ((B, C),)
    # Somebody who never took part: nothing happens, nothing is stored.
    await leaving(db, clock, GUILD, F)
    assert F not in {m.user_id for m in await _all(db, BuddyMember)}


async def test_a_trio_losing_one_member_goes_on_as_a_pair(db: Database, clock: FrozenClock) -> None:
    group = await _paired(db, clock, A, B, C)
    await membership.leave(db, clock, GUILD, A)
    assert (await _group(db, group.id)).ended_at is None
    running, members = await _group_of(db, B)
    assert running is not None
    assert (running.id, members) == (group.id, (B, C))
    assert await _dms(db) == [(B, GROUP_SMALLER), (C, GROUP_SMALLER)]
    for user in (B, C):
        assert (await _member(db, user)).wants_rematch is False
    assert (await membership.status(db, clock, GUILD, B)).buddies == (C,)


async def test_the_thread_change_names_nobody_in_the_clear_and_a_retired_key_skips_it(
    db: Database, clock: FrozenClock, encryption_key: str
) -> None:
    """A trio's "take them out of the thread" row carries the member's id sealed with
    ENCRYPTION_KEY (so it outlives their erasure and a copy of the database does not
    name them); if that key was retired before the row went, it is skipped, not sent
    to the wrong place or retried for ever."""
    group = await _paired(db, clock, A, B, C)
    async with db.session() as session:  # as if its intro had opened thread 77
        (await repo.get_group(session, group.id)).thread_id = 77  # type: ignore[union-attr]
        intro = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == f"buddy:intro:{group.id}")
        )
        intro.status = "sent"  # type: ignore[union-attr]
    await membership.leave(db, clock, GUILD, A)
    [row] = [r for r in await _all(db, OutboxMessage) if r.kind == membership.KIND_THREAD]
    assert str(A) not in json.dumps(row.payload) + row.idempotency_key
    assert row.member_id is None
    thread = ThreadHandler(db)
    prepared = await thread.prepare(QueuedMessage.from_row(row))
    assert isinstance(prepared, Delivery)
    assert (prepared.target_id, prepared.remove_from_thread) == (77, A)
    assert prepared.close_thread is False
    try:
        configure_keys([generate_key()])
        assert isinstance(await thread.prepare(QueuedMessage.from_row(row)), Skip)
    finally:
        configure_keys([encryption_key])


# --- blocks ----------------------------------------------------------------------------------


async def test_a_block_holds_in_both_directions(db: Database, clock: FrozenClock) -> None:
    await _setup(db, clock)
    await _join(db, clock, A, B, C, D, E, F)
    await membership.block(db, clock, GUILD, A, B)
    await membership.block(db, clock, GUILD, D, C)  # the other way round by id
    with pytest.raises(InvalidInput):
        await membership.block(db, clock, GUILD, E, E)

    blocked = ({A, B}, {C, D})
    for seed in range(12):  # each fresh round prefers the pairs not met yet: the blocked ones
        plan = await rounds.start(db, clock, GUILD, seed)
        assert plan.unplaced == ()
        assert not any(pair <= set(g) for g in plan.groups for pair in blocked), plan
        clock.advance(days=14)


async def test_blocking_your_buddy_ends_the_pair_quietly(db: Database, clock: FrozenClock) -> None:
    group = await _paired(db, clock, A, B)
    await _join(db, clock, C)
    await membership.block(db, clock, GUILD, A, C)  # not A's buddy: the pair stands
    assert (await _group(db, group.id)).ended_at is None

    await membership.block(db, clock, GUILD, A, B)
    assert (await _group(db, group.id)).ended_at == clock.now()
    assert await _dms(db) == [(B, PAIRING_ENDED)]  # and nothing to A
    blocks = {(b.user_id, b.blocked_id, b.reason) for b in await _all(db, BuddyBlock)}
    assert blocks == {(A, C, "block"), (A, B, "block")}
    for user in (A, B):
        assert (await _member(db, user)).wants_rematch is True


async def test_not_fit_blocks_the_answerer_from_each_other_member(
    db: Database, clock: FrozenClock
) -> None:
    group = await _paired(db, clock, A, B, C)
    reply = await connect.answer(db, clock, group.id, A, Answer.NOT_FIT)
    assert reply == connect.NOT_FIT_IN_TRIO  # a trio: the other two carry on as a pair
    blocks = {(b.user_id, b.blocked_id, b.reason) for b in await _all(db, BuddyBlock)}
    assert blocks == {(A, B, "not_fit"), (A, C, "not_fit")}
    assert await _group_of(db, A) == (None, ())
    assert (await _group_of(db, B))[1] == (B, C)
    assert await _dms(db) == [(B, GROUP_SMALLER), (C, GROUP_SMALLER)]
    assert (await _member(db, A)).wants_rematch is True


# --- the mid-round answer --------------------------------------------------------------------


async def test_answers_are_recorded(db: Database, clock: FrozenClock) -> None:
    group = await _paired(db, clock, A, B)
    choices = {A: Answer.YES, B: Answer.NOT_YET}
    replies = [await connect.answer(db, clock, group.id, u, c) for u, c in choices.items()]
    assert replies == [connect.REPLIES[Answer.YES], connect.REPLIES[Answer.NOT_YET]]
    async with db.session() as session:
        answers = {m.user_id: m.answer for m in await repo.group_members(session, group.id)}
    assert answers == {A: "yes", B: "not_yet"}
    assert (await _group(db, group.id)).ended_at is None
    assert await _all(db, BuddyBlock) == []


async def test_answering_a_pairing_not_yours_or_ended_is_refused(
    db: Database, clock: FrozenClock
) -> None:
    group = await _paired(db, clock, A, B, C)
    await _join(db, clock, D)
    with pytest.raises(InvalidInput, match="can't find"):
        await connect.answer(db, clock, group.id, D, Answer.YES)
    with pytest.raises(InvalidInput, match="can't find"):
        await connect.answer(db, clock, group.id + 99, A, Answer.YES)
    await membership.leave(db, clock, GUILD, C)  # C left the group; A and B carry on
    with pytest.raises(InvalidInput, match="already ended"):
        await connect.answer(db, clock, group.id, C, Answer.YES)

    await rounds.start(db, clock, GUILD, 5)  # the next round ends this group
    with pytest.raises(InvalidInput, match="already ended"):
        await connect.answer(db, clock, group.id, A, Answer.YES)
    async with db.session() as session:
        assert {m.answer for m in await repo.group_members(session, group.id)} == {None}


# --- rematch ---------------------------------------------------------------------------------


async def test_rematch_is_refused_with_a_buddy_or_outside_the_programme(
    db: Database, clock: FrozenClock
) -> None:
    await _paired(db, clock, A, B)
    with pytest.raises(InvalidInput, match="already have a buddy"):
        await rounds.rematch(db, clock, GUILD, A)
    with pytest.raises(InvalidInput, match="not in the buddy programme"):
        await rounds.rematch(db, clock, GUILD, C)


async def test_rematch_pairs_with_a_free_unblocked_member(db: Database, clock: FrozenClock) -> None:
    first = await _paired(db, clock, A, B)
    await _join(db, clock, E, F)  # joined after the round started: free
    clock.advance(days=2)
    await membership.block(db, clock, GUILD, A, B)
    await membership.block(db, clock, GUILD, A, E)
    before = {r.id for r in await _all(db, OutboxMessage)}

    assert await rounds.rematch(db, clock, GUILD, A) == (F,)
    group, members = await _group_of(db, A)
    assert group is not None
    assert members == (A, F)
    assert group.round_id == first.round_id
    new = [r for r in await _all(db, OutboxMessage) if r.id not in before]
    [intro] = [r for r in new if r.kind == "buddy_intro"]
    queued = ("channel", CHANNEL, {"group_id": group.id}, clock.now())
    assert (intro.target_type, intro.target_id, intro.payload, intro.due_at) == queued
    halfway = clock.now() + timedelta(days=6)  # halfway through the 12 days left
    asked = [("buddy_checkup", A, halfway), ("buddy_checkup", F, halfway)]
    assert sorted((r.kind, r.target_id, r.due_at) for r in new if r.kind != "buddy_intro") == asked
    for user in (A, F):
        assert (await _member(db, user)).wants_rematch is False

    assert await rounds.rematch(db, clock, GUILD, B) == (E,)  # A blocked B; F is busy
    next_round = await rounds.start(db, clock, GUILD, 3)
    assert next_round.number == 2


async def test_rematch_with_nobody_free_puts_you_first_in_line(
    db: Database, clock: FrozenClock
) -> None:
    await _setup(db, clock)
    await _join(db, clock, C)
    assert await rounds.rematch(db, clock, GUILD, C) == ()  # no round yet
    assert (await _member(db, C)).wants_rematch is True
    await _paired(db, clock, A, B, C)
    await _join(db, clock, D)
    groups = {g.id for g in await _all(db, BuddyGroup)}
    assert await rounds.rematch(db, clock, GUILD, D) == ()  # everyone else is busy
    assert (await _member(db, D)).wants_rematch is True
    await membership.block(db, clock, GUILD, D, A)
    await membership.block(db, clock, GUILD, A, B)  # A leaves the trio; B and C go on
    assert await rounds.rematch(db, clock, GUILD, A) == ()  # D is free, but blocked
    assert {g.id for g in await _all(db, BuddyGroup)} == groups
    assert await _group_of(db, A) == (None, ())


async def test_a_paused_member_is_asked_to_resume_before_a_rematch(
    db: Database, clock: FrozenClock
) -> None:
    await _setup(db, clock)
    await _join(db, clock, A, B, C)
    await membership.pause(db, clock, GUILD, C, 5)
    await rounds.start(db, clock, GUILD, 1)
    await membership.block(db, clock, GUILD, A, B)  # A and B are free again
    with pytest.raises(InvalidInput, match="paused"):
        await rounds.rematch(db, clock, GUILD, C)
    async with db.session() as session:
        assert await repo.current_group(session, GUILD, C) is None
