"""Keeping as little as possible: notes and "I need to talk" context are cleared after the
server's retention period (default 90 days) by a daily job, and members who left are erased
after a grace period (default 30 days) unless they come back."""

from __future__ import annotations

import asyncio
import time as monotime
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database, DatabaseClosing
from bot.db.models import (
    ActivityDay,
    Checkin,
    MemberDeparture,
    OutboxMessage,
    PrivacySettings,
    SupportRequest,
    ThinkingNote,
)
from bot.db.repositories import audit, outbox
from bot.db.typed import rowcount
from bot.db.upsert import update_guild_row, update_member_row
from bot.domain.checkins import InvalidInput
from bot.domain.circles import NOTE_RECIPIENT_GAP
from bot.domain.escalation import ACTIVE_STATUSES
from bot.i18n import _, number
from bot.jobs.delivery import Done, KindHandler, NoFollowUp, Prepared, QueuedMessage, Skip
from bot.services.privacy import pseudonyms
from bot.services.privacy.member_data import erase
from bot.services.reachout.sweep import ACTIVITY_DAYS_KEPT

KIND_RETENTION = "privacy_retention"
KIND_LEAVER = "privacy_leaver"
DEFAULT_RETENTION_DAYS = 90
DEFAULT_GRACE_DAYS = 30
RETENTION_LIMITS = (7, 3650)
GRACE_LIMITS = (0, 365)
PURGE_AT = time(3, 30)  # UTC, daily


@dataclass(frozen=True)
class PrivacyConfig:
    retention_days: int
    leave_grace_days: int


async def configure(
    db: Database,
    clock: Clock,
    guild_id: int,
    *,
    actor_id: int,
    retention_days: int | None = None,
    leave_grace_days: int | None = None,
) -> PrivacyConfig:
    values: dict[str, int] = {}
    if retention_days is not None:
        low, high = RETENTION_LIMITS
        if not low <= retention_days <= high:
            raise InvalidInput(
                _("Keep notes between {low} and {high} days. Nothing was changed.").format(
                    low=number(low), high=number(high)
                )
            )
        values["retention_days"] = retention_days
    if leave_grace_days is not None:
        low, high = GRACE_LIMITS
        if not low <= leave_grace_days <= high:
            raise InvalidInput(
                _("The grace period can be {low} to {high} days. Nothing was changed.").format(
                    low=number(low), high=number(high)
                )
            )
        values["leave_grace_days"] = leave_grace_days
    now = clock.now()
    async with db.session() as session:
        row = await update_guild_row(session, PrivacySettings, guild_id, now=now, **values)
        await audit.append(
            session,
            guild_id=guild_id,
            actor_id=actor_id,
            action="settings.privacy",
            now=now,
            detail=dict(values),
        )
        return PrivacyConfig(row.retention_days, row.leave_grace_days)


async def get_config(db: Database, guild_id: int) -> PrivacyConfig:
    async with db.session() as session:
        row = await session.get(PrivacySettings, guild_id)
    if row is None:
        return PrivacyConfig(DEFAULT_RETENTION_DAYS, DEFAULT_GRACE_DAYS)
    return PrivacyConfig(row.retention_days, row.leave_grace_days)


# Free text a member wrote, and any extra condition before it may be cleared.
FREE_TEXT: tuple[tuple[type[Any], str, tuple[Any, ...]], ...] = (
    (Checkin, "note", ()),
    # A member still waiting keeps their words in front of the moderators.
    (SupportRequest, "context", (SupportRequest.status.not_in(ACTIVE_STATUSES),)),
    (ThinkingNote, "note", ()),
)


