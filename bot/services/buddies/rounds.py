"""Pairing rounds: a preview, the start (groups, intros, the mid-round question), the
schedule, and a rematch in the middle of a round."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot import workers
from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import BuddyGroup, BuddyRound, BuddySettings
from bot.db.repositories import audit, outbox
from bot.db.repositories import buddies as repo
from bot.domain.buddies import EXACT_LIMIT, Candidate, Costs, Pairing, Rules
from bot.domain.checkins import InvalidInput
from bot.i18n import _
from bot.matching import pair_members
from bot.services.buddies.membership import NOT_SET_UP, NOT_TAKING_PART, hold_programme
from bot.services.checkins.records import timezone_of
from bot.services.circles import milestones, offers
from bot.services.privacy.pseudonyms import tombstone

KIND_INTRO = "buddy_intro"
KIND_CHECKUP = "buddy_checkup"
KIND_ROUND = "buddy_round"
WINDOW_ROUNDS = 6  # no repeat within this many rounds while avoidable
HISTORY_ROUNDS = 52  # how far back repeats are looked for (the oldest repeats first)
START_ATTEMPTS = 3  # pairings worked out outside the writing unit before one is done inside


@dataclass(frozen=True)
class RoundPlan:
    number: int
    seed: int
    eligible: int
    groups: tuple[tuple[int, ...], ...]
    unplaced: tuple[int, ...]
    repeats: int
    started: bool = False


def seed_for(guild_id: int, label: str) -> int:
    """A reproducible seed (e.g. from a scheduled date), small enough to show and type."""
    return zlib.crc32(f"{guild_id}:{label}".encode()) % 1_000_000


async def _settings(session: AsyncSession, guild_id: int) -> BuddySettings:
    settings = await repo.get_settings(session, guild_id)
    if settings is None or settings.channel_id is None:
        raise InvalidInput(_(NOT_SET_UP))
    return settings


@dataclass(frozen=True)
class RoundInputs:
    """Everything a round's pairing is worked out from, read in one unit of work. Two reads
    that are equal give the same pairing (pairing is deterministic)."""

    candidates: tuple[Candidate, ...]
    history: dict[frozenset[int], int] = field(hash=False)
    blocks: frozenset[frozenset[int]]
    rules: Rules

    def args(self) -> tuple[Any, ...]:
        """What `pair_members` takes."""
        return self.candidates, self.history, self.blocks, self.rules


async def _inputs(
    session: AsyncSession,
    guild_id: int,
    *,
    now: datetime,
    seed: int,
    exclude: frozenset[int] | set[int] = frozenset(),
) -> RoundInputs:
    latest = await repo.latest_round(session, guild_id)
    number = (latest.number if latest else 0) + 1
    own = await repo.timezones(session, guild_id)
    server = await timezone_of(session, guild_id, None)
    eligible = [
        m for m in await repo.eligible(session, guild_id, now=now) if m.user_id not in exclude
    ]
    support = await offers.for_pairing(session, guild_id, (m.user_id for m in eligible))
    candidates = []
    for member in eligible:
        offset = now.astimezone(ZoneInfo(own.get(member.user_id, server))).utcoffset()
        minutes = None if offset is None else int(offset.total_seconds() // 60)
        given, missing = support[member.user_id]
        candidates.append(Candidate(member.user_id, minutes, offers=given, gaps=missing))
    history = await repo.pair_history(session, guild_id, since_round=number - HISTORY_ROUNDS)
    blocks = await repo.blocked_pairs(session, guild_id)
    if any(min(pair) < 0 for pair in blocks):
        # A block against a member who erased their data names their pseudonym; it still
        # holds if they come back.
        pseudonyms = {
            await tombstone(session, guild_id, c.member_id, now=now): c.member_id
            for c in candidates
        }
        blocks = {frozenset(pseudonyms.get(m, m) for m in pair) for pair in blocks}
    rules = Rules(round_number=number, window=WINDOW_ROUNDS, seed=seed)
    return RoundInputs(tuple(candidates), dict(history), frozenset(blocks), rules)


def _plan(inputs: RoundInputs, pairing: Pairing) -> RoundPlan:
    return RoundPlan(
        number=inputs.rules.round_number,
        seed=inputs.rules.seed,
        eligible=len(inputs.candidates),
        groups=pairing.groups,
        unplaced=pairing.unplaced,
        repeats=len(pairing.repeats),
    )


def _pair(inputs: RoundInputs) -> Pairing:
    return pair_members(*inputs.args())


async def arrange(inputs: RoundInputs) -> Pairing:
    """The pairing, worked out in a worker process when the round is larger than the exact
    search handles at once (pairing 300 members holds the GIL for about 0.4 s)."""
    if len(inputs.candidates) <= EXACT_LIMIT:
        return _pair(inputs)
    return await workers.run(pair_members, *inputs.args())


async def preview(db: Database, clock: Clock, guild_id: int, seed: int) -> RoundPlan:
    async with db.read() as session:
        await _settings(session, guild_id)
        inputs = await _inputs(session, guild_id, now=clock.now(), seed=seed)
    return _plan(inputs, await arrange(inputs))


async def start(
    db: Database,
    clock: Clock,
    guild_id: int,
    seed: int,
    *,
    actor_id: int | None = None,
    scheduled_for: object = None,
    number: int | None = None,
) -> RoundPlan:
    """End the running round and start the next: groups, intros, mid-round questions.
    With `number` (the preview's), only if that is the round that would start now: a
    second press of Start, or an old preview's, starts nothing.

    The pairing is worked out outside the unit of work that writes the round (on SQLite a
    unit of work holds the only writer), from what was read just before; the write goes
    ahead only if what it reads again is the same, so a member who joins, leaves or blocks
    in between, or a round started meanwhile, is never missed. Otherwise the pairing is
    worked out again (the last try inside the unit of work)."""
    now = clock.now()
    async with db.read() as session:
        await _settings(session, guild_id)
        await _refuse_if_started(session, guild_id, scheduled_for)
        inputs = await _inputs(session, guild_id, now=now, seed=seed)
    _check_number(number, inputs)
    for attempt in range(START_ATTEMPTS):
        pairing = await arrange(inputs)
        async with db.session() as session:
            await hold_programme(session, guild_id)
            settings = await _settings(session, guild_id)
            await _refuse_if_started(session, guild_id, scheduled_for)
            current = await _inputs(session, guild_id, now=now, seed=seed)
            _check_number(number, current)
            if current != inputs:
                inputs = current
                if attempt < START_ATTEMPTS - 1:
                    continue
                pairing = _pair(current)
            plan = _plan(current, pairing)
            if plan.eligible < 2:
                return plan
            await _write_round(
                session, settings, plan, now=now, actor_id=actor_id, scheduled_for=scheduled_for
            )
            return replace(plan, started=True)
    raise AssertionError("unreachable: the last attempt always returns")


async def _refuse_if_started(session: AsyncSession, guild_id: int, scheduled_for: object) -> None:
    if scheduled_for is not None and await repo.round_scheduled_for(
        session, guild_id, scheduled_for
    ):
        raise InvalidInput(_("That round has already started."))


def _check_number(number: int | None, inputs: RoundInputs) -> None:
    if number is None or inputs.rules.round_number == number:
        return
    if inputs.rules.round_number > number:
        raise InvalidInput(_("Round {number} has already started.").format(number=number))
    raise InvalidInput(
        _("This preview is out of date: ask for a new one with **/setup buddies-round**.")
    )


async def _write_round(
    session: AsyncSession,
    settings: BuddySettings,
    plan: RoundPlan,
    *,
    now: datetime,
    actor_id: int | None,
    scheduled_for: object,
) -> None:
    guild_id = settings.guild_id
    if latest := await repo.latest_round(session, guild_id):
        finished = await repo.busy_members(session, guild_id)
        await milestones.rounds_completed(session, guild_id, latest.number, finished, now=now)
    await repo.end_running_groups(session, guild_id, now=now)
    length = timedelta(days=settings.round_days)
    row = BuddyRound(
        guild_id=guild_id,
        number=plan.number,
        seed=plan.seed,
        scheduled_for=scheduled_for,
        started_by=actor_id,
        started_at=now,
        ends_at=now + length,
    )
    session.add(row)
    await session.flush()
    for members in plan.groups:
        group = await repo.add_group(session, guild_id, row.id, members)
        await queue_group_messages(session, group, members, checkup_at=now + length / 2, now=now)
    for member in (m for g in plan.groups for m in g):
        await repo.update_member(session, guild_id, member, now=now, wants_rematch=False)
    await audit.append(
        session,
        guild_id=guild_id,
        actor_id=actor_id or 0,
        action="buddies.round_started",
        now=now,
        subject_type="buddy_round",
        subject_id=row.id,
        detail={"number": plan.number, "seed": plan.seed, "groups": len(plan.groups)},
    )


async def queue_group_messages(
    session: AsyncSession,
    group: BuddyGroup,
    members: tuple[int, ...],
    *,
    checkup_at: datetime,
    now: datetime,
) -> None:
    """The intro thread, and each buddy's private "did you connect?" halfway through."""
    settings = await _settings(session, group.guild_id)
    assert settings.channel_id is not None  # _settings refuses a server without one
    await outbox.enqueue(
        session,
        key=f"buddy:intro:{group.id}",
        kind=KIND_INTRO,
        target_type="channel",
        target_id=settings.channel_id,
        payload={"group_id": group.id},
        due_at=now,
        now=now,
        guild_id=group.guild_id,
    )
    for member in members:
        await outbox.enqueue(
            session,
            key=f"buddy:checkup:{group.id}:{member}",
            kind=KIND_CHECKUP,
            target_type="user",
            target_id=member,
            payload={"group_id": group.id},
            due_at=checkup_at,
            now=now,
            guild_id=group.guild_id,
        )


async def rematch(db: Database, clock: Clock, guild_id: int, user_id: int) -> tuple[int, ...]:
    """A new buddy now, from members free in this round; () if nobody is (the member is then
    first in line next round)."""
    now = clock.now()
    async with db.session() as session:
        await hold_programme(session, guild_id)
        await _settings(session, guild_id)
        member = await repo.get_member(session, guild_id, user_id, for_update=True)
        if member is None or member.status != repo.ACTIVE:
            raise InvalidInput(_(NOT_TAKING_PART))
        if member.paused_until is not None and member.paused_until > now:
            raise InvalidInput(
                _(
                    "You've paused buddy rounds for now. **/buddy join** resumes them, and then "
                    "**/buddy rematch** can find you someone."
                )
            )
        if await repo.current_group(session, guild_id, user_id) is not None:
            raise InvalidInput(
                _(
                    "You already have a buddy this round: **/buddy status** shows who. If it "
                    "isn't a good fit, say so when I ask halfway through, or use "
                    "**/buddy block**."
                )
            )
        latest = await repo.latest_round(session, guild_id)
        if latest is None or latest.ends_at <= now:
            member.wants_rematch = True
            return ()
        busy = await repo.busy_members(session, guild_id)
        inputs = await _inputs(
            session, guild_id, now=now, seed=seed_for(guild_id, f"rematch:{now}"), exclude=busy
        )
        costs = Costs(inputs.candidates, inputs.history, inputs.blocks, inputs.rules)
        free = [c.member_id for c in inputs.candidates if c.member_id != user_id]
        options = [(costs.pair(user_id, other), other) for other in free]
        options = [(cost, other) for cost, other in options if not math.isinf(cost)]
        if not options:
            member.wants_rematch = True
            return ()
        _cost, buddy = min(options)
        group = await repo.add_group(session, guild_id, latest.id, (user_id, buddy))
        halfway = now + (latest.ends_at - now) / 2
        await queue_group_messages(session, group, (user_id, buddy), checkup_at=halfway, now=now)
        for someone in (user_id, buddy):
            await repo.update_member(session, guild_id, someone, now=now, wants_rematch=False)
    return (buddy,)
