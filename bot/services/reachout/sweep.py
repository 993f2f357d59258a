"""The inactivity sweep: for each server, find members who went quiet and queue what its
settings ask for — a DM to those who opted in, a nudge to their buddy, or nothing (a weekly
digest lists them) — once per quiet spell and stage, through the outbox.

Each queued message has a key made of the member, the quiet spell and the stage, so a sweep
that runs twice (a restart mid-sweep, two processes) queues nothing twice. The member's row
records the stage in the same unit of work.

A server is swept `SWEEP_CHUNK` quiet members per unit of work, so a big server never holds
SQLite's single writer for long (10,000 quiet members in one unit held it for 2.85 s, longer
than members can wait for an answer). A sweep cut short resumes where the members' stages
show it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import MemberActivity, ReachoutSettings
from bot.db.repositories import buddies as buddy_repo
from bot.db.repositories import outbox
from bot.db.repositories import reachout as repo
from bot.domain.checkins import parse_local_time
from bot.domain.reachout import (
    BUDDY_HEAD_START,
    DEFAULT_QUIET_END,
    DEFAULT_QUIET_START,
    MemberState,
    QuietHours,
    next_allowed,
    plan,
)
from bot.domain.timezones import is_valid_timezone, zone
from bot.jobs.delivery import Done, NoFollowUp, Prepared, QueuedMessage, Skip
from bot.services.reachout.settings import next_slot, queue_sweep, server_timezone

KIND_DM = "reachout_dm"
KIND_BUDDY = "reachout_buddy"
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


def quiet_hours(member: MemberActivity) -> QuietHours:
    start = parse_local_time(member.quiet_start) if member.quiet_start else DEFAULT_QUIET_START
    end = parse_local_time(member.quiet_end) if member.quiet_end else DEFAULT_QUIET_END
    return QuietHours(start, end)


def _stamp(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def dm_key(guild_id: int, user_id: int, cycle: datetime, stage: int) -> str:
    return f"reachout:dm:{guild_id}:{user_id}:{_stamp(cycle)}:{stage}"


async def sweep_guild(db: Database, clock: Clock, guild_id: int) -> SweepResult:
    """One sweep of one server, `SWEEP_CHUNK` members per unit of work."""
    now = clock.now()
    async with db.session() as session:
        settings = await repo.get_settings(session, guild_id)
    if settings is None or not settings.enabled:
        return SweepResult()
    return await _sweep_in_chunks(db, settings, now)


async def _sweep_in_chunks(db: Database, settings: ReachoutSettings, now: datetime) -> SweepResult:
    total = SweepResult()
    after: int | None = None
    while True:
        async with db.session() as session:
            # Re-read in each unit: a member's state (and the settings) may have moved on.
            current = await repo.get_settings(session, settings.guild_id)
            if current is None or not current.enabled:
                return total
            result, after = await _sweep(session, current, now, after=after)
        total.add(result)
        if after is None:
            return total


async def _sweep(
    session: AsyncSession, settings: ReachoutSettings, now: datetime, *, after: int | None
) -> tuple[SweepResult, int | None]:
    """Sweep the next chunk of members after user id `after`; returns what was done and
    where the next chunk starts (None when there are no more)."""
    guild_id = settings.guild_id
    threshold = timedelta(days=settings.threshold_days)
    cutoff = now - threshold
    members = await repo.sweep_candidates(
        session, guild_id, cutoff=cutoff, now=now, after_user=after, limit=SWEEP_CHUNK
    )
    result = SweepResult(candidates=len(members))
    if not members:
        return result, None
    server_tz = await server_timezone(session, guild_id)
    own = await repo.own_timezones(session, guild_id, (m.user_id for m in members))
    wants_buddies = settings.buddy_nudge != "off" or settings.not_opted == "buddy"
    partners = await buddy_repo.running_partners(session, guild_id) if wants_buddies else {}
    involved = {p for m in members for p in partners.get(m.user_id, ())}
    partner_seen = await repo.last_seen(session, guild_id, involved) if involved else {}

    for member in members:
        state = MemberState(
            last_seen=member.last_seen_at,
            cycle=member.cycle,
            stage=member.stage,
            next_at=member.next_at,
            paused_until=member.paused_until,
        )
        step = plan(state, now, threshold)
        if step is None:
            continue
        member.cycle, member.stage, member.next_at = step.cycle, step.stage, step.then
        active_buddy = next(
            (
                p
                for p in partners.get(member.user_id, ())
                if p in partner_seen and partner_seen[p] >= cutoff
            ),
            None,
        )
        opted_in = member.dm_consent == "yes" and member.dms_closed_at is None
        tz_name = own.get(member.user_id, server_tz)
        tz = zone(tz_name if is_valid_timezone(tz_name) else "UTC")
        payload = {"cycle": member.cycle.isoformat(), "stage": step.stage}
        dm_at = now
        if active_buddy is not None and (
            (opted_in and settings.buddy_nudge in ("before", "instead"))
            or (not opted_in and settings.not_opted == "buddy")
        ):
            await outbox.enqueue(
                session,
                key=f"reachout:buddy:{guild_id}:{member.user_id}:{_stamp(step.cycle)}:{step.stage}",
                kind=KIND_BUDDY,
                target_type="user",
                target_id=active_buddy,
                payload={**payload, "member": member.user_id},
                due_at=now,
                now=now,
                guild_id=guild_id,
                member_id=member.user_id,
            )
            result.nudges += 1
            if not opted_in or settings.buddy_nudge == "instead":
                continue
            dm_at = now + BUDDY_HEAD_START
        if not opted_in:
            result.not_opted += 1
            continue
        await outbox.enqueue(
            session,
            key=dm_key(guild_id, member.user_id, step.cycle, step.stage),
            kind=KIND_DM,
            target_type="user",
            target_id=member.user_id,
            payload=payload,
            due_at=next_allowed(dm_at, tz, quiet_hours(member)),
            now=now,
            guild_id=guild_id,
        )
        result.dms += 1
    return result, members[-1].user_id


class SweepHandler(NoFollowUp):
    """A server's hourly sweep, as an outbox row that queues its successor."""

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
            slot = datetime.fromisoformat(message.payload.get("slot") or now.isoformat())
            await queue_sweep(
                session, guild_id, settings.version, due=next_slot(slot, now), now=now
            )
            await repo.purge_days(
                session,
                guild_id,
                before=date.fromordinal(now.date().toordinal() - ACTIVITY_DAYS_KEPT),
            )
        # If this stops half-way, the row is claimed again after its lease and goes on: the
        # members already done have their stage recorded, and the keys stop any repeat.
        result = await _sweep_in_chunks(self.db, settings, now)
        return Done(
            f"swept: {result.candidates} to look at, {result.dms} DMs and {result.nudges} "
            "buddy nudges queued"
        )