async def purge(session: AsyncSession, now: datetime) -> dict[str, int]:
    """Clear notes and context older than each server's retention period."""
    custom = dict(
        (
            await session.execute(select(PrivacySettings.guild_id, PrivacySettings.retention_days))
        ).all()
    )
    cleared: dict[str, int] = {}

    def erased_notes(n: int) -> None:
        """Notes of erased members that were kept for a while, now gone (when any)."""
        if n:
            cleared["thinking_notes.erased"] = cleared.get("thinking_notes.erased", 0) + n

    async def clear(guild_filter: Any, days: int) -> None:
        cutoff = now - timedelta(days=days)
        # A reported note kept as evidence after its sender (or recipient) erased their data
        # goes once the retention period has passed, closed or not.
        kept = await session.execute(
            delete(ThinkingNote).where(
                guild_filter(ThinkingNote.guild_id),
                or_(ThinkingNote.sender_id < 0, ThinkingNote.recipient_id < 0),
                ThinkingNote.created_at < cutoff,
            )
        )
        erased_notes(rowcount(kept))
        for model, column, extra in FREE_TEXT:
            result = await session.execute(
                update(model)
                .where(
                    guild_filter(model.guild_id),
                    getattr(model, column).is_not(None),
                    model.created_at < cutoff,
                    *extra,
                )
                .values({column: None})
            )
            table = model.__tablename__
            cleared[table] = cleared.get(table, 0) + rowcount(result)

    await clear(
        lambda column: column.not_in(list(custom)) if custom else true(), DEFAULT_RETENTION_DAYS
    )
    for guild, days in custom.items():
        await clear(lambda column, guild=guild: column == guild, days)
    # The notes kept only so that the limits held after an erasure: a week is all they need.
    ledger = await session.execute(
        delete(ThinkingNote).where(
            or_(ThinkingNote.sender_id < 0, ThinkingNote.recipient_id < 0),
            ThinkingNote.status != "reported",
            ThinkingNote.created_at < now - NOTE_RECIPIENT_GAP,
        )
    )
    erased_notes(rowcount(ledger))
    days_kept = now.date() - timedelta(days=ACTIVITY_DAYS_KEPT)
    result = await session.execute(delete(ActivityDay).where(ActivityDay.day < days_kept))
    cleared["activity_days"] = rowcount(result)
    return cleared


async def queue_purge(session: AsyncSession, *, after: datetime, now: datetime) -> None:
    day = (
        after.date()
        if after.timetz().replace(tzinfo=None) < PURGE_AT
        else after.date() + timedelta(days=1)
    )
    due = datetime.combine(day, PURGE_AT, tzinfo=after.tzinfo)
    await outbox.enqueue(
        session,
        key=f"privacy:retention:{day.isoformat()}",
        kind=KIND_RETENTION,
        target_type="channel",
        target_id=0,
        payload={"day": day.isoformat()},
        due_at=due,
        now=now,
    )


async def start(db: Database, clock: Clock) -> None:
    """Make sure the daily purge is queued (at start; the key makes it once a day)."""
    now = clock.now()
    async with db.session() as session:
        await queue_purge(session, after=now, now=now)


async def at_start(db: Database, clock: Clock) -> bool:
    """At every start: the pseudonym secret stored encrypted, today's purge queued. False if
    Kinfolk began shutting down meanwhile (the next start does both)."""
    try:
        await pseudonyms.secure(db, clock)
        await start(db, clock)
    except DatabaseClosing:
        return False
    return True


# Finished outbox rows (sent, given up, skipped) are kept this long: long enough to look into
# a problem, and past every moment their idempotency key could be queued again.
OUTBOX_KEPT = timedelta(days=7)
# Rows deleted per unit of work: SQLite's one writer is never held for long.
OUTBOX_PURGE_CHUNK = 100
# Between chunks the purge rests this many times as long as its chunk took (at least
# OUTBOX_PURGE_REST_MIN seconds): it is a background job, and back to back its writes came
# faster than SQLite's log could be copied back and the disk could take them, so members'
# writes stalled behind the flushes (benchmarks/RESULTS.md, the outbox purge).
OUTBOX_PURGE_REST_FACTOR = 2.0
OUTBOX_PURGE_REST_MIN = 0.005
FINISHED = ("sent", "failed", "cancelled")


