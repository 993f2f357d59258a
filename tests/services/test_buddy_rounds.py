"""Buddy rounds on both backends: preview and start, pair history across rounds, the schedule
and its outbox handler, and the intro and mid-round question handlers."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import combinations
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import AuditEntry, BuddyGroup, BuddyRound, OutboxMessage
from bot.db.repositories import buddies as repo
from bot.domain.checkins import InvalidInput
from bot.jobs.delivery import Delivery, Done, QueuedMessage, Sent, Skip
from bot.matching import pair_members
from bot.services import guild_config
from bot.services.buddies import connect, membership, rounds, schedule
from bot.services.buddies.connect import Answer
from bot.services.buddies.handlers import CheckupHandler, IntroHandler, handlers
from bot.services.buddies.schedule import RoundHandler
from bot.services.buddies.texts import CHECKUP
from tests.helpers import FrozenClock

GUILD, CHANNEL, ADMIN, THREAD = 100, 40, 300, 77
A, B, C, D, E, F = 201, 202, 203, 204, 205, 206
WINDOW = rounds.WINDOW_ROUNDS


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def _setup(db: Database, clock: FrozenClock, *users: int, guild: int = GUILD) -> None:
    async with db.session() as session:
        await repo.update_settings(session, guild, now=clock.now(), channel_id=CHANNEL)
    for user in users:
        await membership.join(db, clock, guild, user, roles=[])


async def _all(db: Database, model: Any) -> list[Any]:
    async with db.session() as session:
        return list((await session.scalars(select(model).order_by(model.id))).all())


async def _outbox(db: Database, kind: str) -> list[OutboxMessage]:
    return [row for row in await _all(db, OutboxMessage) if row.kind == kind]


async def _members(db: Database, group_id: int) -> tuple[int, ...]:
    async with db.session() as session:
        return tuple(m.user_id for m in await repo.group_members(session, group_id))


# --- preview and start -----------------------------------------------------------------------


async def test_preview_creates_nothing(db: Database, clock: FrozenClock) -> None:
    with pytest.raises(InvalidInput, match="/setup buddies"):
        await rounds.preview(db, clock, GUILD, 1)
    await _setup(db, clock, A, B, C, D, E)
    plan = await rounds.preview(db, clock, GUILD, 7)
    assert plan == rounds.RoundPlan(1, 7, 5, plan.groups, unplaced=(), repeats=0, started=False)
    assert sorted(len(g) for g in plan.groups) == [2, 3]
    for model in (BuddyRound, BuddyGroup, OutboxMessage, AuditEntry):
        assert await _all(db, model) == [], model
    assert await rounds.preview(db, clock, GUILD, 7) == plan


async def test_start_makes_exactly_the_previewed_round(db: Database, clock: FrozenClock) -> None:
    await _setup(db, clock, A, B, C, D, E)
    async with db.session() as session:
        await repo.update_member(session, GUILD, C, now=clock.now(), wants_rematch=True)
    plan = await rounds.preview(db, clock, GUILD, 42)

    started = await rounds.start(db, clock, GUILD, 42, actor_id=ADMIN)
    assert started.started is True
    assert (started.groups, started.number, started.seed) == (plan.groups, 1, 42)
    [row] = await _all(db, BuddyRound)
    assert (row.number, row.seed, row.started_by, row.scheduled_for) == (1, 42, ADMIN, None)
    assert (row.started_at, row.ends_at) == (clock.now(), clock.now() + timedelta(days=14))
    groups = await _all(db, BuddyGroup)
    assert tuple(sorted([await _members(db, g.id) for g in groups])) == plan.groups
    assert {(g.round_id, g.thread_id, g.ended_at) for g in groups} == {(row.id, None, None)}

    intros = await _outbox(db, rounds.KIND_INTRO)
    assert sorted(
        (r.payload["group_id"], r.target_type, r.target_id, r.due_at) for r in intros
    ) == [(g.id, "channel", CHANNEL, clock.now()) for g in groups]
    checkups = await _outbox(db, rounds.KIND_CHECKUP)
    halfway = clock.now() + timedelta(days=7)
    expected = [(u, "user", halfway, g.id) for g in groups for u in await _members(db, g.id)]
    assert sorted(
        (r.target_id, r.target_type, r.due_at, r.payload["group_id"]) for r in checkups
    ) == (sorted(expected))
    assert not (await membership.status(db, clock, GUILD, C)).wants_rematch
    [entry] = await _all(db, AuditEntry)
    audited = ("buddies.round_started", ADMIN, "buddy_round", row.id)
    assert (entry.action, entry.actor_id, entry.subject_type, entry.subject_id) == audited
    assert entry.detail == {"number": 1, "seed": 42, "groups": 2}


MANY = tuple(range(1001, 1015))  # 14: more than the exact search takes, so a worker pairs them


async def _pairs(db: Database) -> set[frozenset[int]]:
    return {frozenset(await _members(db, g.id)) for g in await _all(db, BuddyGroup)}


@pytest.mark.parametrize("change", ["block", "leave", "join", "round"])
async def test_a_change_while_the_round_is_worked_out_is_not_missed(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """The pairing is worked out outside the writing unit of work. Whatever happens in the
    meantime (a block between two it was about to pair, a member leaving or joining, another
    round started) is seen: the round written is the pairing of what is true when it is
    written, never of what was read before."""
    await _setup(db, clock, *MANY[:-1])
    planned = await rounds.preview(db, clock, GUILD, 5)
    first, second = planned.groups[0][:2]
    arrange, calls = rounds.arrange, []

    async def meanwhile(inputs: rounds.RoundInputs) -> Any:
        calls.append(len(inputs.candidates))
        if len(calls) == 1:
            if change == "block":
                await membership.block(db, clock, GUILD, first, second)
            elif change == "leave":
                await membership.leave(db, clock, GUILD, first)
            elif change == "join":
                await membership.join(db, clock, GUILD, MANY[-1], roles=[])
            else:
                await rounds.start(db, clock, GUILD, 9)  # its own pairing: the second call
        return await arrange(inputs)

    monkeypatch.setattr(rounds, "arrange", meanwhile)
    plan = await rounds.start(db, clock, GUILD, 5)
    assert plan.started
    placed = {m for g in plan.groups for m in g}
    if change == "block":
        assert not any({first, second} <= set(g) for g in plan.groups)
        assert placed == set(MANY[:-1])
    elif change == "leave":
        assert first not in placed
        assert placed == set(MANY[:-1]) - {first}
    elif change == "join":
        assert placed == set(MANY)
    else:
        assert plan.number == 2  # the round started meanwhile is round 1
        assert [r.number for r in await _all(db, BuddyRound)] == [1, 2]
    assert len(calls) == (3 if change == "round" else 2)  # worked out again, from what was true
    running = [g for g in await _all(db, BuddyGroup) if g.ended_at is None]
    assert sorted([await _members(db, g.id) for g in running]) == sorted(plan.groups)


async def test_a_block_made_while_the_round_is_being_written_is_not_lost(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The block arrives after the round's last read but before it commits. It must wait
    for the round (PostgreSQL: an advisory lock on the programme; SQLite: the one writer),
    then end the pairing it now finds: the two are never left together."""
    await _setup(db, clock, *MANY[:-1])
    planned = await rounds.preview(db, clock, GUILD, 5)
    first, second = planned.groups[0][:2]
    write, blocking = rounds._write_round, []

    async def slow_write(session: Any, *args: Any, **kwargs: Any) -> None:
        block = membership.block(db, clock, GUILD, first, second)
        blocking.append(asyncio.create_task(block, context=contextvars.Context()))
        await asyncio.sleep(0.3)  # time enough for the block to commit, were it not held
        await write(session, *args, **kwargs)

    monkeypatch.setattr(rounds, "_write_round", slow_write)
    plan = await rounds.start(db, clock, GUILD, 5)
    assert any({first, second} <= set(g) for g in plan.groups)  # paired before the block
    await blocking[0]
    running = [g for g in await _all(db, BuddyGroup) if g.ended_at is None]
    together = [await _members(db, g.id) for g in running]
    assert not any({first, second} <= set(members) for members in together)


