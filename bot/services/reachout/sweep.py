"""The inactivity sweep: find members who went quiet and queue what their server's settings
ask for — a DM to those who opted in, a nudge to their buddy, or nothing (a weekly digest
lists them) — once per quiet spell and stage, through the outbox.

Set-based: one hourly sweep for every server with reach-out on (`SweepAllHandler`), which
finds the members it may have something to do for with one indexed query per threshold in
use, across servers, as a read (on SQLite it holds no writer); a server's own sweep
(`SweepHandler`) runs when its settings change. With nobody newly quiet, a sweep is those
reads and nothing else. The members found are then swept `SWEEP_CHUNK` per unit of work, each
read again (and locked on PostgreSQL) in the unit that updates them, their stages recorded
and their messages queued in one statement each, so a big sweep never holds SQLite's single
writer for long (10,000 quiet members in one unit held it for 2.85 s).

Each queued message has a key made of the member, the quiet spell and the stage, so a sweep
that runs twice (a restart mid-sweep, two processes) queues nothing twice. The member's row
records the stage in the same unit of work; a sweep cut short resumes where the members'
stages show it stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database, DatabaseClosing
from bot.db.models import ReachoutSettings
from bot.db.repositories import buddies as buddy_repo
from bot.db.repositories import guild_settings, outbox
from bot.db.repositories import reachout as repo
from bot.db.typed import AnyRow
from bot.domain.checkins import parse_local_time
from bot.domain.reachout import (
    BUDDY_HEAD_START,
    DEFAULT_QUIET_END,
    DEFAULT_QUIET_START,
    MemberState,
    QuietHours,
    Step,
    next_allowed,
    plan,
)
from bot.domain.timezones import is_valid_timezone, zone
from bot.jobs.delivery import Done, NoFollowUp, Prepared, QueuedMessage, Skip
from bot.services.reachout.settings import SWEEP_EVERY, next_slot

KIND_DM = "reachout_dm"
KIND_BUDDY = "reachout_buddy"
KIND_SWEEP_ALL = "reachout_sweep_all"
ACTIVITY_DAYS_KEPT = 90
SWEEP_CHUNK = 200


@dataclass
class SweepResult:
    candidates: int = 0
    dms: int = 0
    nudges: int = 0
    not_opted: int = 0

    def add(self, other: SweepResult) -> None:
        self.candidates += other.candidates
        self.dms += other.dms
        self.nudges += other.nudges
        self.not_opted += other.not_opted


class _QuietHoursOf(Protocol):
    @property
    def quiet_start(self) -> str | None: ...
    @property
    def quiet_end(self) -> str | None: ...


def quiet_hours(member: _QuietHoursOf) -> QuietHours:
    start = parse_local_time(member.quiet_start) if member.quiet_start else DEFAULT_QUIET_START
    end = parse_local_time(member.quiet_end) if member.quiet_end else DEFAULT_QUIET_END
    return QuietHours(start, end)


def _stamp(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def dm_key(guild_id: int, user_id: int, cycle: datetime, stage: int) -> str:
    return f"reachout:dm:{guild_id}:{user_id}:{_stamp(cycle)}:{stage}"


async def sweep_guild(db: Database, clock: Clock, guild_id: int) -> SweepResult:
    """One sweep of one server."""
    return await sweep_servers(db, clock, [guild_id])


async def sweep_servers(
    db: Database, clock: Clock, guild_ids: Sequence[int] | None = None
) -> SweepResult:
    """One sweep of the servers `guild_ids` (or all with reach-out on): a read that finds the
    members to look at, then `SWEEP_CHUNK` of them per unit of work."""
    now = clock.now()
    async with db.read() as session:
        servers = await repo.sweep_servers(session, guild_ids)
        thresholds: dict[int, list[int]] = {}
        for server in servers.values():
            thresholds.setdefault(server.threshold_days, []).append(server.guild_id)
        keys = await repo.sweep_keys(session, thresholds, now=now) if servers else []
    total = SweepResult()
    for start in range(0, len(keys), SWEEP_CHUNK):
        async with db.session() as session:
            total.add(await _sweep(session, keys[start : start + SWEEP_CHUNK], now))
    return total


async def _sweep(session: AsyncSession, keys: list[tuple[int, int]], now: datetime) -> SweepResult:
    """Sweep the members `keys` names (of one server or several), as they are now."""
    servers, members = await _quiet_now(session, keys, now)
    result = SweepResult(candidates=len(members))
    if not members:
        return result
    server_tz = await guild_settings.timezones(session, servers)
    own = await repo.own_timezones_of(session, [(m.guild_id, m.user_id) for m in members])
    buddies = await _buddies_of(session, servers, members, now)
    stages: list[tuple[int, int, datetime, int, datetime | None]] = []
    queued: list[outbox.Queued] = []
    for member in members:
        server = servers[member.guild_id]
        step = plan(_state(member), now, timedelta(days=server.threshold_days))
        if step is None:
            continue
        stages.append((member.guild_id, member.user_id, step.cycle, step.stage, step.then))
        key = (member.guild_id, member.user_id)
        tz_name = own.get(key, server_tz.get(member.guild_id, "UTC"))
        buddy = buddies.get(member.guild_id, {}).get(member.user_id)
        queued += _reach_out(member, server, step, buddy, tz_name, now, result)
    await repo.record_stages(session, stages)
    await outbox.enqueue_many(session, queued, now=now)
    return result


async def _quiet_now(
    session: AsyncSession, keys: list[tuple[int, int]], now: datetime
) -> tuple[dict[int, ReachoutSettings], list[AnyRow]]:
    """The servers, and their members of `keys` who are quiet now, read again in this unit:
    a member's state, and the settings, may have moved on since they were found."""
    servers = await repo.sweep_servers(session, sorted({guild for guild, _ in keys}))
    members = [
        m
        for m in await repo.sweep_rows(session, keys, now=now)
        if m.guild_id in servers
        and m.last_seen_at < now - timedelta(days=servers[m.guild_id].threshold_days)
    ]
    return servers, members