async def purge_outbox(db: Database, clock: Clock, *, chunk: int = OUTBOX_PURGE_CHUNK) -> int:
    """Delete finished outbox rows older than OUTBOX_KEPT, a chunk per unit of work (they
    hold who got a reach-out DM or a "talk" update, and why one failed)."""
    cutoff = clock.now() - OUTBOX_KEPT
    total = 0
    while True:
        began = monotime.monotonic()
        async with db.session() as session:
            ids = select(OutboxMessage.id).where(
                OutboxMessage.status.in_(FINISHED),
                OutboxMessage.due_at < cutoff,
                # One sent late (after an outage) is kept a week from when it went.
                or_(OutboxMessage.sent_at.is_(None), OutboxMessage.sent_at < cutoff),
            )
            result = await session.execute(
                delete(OutboxMessage).where(
                    OutboxMessage.id.in_(ids.limit(chunk).scalar_subquery())
                )
            )
        done = rowcount(result)
        total += done
        if done < chunk:
            return total
        took = monotime.monotonic() - began
        await asyncio.sleep(max(OUTBOX_PURGE_REST_MIN, took * OUTBOX_PURGE_REST_FACTOR))
        await db.give_way_to_checkpoint()


class RetentionHandler(NoFollowUp):
    max_attempts: int | None = None

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def prepare(self, message: QueuedMessage) -> Prepared:
        now = self.clock.now()
        async with self.db.session() as session:
            await queue_purge(session, after=now + timedelta(minutes=1), now=now)
            cleared = await purge(session, now)
        cleared["outbox_messages"] = await purge_outbox(self.db, self.clock)
        return Done(f"retention: cleared {cleared}")


async def member_left(db: Database, clock: Clock, guild_id: int, user_id: int) -> datetime:
    """Record the departure and queue the erasure after the grace period."""
    now = clock.now()
    async with db.session() as session:
        row = await update_member_row(
            session,
            MemberDeparture,
            guild_id,
            user_id,
            now=now,
            create={"left_at": now},
            left_at=now,
        )
        settings = await session.get(PrivacySettings, guild_id)
        grace = settings.leave_grace_days if settings else DEFAULT_GRACE_DAYS
        due = now + timedelta(days=grace)
        await outbox.enqueue(
            session,
            key=f"privacy:leaver:{guild_id}:{user_id}:{int(now.timestamp())}",
            kind=KIND_LEAVER,
            target_type="channel",
            target_id=guild_id,
            payload={"user_id": user_id, "left_at": row.left_at.isoformat()},
            due_at=due,
            now=now,
            guild_id=guild_id,
            member_id=user_id,
        )
        return due


async def member_returned(db: Database, guild_id: int, user_id: int) -> bool:
    async with db.session() as session:
        row = await session.get(MemberDeparture, (guild_id, user_id), with_for_update=True)
        if row is None:
            return False
        await session.delete(row)
        return True


class LeaverHandler(NoFollowUp):
    max_attempts: int | None = None

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def prepare(self, message: QueuedMessage) -> Prepared:
        guild_id = message.guild_id or 0
        user_id = int(message.payload["user_id"])
        async with self.db.session() as session:
            row = await session.get(
                MemberDeparture, (guild_id, user_id), with_for_update=True, populate_existing=True
            )
            if row is None or row.left_at.isoformat() != message.payload["left_at"]:
                return Skip("the member came back (or left again later)")
            erased = await erase(session, guild_id, user_id, now=self.clock.now())
        return Done(
            f"erased a member who left: {sum(erased.deleted.values())} rows deleted, "
            f"{sum(erased.kept.values())} kept under a pseudonym"
        )


def handlers(db: Database, clock: Clock) -> dict[str, KindHandler]:
    return {KIND_RETENTION: RetentionHandler(db, clock), KIND_LEAVER: LeaverHandler(db, clock)}