async def test_a_large_round_is_paired_in_a_worker_the_same_as_in_process(
    db: Database, clock: FrozenClock
) -> None:
    await _setup(db, clock, *MANY)
    plan = await rounds.preview(db, clock, GUILD, 3)
    async with db.read() as session:
        inputs = await rounds._inputs(session, GUILD, now=clock.now(), seed=3)
    here = pair_members(inputs.candidates, inputs.history, inputs.blocks, inputs.rules)
    assert plan.groups == here.groups
    assert sorted(m for g in plan.groups for m in g) == sorted(MANY)
    assert plan.repeats == 0


async def test_the_next_round_ends_the_running_groups(db: Database, clock: FrozenClock) -> None:
    await _setup(db, clock, A, B, C, D)
    await rounds.start(db, clock, GUILD, 1)
    clock.advance(days=14)
    assert (await rounds.start(db, clock, GUILD, 2)).number == 2
    first, _ = await _all(db, BuddyRound)
    for group in await _all(db, BuddyGroup):
        assert group.ended_at == (clock.now() if group.round_id == first.id else None)


@pytest.mark.parametrize("joined", [(), (A,)])
async def test_fewer_than_two_eligible_start_nothing(
    db: Database, clock: FrozenClock, joined: tuple[int, ...]
) -> None:
    await _setup(db, clock, *joined, B)
    await membership.pause(db, clock, GUILD, B, 3)
    plan = await rounds.start(db, clock, GUILD, 1, actor_id=ADMIN)
    assert (plan.started, plan.eligible, plan.groups) == (False, len(joined), ())
    for model in (BuddyRound, BuddyGroup, OutboxMessage, AuditEntry):
        assert await _all(db, model) == [], model


