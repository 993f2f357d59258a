"""A member's daily check-in reminder: a DM at a local time they pick, in their timezone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import MemberProfile
from bot.db.repositories import checkins as repo
from bot.domain.checkins import InvalidInput, format_time, next_occurrence, parse_local_time
from bot.domain.timezones import is_valid_timezone, zone
from bot.i18n import _
from bot.jobs.delivery import (
    PROBLEM_DMS_CLOSED,
    Delivery,
    QueuedMessage,
    Undeliverable,
)
from bot.services.checkins.daily import DailyHandler, Schedule, parse_time, queue_next
from bot.services.checkins.records import timezone_of

KIND_REMINDER = "checkin_reminder"
MOODS_VIEW = "checkin_moods"
STOPPED_DMS_CLOSED = "dms_closed"


@dataclass(frozen=True)
class ReminderInfo:
    time: str | None
    timezone: str
    own_timezone: bool
    next_at: datetime | None
    stopped: str | None
    # The member already checked in on the day of the next time: that one is skipped, and
    # `next_at` is the one after it.
    skipping_today: bool = False


def check_timezone(name: str) -> str:
    name = name.strip()
    if not is_valid_timezone(name):
        raise InvalidInput(
            _(
                "“{timezone}” isn't a timezone I know. Pick one from the suggestions as you "
                "type, like Europe/Berlin or America/New_York. Nothing was changed."
            ).format(timezone=name[:64])
        )
    return name


def _schedule(profile: MemberProfile, timezone: str) -> Schedule | None:
    at = parse_time(profile.reminder_time)
    if at is None:
        return None
    return Schedule(
        key_prefix=f"checkin:reminder:{profile.guild_id}:{profile.user_id}",
        kind=KIND_REMINDER,
        guild_id=profile.guild_id,
        target_type="user",
        target_id=profile.user_id,
        at=at,
        timezone=timezone,
        version=profile.reminder_version,
        last_day=profile.reminder_last_day,
    )


async def _reschedule(session: AsyncSession, profile: MemberProfile, now: datetime) -> ReminderInfo:
    profile.reminder_version += 1
    timezone = await timezone_of(session, profile.guild_id, profile)
    schedule = _schedule(profile, timezone)
    next_at = None if schedule is None else await queue_next(session, schedule, after=now, now=now)
    return ReminderInfo(
        time=profile.reminder_time,
        timezone=timezone,
        own_timezone=profile.timezone is not None,
        next_at=next_at,
        stopped=profile.reminder_stopped,
    )


async def set_reminder(
    db: Database,
    clock: Clock,
    guild_id: int,
    user_id: int,
    at: str,
    timezone: str | None = None,
) -> ReminderInfo:
    """Remind the member daily at local time `at` (and set their timezone, if given)."""
    when = format_time(parse_local_time(at))
    values: dict[str, object] = {"reminder_time": when, "reminder_stopped": None}
    if timezone is not None:
        values["timezone"] = check_timezone(timezone)
    now = clock.now()
    async with db.session() as session:
        profile = await repo.update_profile(session, guild_id, user_id, now=now, **values)
        return await _reschedule(session, profile, now)


async def set_timezone(
    db: Database, clock: Clock, guild_id: int, user_id: int, timezone: str
) -> ReminderInfo:
    """The member's own timezone, for their days, streaks and reminder."""
    name = check_timezone(timezone)
    now = clock.now()
    async with db.session() as session:
        profile = await repo.update_profile(session, guild_id, user_id, now=now, timezone=name)
        return await _reschedule(session, profile, now)


async def turn_off(db: Database, clock: Clock, guild_id: int, user_id: int) -> bool:
    """Stop the reminder. Returns whether one was on."""
    now = clock.now()
    async with db.session() as session:
        profile = await repo.get_profile(session, guild_id, user_id, for_update=True)
        if profile is None or profile.reminder_time is None:
            return False
        profile.reminder_time = None
        profile.updated_at = now
        await _reschedule(session, profile, now)
    return True


async def show(db: Database, clock: Clock, guild_id: int, user_id: int) -> ReminderInfo:
    """The member's reminder, and when the next one really comes: not on a day they have
    already checked in (the reminder skips it)."""
    async with db.lookup() as session:
        profile = await repo.get_profile(session, guild_id, user_id)
        timezone = await timezone_of(session, guild_id, profile)
        if profile is None:
            return ReminderInfo(None, timezone, False, None, None)
        schedule = _schedule(profile, timezone)
        next_at, skipping = None, False
        if schedule is not None:
            day, next_at = next_occurrence(clock.now(), schedule.at, zone(timezone))
            done = await repo.days_with_checkins(session, guild_id, user_id, since=day)
            if day in done:
                skipping = True
                _, next_at = next_occurrence(next_at, schedule.at, zone(timezone))
    return ReminderInfo(
        profile.reminder_time,
        timezone,
        profile.timezone is not None,
        next_at,
        profile.reminder_stopped,
        skipping_today=skipping,
    )


class ReminderHandler(DailyHandler):
    async def load(self, session: AsyncSession, message: QueuedMessage) -> Schedule | None:
        guild_id = message.guild_id or 0
        profile = await repo.get_profile(session, guild_id, message.target_id, for_update=True)
        if profile is None:
            return None
        return _schedule(profile, await timezone_of(session, guild_id, profile))

    async def served(self, session: AsyncSession, schedule: Schedule, day: date) -> str | None:
        days = await repo.days_with_checkins(
            session, schedule.guild_id, schedule.target_id, since=day
        )
        return "the member already checked in today" if day in days else None

    async def render(self, schedule: Schedule, message: QueuedMessage) -> Delivery:
        return Delivery(
            target_type="user",
            target_id=schedule.target_id,
            # In the reader's language (`prepare`); the sender fills in {server} (its
            # SERVER_PLACEHOLDER) with the server's name.
            content=_(
                "Hi, it's your daily check-in reminder for **{server}**. How are "
                "you today? One tap saves it; only you will see it."
            ),
            view=MOODS_VIEW,
            view_args={"guild_id": schedule.guild_id},
            server_name_of=schedule.guild_id,
        )

    async def mark_served(self, session: AsyncSession, message: QueuedMessage, day: date) -> None:
        profile = await repo.get_profile(
            session, message.guild_id or 0, message.target_id, for_update=True
        )
        if profile is not None and (
            profile.reminder_last_day is None or profile.reminder_last_day < day
        ):
            profile.reminder_last_day = day

    async def on_undeliverable(
        self, message: QueuedMessage, problem: Undeliverable
    ) -> timedelta | None:
        if problem.code != PROBLEM_DMS_CLOSED:
            return None  # give up on today's; tomorrow's is already queued
        now = self.clock.now()
        async with self.db.session() as session:
            profile = await repo.get_profile(
                session, message.guild_id or 0, message.target_id, for_update=True
            )
            if profile is not None:
                # Stop for good (until the member sets it again) and say why in /reminder show.
                profile.reminder_time = None
                profile.reminder_stopped = STOPPED_DMS_CLOSED
                profile.reminder_version += 1
                profile.updated_at = now
        return None
