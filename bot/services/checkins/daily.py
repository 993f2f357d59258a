"""Something that happens once a day at a chosen local time, through the outbox: a member's
reminder, a server's prompt.

Each occurrence is an outbox row keyed by (what, version, local day), so it is queued once.
When it falls due its handler looks at the current settings: a row of an older version (the
time or timezone changed since), or for a day already served, is skipped; otherwise it is
sent. Either way the next day's row is queued first. The row's lease and the "last day
served" record make it exactly one message per local day, across restarts and daylight-saving
changes alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import outbox
from bot.domain.checkins import local_day, next_occurrence, occurrence, parse_local_time
from bot.domain.timezones import zone
from bot.jobs.delivery import Delivery, Prepared, QueuedMessage, Sent, Skip


@dataclass(frozen=True)
class Schedule:
    """Where and when a daily message goes, as the settings say now."""

    key_prefix: str
    kind: str
    guild_id: int
    target_type: str
    target_id: int
    at: time
    timezone: str
    version: int
    last_day: date | None


async def queue_next(
    session: AsyncSession, schedule: Schedule, *, after: datetime, now: datetime
) -> datetime:
    """Queue the first occurrence after `after` (once: the key is unique). Returns its time."""
    day, due = next_occurrence(after, schedule.at, zone(schedule.timezone))
    await queue_day(session, schedule, day, due, now=now)
    return due


async def queue_day(
    session: AsyncSession, schedule: Schedule, day: date, due: datetime, *, now: datetime
) -> None:
    """Queue the occurrence of local `day`, due at `due` (once: the key is unique)."""
    await outbox.enqueue(
        session,
        key=f"{schedule.key_prefix}:{schedule.version}:{schedule.timezone}:{day.isoformat()}",
        kind=schedule.kind,
        target_type=schedule.target_type,
        target_id=schedule.target_id,
        payload={"version": schedule.version, "day": day.isoformat(), "tz": schedule.timezone},
        due_at=due,
        now=now,
        guild_id=schedule.guild_id,
    )


def parse_time(value: str | None) -> time | None:
    return None if value is None else parse_local_time(value)


class DailyHandler:
    """Base for a daily message's outbox handler. Subclasses load the schedule and render."""

    max_attempts: int | None = 5

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def load(self, session: AsyncSession, message: QueuedMessage) -> Schedule | None:
        """The schedule as it stands, locked for this unit of work; None if switched off."""
        raise NotImplementedError

    async def served(self, session: AsyncSession, schedule: Schedule, day: date) -> str | None:
        """Why `day` needs no message after all (e.g. the member already checked in)."""
        return None

    async def render(self, schedule: Schedule, message: QueuedMessage) -> Delivery:
        raise NotImplementedError

    async def mark_served(self, session: AsyncSession, message: QueuedMessage, day: date) -> None:
        raise NotImplementedError

    async def prepare(self, message: QueuedMessage) -> Prepared:
        now = self.clock.now()
        day = date.fromisoformat(message.payload["day"])
        async with self.db.session() as session:
            schedule = await self.load(session, message)
            if schedule is None or schedule.version != message.payload["version"]:
                return Skip("the schedule changed or was switched off since this was queued")
            if schedule.timezone != message.payload.get("tz"):
                # The timezone changed (perhaps the server's): requeue in the new one.
                await queue_next(session, schedule, after=now, now=now)
                return Skip(f"the timezone is now {schedule.timezone}")
            today = local_day(now, zone(schedule.timezone))
            if day < today:
                # Kinfolk was down past that day: queue today's (late, if its time has passed
                # already) rather than losing today too.
                due = max(now, occurrence(today, schedule.at, zone(schedule.timezone)))
                await queue_day(session, schedule, today, due, now=now)
                return Skip(f"{day} is over in {schedule.timezone}; not sending it late")
            # Queue tomorrow's before deciding about today's, so the chain never breaks.
            await queue_next(session, schedule, after=now, now=now)
            if schedule.last_day is not None and schedule.last_day >= day:
                return Skip("already sent today")
            reason = await self.served(session, schedule, day)
        if reason is not None:
            return Skip(reason)
        return await self.render(schedule, message)

    async def on_sent(self, message: QueuedMessage, sent: Sent) -> None:
        async with self.db.session() as session:
            await self.mark_served(session, message, date.fromisoformat(message.payload["day"]))