# --- history ---------------------------------------------------------------------------------


def _matchings(people: Sequence[int]) -> Iterator[tuple[tuple[int, int], ...]]:
    if not people:
        yield ()
        return
    first, rest = people[0], people[1:]
    for index, other in enumerate(rest):
        for tail in _matchings([*rest[:index], *rest[index + 1 :]]):
            yield ((first, other), *tail)


def _repeat_score(
    groups: Sequence[Sequence[int]], history: dict[frozenset[int], int], number: int
) -> tuple[int, int]:
    """How many pairs met within the window, and how recently (lower: older)."""
    pairs = [frozenset(p) for g in groups for p in combinations(g, 2)]
    recent = [number - history[p] for p in pairs if number - history.get(p, -99) <= WINDOW]
    return len(recent), sum(WINDOW - age for age in recent)


Played = list[tuple[rounds.RoundPlan, dict[frozenset[int], int]]]


async def _rounds(
    db: Database, clock: FrozenClock, seeds: Sequence[int], guild: int = GUILD
) -> Played:
    """Start a round per seed: each plan, with the pair history from before it."""
    history: dict[frozenset[int], int] = {}
    results = []
    for seed in seeds:
        plan = await rounds.start(db, clock, guild, seed)
        results.append((plan, dict(history)))
        for group in plan.groups:
            for pair in combinations(group, 2):
                history[frozenset(pair)] = plan.number
        clock.advance(days=14)
    return results


async def test_six_members_repeat_only_when_every_arrangement_must(
    db: Database, clock: FrozenClock
) -> None:
    members = (A, B, C, D, E, F)
    await _setup(db, clock, *members)
    forced = 0
    for plan, history in await _rounds(db, clock, [seed * 31 for seed in range(9)]):
        best = min(_repeat_score(m, history, plan.number) for m in _matchings(members))
        assert _repeat_score(plan.groups, history, plan.number) == best, plan
        assert plan.repeats == best[0]
        forced += best[0] > 0
    assert forced >= 3  # 15 pairs last at most 5 rounds: later rounds must repeat


@pytest.mark.xfail(
    strict=True,
    reason="Known limitation: pairing optimises one round at a time. With 6 members, "
    "round 3 may take the one matching that leaves two disjoint triangles of unmet pairs, "
    "so round 4 must repeat "
    "although 5 repeat-free rounds (a 1-factorisation of K6) were possible",
)
async def test_six_members_get_five_rounds_without_a_repeat(
    db: Database, clock: FrozenClock
) -> None:
    for sequence in range(8):  # a server of its own for each sequence of seeds
        guild = GUILD + 1 + sequence
        await _setup(db, clock, A, B, C, D, E, F, guild=guild)
        plans = await _rounds(db, clock, [sequence * 100 + r for r in range(1, 6)], guild)
        assert [plan.repeats for plan, _ in plans] == [0] * 5, sequence


async def test_four_members_repeat_the_oldest_pairs_in_round_four(
    db: Database, clock: FrozenClock
) -> None:
    await _setup(db, clock, A, B, C, D)
    plans = [plan for plan, _ in await _rounds(db, clock, [5, 6, 7, 8])]
    assert [plan.repeats for plan in plans] == [0, 0, 0, 2]
    met = {frozenset(p) for plan in plans[:3] for g in plan.groups for p in combinations(g, 2)}
    assert len(met) == 6
    assert plans[3].groups == plans[0].groups