async def _buddies_of(
    session: AsyncSession,
    servers: dict[int, ReachoutSettings],
    members: list[AnyRow],
    now: datetime,
) -> dict[int, dict[int, int | None]]:
    """Each member's buddy of the round under way, in servers that may nudge buddies."""
    buddies: dict[int, dict[int, int | None]] = {}
    for guild_id, server in servers.items():
        if server.buddy_nudge != "off" or server.not_opted == "buddy":
            ids = [m.user_id for m in members if m.guild_id == guild_id]
            buddies[guild_id] = await _active_buddies(session, server, ids, now)
    return buddies


def _reach_out(
    member: AnyRow,
    server: ReachoutSettings,
    step: Step,
    buddy: int | None,
    tz_name: str,
    now: datetime,
    result: SweepResult,
) -> list[outbox.Queued]:
    """What this step of a quiet member's cycle sends: a nudge to their buddy (before the
    DM, or instead of it), and the DM itself if they opted in, outside their quiet hours."""
    queued: list[outbox.Queued] = []
    opted_in = member.dm_consent == "yes" and member.dms_closed_at is None
    payload = {"cycle": step.cycle.isoformat(), "stage": step.stage}
    dm_at = now
    if buddy is not None and (
        (opted_in and server.buddy_nudge in ("before", "instead"))
        or (not opted_in and server.not_opted == "buddy")
    ):
        queued.append(
            outbox.Queued(
                key=f"reachout:buddy:{member.guild_id}:{member.user_id}:"
                f"{_stamp(step.cycle)}:{step.stage}",
                kind=KIND_BUDDY,
                target_type="user",
                target_id=buddy,
                payload={**payload, "member": member.user_id},
                due_at=now,
                guild_id=member.guild_id,
                member_id=member.user_id,
            )
        )
        result.nudges += 1
        if not opted_in or server.buddy_nudge == "instead":
            return queued
        dm_at = now + BUDDY_HEAD_START
    if not opted_in:
        result.not_opted += 1
        return queued
    tz = zone(tz_name if is_valid_timezone(tz_name) else "UTC")
    queued.append(
        outbox.Queued(
            key=dm_key(member.guild_id, member.user_id, step.cycle, step.stage),
            kind=KIND_DM,
            target_type="user",
            target_id=member.user_id,
            payload=payload,
            due_at=next_allowed(dm_at, tz, quiet_hours(member)),
            guild_id=member.guild_id,
        )
    )
    result.dms += 1
    return queued


