"""/setup buddies: where intros go and when rounds start; the scheduled start itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import BuddySettings
from bot.db.repositories import audit, outbox
from bot.db.repositories import buddies as repo
from bot.domain.checkins import InvalidInput, format_time, local_day, occurrence, parse_local_time
from bot.domain.timezones import zone
from bot.i18n import _, ngettext, number
from bot.jobs.delivery import Done, NoFollowUp, Prepared, QueuedMessage, Skip
from bot.services.buddies.rounds import KIND_ROUND, seed_for, start
from bot.services.checkins.records import timezone_of

# The choices of /setup buddies (translated with the command's); the days in its answer are
# in whole sentences (cogs/buddies/_setup.py).
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_ROUND_DAYS = 90


@dataclass(frozen=True)
class BuddyConfig:
    channel_id: int
    round_days: int
    weekday: int
    start_time: str
    timezone: str
    required_role_id: int | None
    next_round_at: datetime


def first_start(now: datetime, settings: BuddySettings, timezone: str) -> tuple[date, datetime]:
    """The next start on the chosen weekday at the chosen local time, after `now`."""
    tz = zone(timezone)
    at = parse_local_time(settings.start_time)
    day = local_day(now, tz)
    while True:
        if day.weekday() == settings.weekday:
            instant = occurrence(day, at, tz)
            if instant > now:
                return day, instant
        day += timedelta(days=1)


async def _queue(
    session: AsyncSession, settings: BuddySettings, day: date, due: datetime, now: datetime
) -> None:
    await outbox.enqueue(
        session,
        key=f"buddy:round:{settings.guild_id}:{settings.version}:{day.isoformat()}",
        kind=KIND_ROUND,
        target_type="channel",
        target_id=settings.channel_id or 0,
        payload={"version": settings.version, "day": day.isoformat()},
        due_at=due,
        now=now,
        guild_id=settings.guild_id,
    )


async def configure(
    db: Database,
    clock: Clock,
    guild_id: int,
    *,
    channel_id: int,
    round_days: int,
    weekday: int,
    start_time: str,
    required_role_id: int | None,
    actor_id: int,
) -> BuddyConfig:
    if not 1 <= round_days <= MAX_ROUND_DAYS:
        raise InvalidInput(
            ngettext(
                "A round can last 1 to {count} day. Nothing was changed.",
                "A round can last 1 to {count} days. Nothing was changed.",
                MAX_ROUND_DAYS,
            ).format(count=number(MAX_ROUND_DAYS))
        )
    if not 0 <= weekday <= 6:
        raise InvalidInput(_("Please pick a weekday from the list. Nothing was changed."))
    when = format_time(parse_local_time(start_time))
    now = clock.now()
    async with db.session() as session:
        settings = await repo.update_settings(
            session,
            guild_id,
            now=now,
            channel_id=channel_id,
            round_days=round_days,
            weekday=weekday,
            start_time=when,
            required_role_id=required_role_id,
        )
        settings.version += 1
        timezone = await timezone_of(session, guild_id, None)
        day, due = first_start(now, settings, timezone)
        await _queue(session, settings, day, due, now)
        await audit.append(
            session,
            guild_id=guild_id,
            actor_id=actor_id,
            action="settings.buddies",
            now=now,
            detail={
                "channel_id": channel_id,
                "round_days": round_days,
                "weekday": weekday,
                "start_time": when,
                "required_role_id": required_role_id,
            },
        )
    return BuddyConfig(channel_id, round_days, weekday, when, timezone, required_role_id, due)


class RoundHandler(NoFollowUp):
    """Starts a scheduled round (its intros and questions are queued by the start itself),
    then queues the next start."""

    max_attempts: int | None = 5

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    async def prepare(self, message: QueuedMessage) -> Prepared:
        guild_id = message.guild_id or 0
        day = date.fromisoformat(message.payload["day"])
        now = self.clock.now()
        async with self.db.session() as session:
            settings = await repo.get_settings(session, guild_id)
            if settings is None or settings.version != message.payload["version"]:
                return Skip("the round schedule changed since this was queued")
            timezone = await timezone_of(session, guild_id, None)
            following = day + timedelta(days=settings.round_days)
            due = occurrence(following, parse_local_time(settings.start_time), zone(timezone))
            while due <= now:  # after downtime: one late round now, not one per missed start
                following += timedelta(days=settings.round_days)
                due = occurrence(following, parse_local_time(settings.start_time), zone(timezone))
            await _queue(session, settings, following, due, now)
            latest = await repo.latest_round(session, guild_id)
            if latest is not None and latest.started_by is not None and latest.ends_at > now:
                # A round a moderator started by hand runs its full length.
                return Skip(f"round {latest.number}, started by hand, is still running")
        try:
            plan = await start(
                self.db,
                self.clock,
                guild_id,
                seed_for(guild_id, day.isoformat()),
                scheduled_for=day,
            )
        except InvalidInput as refusal:
            return Skip(str(refusal))
        return Done(f"round {plan.number} started with {len(plan.groups)} group(s)")