# --- the schedule ----------------------------------------------------------------------------


async def _configure(
    db: Database, clock: FrozenClock, weekday: int = 2, at: str = "9:30 am", days: int = 14
) -> schedule.BuddyConfig:
    return await schedule.configure(
        db,
        clock,
        GUILD,
        channel_id=CHANNEL,
        round_days=days,
        weekday=weekday,
        start_time=at,
        required_role_id=None,
        actor_id=ADMIN,
    )


BAD_SCHEDULES = [(0, 2, "9:00"), (91, 2, "9:00"), (14, 7, "9:00"), (14, -1, "9:00")]


@pytest.mark.parametrize(
    ("days", "weekday", "at"), [*BAD_SCHEDULES, (14, 2, "25:00"), (14, 2, "soon")]
)
async def test_configure_refuses_bad_values_and_changes_nothing(
    db: Database, clock: FrozenClock, days: int, weekday: int, at: str
) -> None:
    with pytest.raises(InvalidInput):
        await _configure(db, clock, weekday, at, days)
    async with db.session() as session:
        assert await repo.get_settings(session, GUILD) is None
    assert await _all(db, OutboxMessage) == []

    await _configure(db, clock)
    clock.advance(hours=1)
    with pytest.raises(InvalidInput):
        await _configure(db, clock, weekday, at, days)
    async with db.session() as session:
        settings = await repo.get_settings(session, GUILD)
    assert settings is not None
    kept = (settings.round_days, settings.weekday, settings.start_time, settings.version)
    assert kept == (14, 2, "09:30", 1)
    assert len(await _all(db, OutboxMessage)) == 1
    assert [e.action for e in await _all(db, AuditEntry)] == ["settings.buddies"]


@pytest.mark.parametrize(
    ("weekday", "at", "day", "due"),
    [
        (2, "9:30 am", date(2026, 1, 7), _utc(2026, 1, 7, 14, 30)),  # Wednesday
        (0, "08:00", date(2026, 1, 5), _utc(2026, 1, 5, 13, 0)),  # later today
        (0, "06:00", date(2026, 1, 12), _utc(2026, 1, 12, 11, 0)),  # earlier today: next week
    ],
)
async def test_configure_queues_one_start_in_server_time(
    db: Database, clock: FrozenClock, weekday: int, at: str, day: date, due: datetime
) -> None:
    await guild_config.set_timezone(db, clock, GUILD, "America/New_York", actor_id=ADMIN)
    config = await _configure(db, clock, weekday, at)  # now: Monday 07:00 in New York
    assert (config.timezone, config.next_round_at, config.weekday) == (
        "America/New_York",
        due,
        weekday,
    )
    [row] = await _all(db, OutboxMessage)
    assert (row.kind, row.target_type, row.target_id, row.due_at) == (
        "buddy_round",
        "channel",
        CHANNEL,
        due,
    )
    assert row.payload == {"version": 1, "day": day.isoformat()}


async def test_round_handler_starts_the_round_once_and_queues_the_next(
    db: Database, clock: FrozenClock
) -> None:
    await guild_config.set_timezone(db, clock, GUILD, "America/New_York", actor_id=ADMIN)
    await _configure(db, clock)
    await _setup(db, clock, A, B, C, D)
    [row] = await _all(db, OutboxMessage)
    clock.advance(days=2, hours=2, minutes=30)
    handler = RoundHandler(db, clock)

    assert isinstance(await handler.prepare(QueuedMessage.from_row(row)), Done)
    [started] = await _all(db, BuddyRound)
    assert (started.scheduled_for, started.started_by) == (date(2026, 1, 7), None)
    assert started.seed == rounds.seed_for(GUILD, "2026-01-07")
    assert len(await _all(db, BuddyGroup)) == 2
    nxt = [(r.payload, r.due_at) for r in await _outbox(db, rounds.KIND_ROUND) if r.id != row.id]
    assert nxt == [({"version": 1, "day": "2026-01-21"}, _utc(2026, 1, 21, 14, 30))]

    again = await handler.prepare(QueuedMessage.from_row(row))
    assert isinstance(again, Skip)
    assert len(await _all(db, BuddyRound)) == 1
    assert len(await _outbox(db, rounds.KIND_ROUND)) == 2