def _state(member: AnyRow) -> MemberState:
    return MemberState(
        last_seen=member.last_seen_at,
        cycle=member.cycle,
        stage=member.stage,
        next_at=member.next_at,
        paused_until=member.paused_until,
    )


async def _active_buddies(
    session: AsyncSession, server: ReachoutSettings, users: list[int], now: datetime
) -> dict[int, int | None]:
    """For each of `users`, a buddy of a running round who is still active, if any."""
    cutoff = now - timedelta(days=server.threshold_days)
    partners = await buddy_repo.running_partners(session, server.guild_id)
    involved = {p for user in users for p in partners.get(user, ())}
    seen = await repo.last_seen(session, server.guild_id, involved) if involved else {}
    return {
        user: next((p for p in partners.get(user, ()) if p in seen and seen[p] >= cutoff), None)
        for user in users
    }


class SweepHandler(NoFollowUp):
    """A server's own sweep, queued when its settings change (switched on, a new threshold):
    it runs at once instead of at the next hourly sweep of every server."""

    max_attempts: int | None = None

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def prepare(self, message: QueuedMessage) -> Prepared:
        guild_id = message.guild_id or 0
        now = self.clock.now()
        async with self.db.session() as session:
            settings = await repo.get_settings(session, guild_id)
            if settings is None or not settings.enabled:
                return Skip("reach-out is switched off in this server")
            if settings.version != message.payload.get("version"):
                return Skip("the settings changed; a newer sweep is queued")
            await queue_sweep_all(session, due=now + SWEEP_EVERY, now=now)
        # If this stops half-way, the row is claimed again after its lease and goes on: the
        # members already done have their stage recorded, and the keys stop any repeat.
        return _done(await sweep_guild(self.db, self.clock, guild_id))


def _done(result: SweepResult) -> Done:
    return Done(
        f"swept: {result.candidates} to look at, {result.dms} DMs and {result.nudges} "
        "buddy nudges queued"
    )


# Activity days older than ACTIVITY_DAYS_KEPT go once a day, in the hourly sweep of this hour
# (UTC), a server per unit of work. (A day the bot is down then, they go the next day.)
PURGE_HOUR = 0


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


async def queue_sweep_all(session: AsyncSession, *, due: datetime, now: datetime) -> None:
    """Queue the sweep of every server for the hour `due` falls in (on the hour): once per
    hour, however many processes, restarts or server sweeps ask for it."""
    slot = _hour(due)
    if slot < due:
        slot += SWEEP_EVERY
    await outbox.enqueue(
        session,
        key=f"reachout:sweep-all:{slot.isoformat()}",
        kind=KIND_SWEEP_ALL,
        target_type="channel",
        target_id=0,
        payload={"slot": slot.isoformat()},
        due_at=slot,
        now=now,
    )


async def at_start(db: Database, clock: Clock) -> bool:
    """Make sure the hourly sweep is queued (its key makes it once an hour). False if
    Kinfolk began shutting down meanwhile (the next start queues it)."""
    now = clock.now()
    try:
        async with db.session() as session:
            await queue_sweep_all(session, due=now, now=now)
    except DatabaseClosing:
        return False
    return True


class SweepAllHandler(NoFollowUp):
    """The hourly sweep of every server with reach-out on, as an outbox row that queues its
    successor (from its own slot, so a row processed twice queues one, not two)."""

    max_attempts: int | None = None

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def prepare(self, message: QueuedMessage) -> Prepared:
        now = self.clock.now()
        slot = datetime.fromisoformat(message.payload.get("slot") or now.isoformat())
        async with self.db.session() as session:
            await queue_sweep_all(session, due=next_slot(slot, now), now=now)
        if slot.hour == PURGE_HOUR:
            await purge_activity_days(self.db, now)
        return _done(await sweep_servers(self.db, self.clock))


async def purge_activity_days(db: Database, now: datetime) -> None:
    """Forget per-day activity counts older than ACTIVITY_DAYS_KEPT, in the servers with
    reach-out on (a server per unit of work)."""
    before = date.fromordinal(now.date().toordinal() - ACTIVITY_DAYS_KEPT)
    async with db.read() as session:
        guilds = list(await repo.sweep_servers(session))
    for guild_id in guilds:
        async with db.session() as session:
            await repo.purge_days(session, guild_id, before=before)
