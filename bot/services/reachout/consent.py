"""A member's own reach-out choices: whether Kinfolk may DM them if they go quiet (asked
once), their quiet hours, and how things stand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import checkins as checkin_repo
from bot.db.repositories import reachout as repo
from bot.domain.checkins import InvalidInput, format_time, parse_local_time
from bot.domain.reachout import DEFAULT_QUIET_END, DEFAULT_QUIET_START
from bot.i18n import _
from bot.services.checkins.records import timezone_of

YES, NO = "yes", "no"


async def ask_once(db: Database, clock: Clock, guild_id: int, user_id: int) -> bool:
    """Whether to ask the member now: only where reach-out is on, and only the first time.
    Asking is recorded at once, so the question is never repeated."""
    now = clock.now()
    async with db.session() as session:
        settings = await repo.get_settings(session, guild_id)
        if settings is None or not settings.enabled:
            return False
        member = await repo.get_member(session, guild_id, user_id)
        if member is not None and (member.asked_at is not None or member.dm_consent is not None):
            return False
        member = await repo.update_member(session, guild_id, user_id, now=now)
        if member.asked_at is not None:
            return False  # asked meanwhile, by another process
        member.asked_at = now
        return True


async def set_consent(db: Database, clock: Clock, guild_id: int, user_id: int, yes: bool) -> None:
    """Yes: Kinfolk may DM them if they go quiet. No: never again, until they say yes."""
    now = clock.now()
    async with db.session() as session:
        values: dict[str, object] = {
            "dm_consent": YES if yes else NO,
            "consent_changed_at": now,
        }
        if yes:
            values["dms_closed_at"] = None
        member = await repo.update_member(session, guild_id, user_id, now=now, **values)
        if member.asked_at is None:
            member.asked_at = now


def check_quiet_hours(start: str, end: str) -> tuple[str, str]:
    try:
        window = format_time(parse_local_time(start)), format_time(parse_local_time(end))
    except InvalidInput:
        raise InvalidInput(
            _(
                "I couldn't read “{start}” to “{end}” as times. Use 24-hour times like "
                "22:00 and 08:00, or 10pm and 8am. Nothing was changed."
            ).format(start=start[:20], end=end[:20])
        ) from None
    if window[0] == window[1]:
        # Empty or the whole day? Either reading would surprise someone: ask instead.
        raise InvalidInput(
            _(
                "Quiet hours from {start} to {end} start and end at the same time, so I "
                "can't tell what you mean. Pick an end that differs from the start, e.g. 22:00 "
                "to 08:00. If you'd rather have no reach-out DMs at all, **/reachout off** "
                "stops them. Nothing was changed."
            ).format(start=window[0], end=window[1])
        )
    return window


async def set_quiet_hours(
    db: Database, clock: Clock, guild_id: int, user_id: int, start: str, end: str
) -> tuple[str, str]:
    quiet_start, quiet_end = check_quiet_hours(start, end)
    now = clock.now()
    async with db.session() as session:
        await repo.update_member(
            session, guild_id, user_id, now=now, quiet_start=quiet_start, quiet_end=quiet_end
        )
    return quiet_start, quiet_end


@dataclass(frozen=True)
class Status:
    enabled: bool
    consent: str | None
    dms_closed: bool
    quiet_start: str
    quiet_end: str
    timezone: str
    paused_until: datetime | None
    threshold_days: int


async def status(db: Database, guild_id: int, user_id: int) -> Status:
    async with db.session() as session:
        settings = await repo.get_settings(session, guild_id)
        member = await repo.get_member(session, guild_id, user_id)
        profile = await checkin_repo.get_profile(session, guild_id, user_id)
        timezone = await timezone_of(session, guild_id, profile)
    return Status(
        enabled=settings is not None and settings.enabled,
        consent=member.dm_consent if member else None,
        dms_closed=member is not None and member.dms_closed_at is not None,
        quiet_start=(member and member.quiet_start) or format_time(DEFAULT_QUIET_START),
        quiet_end=(member and member.quiet_end) or format_time(DEFAULT_QUIET_END),
        timezone=timezone,
        paused_until=member.paused_until if member else None,
        threshold_days=settings.threshold_days if settings else 14,
    )