async def test_a_start_queued_before_the_schedule_changed_is_skipped(
    db: Database, clock: FrozenClock
) -> None:
    await _configure(db, clock)
    await _configure(db, clock, weekday=4)
    await _setup(db, clock, A, B)
    old, new = await _outbox(db, rounds.KIND_ROUND)
    assert (old.payload["version"], new.payload) == (1, {"version": 2, "day": "2026-01-09"})
    clock.advance(days=5)
    assert isinstance(await RoundHandler(db, clock).prepare(QueuedMessage.from_row(old)), Skip)
    assert await _all(db, BuddyRound) == []
    assert len(await _all(db, OutboxMessage)) == 2


# --- intro and mid-round question ------------------------------------------------------------


async def test_intro_opens_a_private_thread_once(db: Database, clock: FrozenClock) -> None:
    await _setup(db, clock, A, B)
    await membership.join(db, clock, GUILD, A, roles=[], frequency="weekly")
    await rounds.start(db, clock, GUILD, 1)
    [row] = await _outbox(db, rounds.KIND_INTRO)
    intro = handlers(db, clock)[rounds.KIND_INTRO]
    assert isinstance(intro, IntroHandler)

    delivery = await intro.prepare(QueuedMessage.from_row(row))
    assert isinstance(delivery, Delivery)
    assert (delivery.target_type, delivery.target_id) == ("channel", CHANNEL)
    assert (delivery.thread_name, delivery.thread_members, delivery.ping_users) == (
        "Buddies · round 1",
        (A, B),
        (A, B),
    )
    assert delivery.content is not None
    assert f"<@{A}> and <@{B}>" in delivery.content
    assert f"<@{A}> would like to talk about once a week." in delivery.content

    # The sender opens the thread and says so before posting: it is recorded at once.
    assert delivery.thread_opened is not None
    await delivery.thread_opened(THREAD)
    [group] = await _all(db, BuddyGroup)
    assert group.thread_id == THREAD
    assert (await membership.status(db, clock, GUILD, B)).thread_id == THREAD
    # Posting failed, so the intro is prepared again: into the same thread, opening none.
    again = await intro.prepare(QueuedMessage.from_row(row))
    assert isinstance(again, Delivery)
    assert (again.target_type, again.target_id, again.thread_name) == ("channel", THREAD, None)
    assert again.content == delivery.content
    await intro.on_sent(QueuedMessage.from_row(row), Sent(channel_id=THREAD, message_id=5))
    [group] = await _all(db, BuddyGroup)
    assert group.thread_id == THREAD


async def test_intro_invites_only_members_still_in_the_group(
    db: Database, clock: FrozenClock
) -> None:
    await _setup(db, clock, A, B, C)
    await rounds.start(db, clock, GUILD, 1)
    await membership.leave(db, clock, GUILD, B)
    [row] = await _outbox(db, rounds.KIND_INTRO)
    delivery = await IntroHandler(db, clock).prepare(QueuedMessage.from_row(row))
    assert isinstance(delivery, Delivery)
    assert (delivery.thread_members, delivery.ping_users) == ((A, C), (A, C))
    await membership.leave(db, clock, GUILD, C)  # the pair ends before its intro
    assert isinstance(await IntroHandler(db, clock).prepare(QueuedMessage.from_row(row)), Skip)


async def test_checkup_skips_answered_members_and_ended_pairings(
    db: Database, clock: FrozenClock
) -> None:
    await _setup(db, clock, A, B)
    await rounds.start(db, clock, GUILD, 1)
    rows = {r.target_id: QueuedMessage.from_row(r) for r in await _outbox(db, rounds.KIND_CHECKUP)}
    checkup = CheckupHandler(db, clock)
    [group] = await _all(db, BuddyGroup)

    asked = await checkup.prepare(rows[A])
    assert isinstance(asked, Delivery)
    assert (asked.target_type, asked.target_id, asked.content) == ("user", A, CHECKUP)
    assert (asked.view, asked.view_args) == ("buddy_checkup", {"group_id": group.id})

    await connect.answer(db, clock, group.id, A, Answer.YES)
    assert await checkup.prepare(rows[A]) == Skip("already answered")
    assert isinstance(await checkup.prepare(rows[B]), Delivery)
    await rounds.start(db, clock, GUILD, 2)  # the next round ends the pair
    assert await checkup.prepare(rows[B]) == Skip("the pairing ended before the question")
