"""A server's check-in channel and its daily community prompt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import CheckinSettings
from bot.db.repositories import audit, guild_settings
from bot.db.repositories import checkins as repo
from bot.domain.checkins import format_time, parse_local_time
from bot.i18n import N_, _
from bot.jobs.delivery import Delivery, QueuedMessage, Undeliverable
from bot.services.checkins.daily import DailyHandler, Schedule, parse_time, queue_next

KIND_PROMPT = "checkin_prompt"
START_VIEW = "checkin_start"
# Rendered in `PromptHandler.render` (the outbox's `prepare`), in the server's language.
PROMPT_TEXT = N_(
    "🌤️ **Daily check-in.** How are you today? Tap below to check in privately: "
    "only you will see your answer, unless you choose to share how you feel."
)


@dataclass(frozen=True)
class CheckinConfig:
    guild_id: int
    channel_id: int | None
    prompt_time: str | None
    timezone: str
    next_prompt_at: datetime | None
    problem: str | None


async def _server_timezone(session: AsyncSession, guild_id: int) -> str:
    settings = await guild_settings.get(session, guild_id)
    return settings.timezone if settings is not None else "UTC"


def _schedule(settings: CheckinSettings, timezone: str) -> Schedule | None:
    at = parse_time(settings.prompt_time)
    if at is None or settings.channel_id is None:
        return None
    return Schedule(
        key_prefix=f"checkin:prompt:{settings.guild_id}",
        kind=KIND_PROMPT,
        guild_id=settings.guild_id,
        target_type="channel",
        target_id=settings.channel_id,
        at=at,
        timezone=timezone,
        version=settings.prompt_version,
        last_day=settings.prompt_last_day,
    )


async def configure(
    db: Database,
    clock: Clock,
    guild_id: int,
    *,
    channel_id: int,
    prompt_time: str | None,
    actor_id: int,
) -> CheckinConfig:
    """Set the check-in channel and the daily prompt's local time (None: no prompt)."""
    when = None if prompt_time is None else format_time(parse_local_time(prompt_time))
    now = clock.now()
    async with db.session() as session:
        settings = await repo.update_settings(
            session, guild_id, now=now, channel_id=channel_id, prompt_time=when, prompt_problem=None
        )
        settings.prompt_version += 1
        timezone = await _server_timezone(session, guild_id)
        schedule = _schedule(settings, timezone)
        next_at = (
            None if schedule is None else await queue_next(session, schedule, after=now, now=now)
        )
        await audit.append(
            session,
            guild_id=guild_id,
            actor_id=actor_id,
            action="settings.checkins",
            now=now,
            detail={"channel_id": channel_id, "prompt_time": when},
        )
    return CheckinConfig(guild_id, channel_id, when, timezone, next_at, None)


async def get_config(db: Database, guild_id: int) -> CheckinConfig:
    async with db.session() as session:
        settings = await repo.get_settings(session, guild_id)
        timezone = await _server_timezone(session, guild_id)
    if settings is None:
        return CheckinConfig(guild_id, None, None, timezone, None, None)
    return CheckinConfig(
        guild_id, settings.channel_id, settings.prompt_time, timezone, None, settings.prompt_problem
    )


class PromptHandler(DailyHandler):
    async def load(self, session: AsyncSession, message: QueuedMessage) -> Schedule | None:
        guild_id = message.guild_id or 0
        settings = await session.get(
            CheckinSettings, guild_id, with_for_update=True, populate_existing=True
        )
        if settings is None:
            return None
        return _schedule(settings, await _server_timezone(session, guild_id))

    async def render(self, schedule: Schedule, message: QueuedMessage) -> Delivery:
        return Delivery(
            target_type="channel",
            target_id=schedule.target_id,
            content=_(PROMPT_TEXT),
            view=START_VIEW,
            view_args={"guild_id": schedule.guild_id},
        )

    async def mark_served(self, session: AsyncSession, message: QueuedMessage, day: date) -> None:
        settings = await repo.update_settings(
            session, message.guild_id or 0, now=self.clock.now(), prompt_problem=None
        )
        if settings.prompt_last_day is None or settings.prompt_last_day < day:
            settings.prompt_last_day = day

    async def on_undeliverable(
        self, message: QueuedMessage, problem: Undeliverable
    ) -> timedelta | None:
        """Shown in /setup show; today's prompt is dropped, tomorrow's is already queued."""
        async with self.db.session() as session:
            await repo.update_settings(
                session,
                message.guild_id or 0,
                now=self.clock.now(),
                prompt_problem=f"the daily prompt could not be posted in <#{message.target_id}>: "
                f"{problem.reason}",
            )
        return None
