"""A server's reach-out settings (/setup reachout)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import ReachoutSettings
from bot.db.repositories import audit, guild_settings, outbox
from bot.db.repositories import reachout as repo
from bot.domain.checkins import InvalidInput, next_occurrence, occurrence
from bot.domain.reachout import (
    DEFAULT_THRESHOLD_DAYS,
    MAX_THRESHOLD_DAYS,
    MIN_THRESHOLD_DAYS,
    parse_channels,
)
from bot.domain.timezones import zone
from bot.i18n import _, ngettext
from bot.jobs.delivery import SERVER_PLACEHOLDER
from bot.services.reachout.texts import MESSAGE_MAX_CHARS

KIND_SWEEP = "reachout_sweep"
KIND_DIGEST = "reachout_digest"
SWEEP_EVERY = timedelta(hours=1)
NOT_OPTED = ("nothing", "buddy", "digest")
BUDDY_NUDGE = ("off", "before", "instead")
_UNSET = object()
DIGEST_WEEKDAY = 0  # Monday
DIGEST_AT = time(9, 0)


@dataclass(frozen=True)
class ReachoutConfig:
    guild_id: int
    enabled: bool
    threshold_days: int
    channel_ids: tuple[int, ...]
    message: str | None
    not_opted: str
    buddy_nudge: str
    digest_channel_id: int | None


def _config(guild_id: int, settings: ReachoutSettings | None) -> ReachoutConfig:
    if settings is None:
        return ReachoutConfig(
            guild_id, False, DEFAULT_THRESHOLD_DAYS, (), None, "nothing", "off", None
        )
    return ReachoutConfig(
        guild_id,
        settings.enabled,
        settings.threshold_days,
        tuple(settings.channel_ids or ()),
        settings.message,
        settings.not_opted,
        settings.buddy_nudge,
        settings.digest_channel_id,
    )


def check_channels(text: str, known: Collection[int] | None = None) -> list[int]:
    """Channel ids from what a moderator typed; each must be one of `known` (the server's
    channels) when given."""
    if text.strip().lower() in ("", "all", "every", "any"):
        return []
    try:
        ids = parse_channels(text)
    except ValueError as error:
        raise InvalidInput(
            _(
                "I couldn't read “{channel}” as a channel. Mention the channels, like "
                "#general #support, or write `all`. Nothing was changed."
            ).format(channel=str(error)[:40])
        ) from None
    strangers = [i for i in ids if known is not None and i not in known]
    if strangers:
        raise InvalidInput(
            _(
                "{channel} isn't a channel of this server. Mention channels from here, "
                "like #general #support, or write `all`. Nothing was changed."
            ).format(channel=f"<#{strangers[0]}>")
        )
    return ids


# A server name is at most 100 characters; escaping its markdown can double that.
SERVER_NAME_MAX_CHARS = 200


def check_message(text: str) -> str | None:
    text = text.strip()
    if not text or text.lower() == "default":
        return None
    if len(text) > MESSAGE_MAX_CHARS:
        raise InvalidInput(
            _(
                "The message is {length} characters; please keep it under "
                "{limit}. Nothing was changed."
            ).format(length=len(text), limit=MESSAGE_MAX_CHARS)
        )
    # Each {server} becomes the server's name when the DM is sent: count it at its longest.
    longest = len(text.replace(SERVER_PLACEHOLDER, "x" * SERVER_NAME_MAX_CHARS))
    if longest > MESSAGE_MAX_CHARS:
        raise InvalidInput(
            _(
                "With the server's name filled in for each {placeholder}, the message could "
                "reach {length} characters; please keep it under {limit} (use "
                "{placeholder} once or twice). Nothing was changed."
            ).format(placeholder=SERVER_PLACEHOLDER, length=longest, limit=MESSAGE_MAX_CHARS)
        )
    return text


async def configure(
    db: Database,
    clock: Clock,
    guild_id: int,
    *,
    actor_id: int,
    enabled: bool | None = None,
    threshold_days: int | None = None,
    channels: str | None = None,
    known_channels: Collection[int] | None = None,
    message: str | None = None,
    not_opted: str | None = None,
    buddy_nudge: str | None = None,
    digest_channel_id: int | object | None = _UNSET,
) -> ReachoutConfig:
    """Change the given settings (others stay). Bad input raises `InvalidInput` first."""
    values = _checked_changes(
        enabled=enabled,
        threshold_days=threshold_days,
        channels=channels,
        known_channels=known_channels,
        message=message,
        not_opted=not_opted,
        buddy_nudge=buddy_nudge,
    )
    if digest_channel_id is not _UNSET:
        values["digest_channel_id"] = digest_channel_id
    now = clock.now()
    async with db.session() as session:
        settings = await repo.update_settings(session, guild_id, now=now, **values)
        settings.version += 1
        await queue_jobs(session, settings, now=now)
        await audit.append(
            session,
            guild_id=guild_id,
            actor_id=actor_id,
            action="settings.reachout",
            now=now,
            detail=_audited(values),
        )
        return _config(guild_id, settings)


def _checked_changes(
    *,
    enabled: bool | None,
    threshold_days: int | None,
    channels: str | None,
    known_channels: Collection[int] | None,
    message: str | None,
    not_opted: str | None,
    buddy_nudge: str | None,
) -> dict[str, object]:
    """The columns to change, each checked (`InvalidInput` for the first bad one)."""
    values: dict[str, object] = {}
    if enabled is not None:
        values["enabled"] = enabled
    if threshold_days is not None:
        if not MIN_THRESHOLD_DAYS <= threshold_days <= MAX_THRESHOLD_DAYS:
            raise InvalidInput(
                ngettext(
                    "The threshold must be between {minimum} and {maximum} day. "
                    "Nothing was changed.",
                    "The threshold must be between {minimum} and {maximum} days. "
                    "Nothing was changed.",
                    MAX_THRESHOLD_DAYS,
                ).format(minimum=MIN_THRESHOLD_DAYS, maximum=MAX_THRESHOLD_DAYS)
            )
        values["threshold_days"] = threshold_days
    if channels is not None:
        values["channel_ids"] = check_channels(channels, known_channels)
    if message is not None:
        values["message"] = check_message(message)
    for column, choice, allowed in (
        ("not_opted", not_opted, NOT_OPTED),
        ("buddy_nudge", buddy_nudge, BUDDY_NUDGE),
    ):
        if choice is not None:
            if choice not in allowed:
                raise InvalidInput(_("Pick one of the offered choices. Nothing was changed."))
            values[column] = choice
    return values


def _audited(values: dict[str, object]) -> dict[str, object]:
    """What the audit log keeps of a change: the message's wording is not kept, only
    whether it is the default or the server's own."""
    detail = {k: v for k, v in values.items() if k != "message"}
    if "message" in values:
        detail["message"] = "default" if values["message"] is None else "custom"
    return detail


async def queue_jobs(session: AsyncSession, settings: ReachoutSettings, *, now: datetime) -> None:
    """Queue the server's next sweep now and, with a digest channel, the next digest."""
    if not settings.enabled:
        return
    await queue_sweep(session, settings.guild_id, settings.version, due=now, now=now)
    if settings.digest_channel_id is not None:
        await queue_digest(session, settings, after=now, now=now)


async def queue_sweep(
    session: AsyncSession, guild_id: int, version: int, *, due: datetime, now: datetime
) -> None:
    """Queue the server's sweep for the slot `due` (to the minute); once per slot."""
    slot = due.replace(second=0, microsecond=0)
    await outbox.enqueue(
        session,
        key=f"reachout:sweep:{guild_id}:{version}:{slot.isoformat()}",
        kind=KIND_SWEEP,
        target_type="channel",
        target_id=guild_id,
        payload={"version": version, "slot": slot.isoformat()},
        due_at=due,
        now=now,
        guild_id=guild_id,
    )


def next_slot(slot: datetime, now: datetime) -> datetime:
    """The slot after `slot` that is still ahead of `now`: derived from the row, not the
    clock, so a sweep row processed twice queues one successor, not two."""
    following = slot + SWEEP_EVERY
    if following <= now:
        following += SWEEP_EVERY * ((now - following) // SWEEP_EVERY + 1)
    return following


async def server_timezone(session: AsyncSession, guild_id: int) -> str:
    settings = await guild_settings.get(session, guild_id)
    return settings.timezone if settings is not None else "UTC"


async def queue_digest(
    session: AsyncSession, settings: ReachoutSettings, *, after: datetime, now: datetime
) -> datetime:
    """Queue the first weekly digest after `after`: Mondays at 09:00, server time."""
    tz = zone(await server_timezone(session, settings.guild_id))
    day, due = next_occurrence(after, DIGEST_AT, tz)
    while day.weekday() != DIGEST_WEEKDAY:
        day += timedelta(days=1)
        due = occurrence(day, DIGEST_AT, tz)
    await outbox.enqueue(
        session,
        key=f"reachout:digest:{settings.guild_id}:{settings.version}:{day.isoformat()}",
        kind=KIND_DIGEST,
        target_type="channel",
        target_id=settings.digest_channel_id or 0,
        payload={"version": settings.version, "day": day.isoformat()},
        due_at=due,
        now=now,
        guild_id=settings.guild_id,
    )
    return due


async def get_config(db: Database, guild_id: int) -> ReachoutConfig:
    async with db.session() as session:
        return _config(guild_id, await repo.get_settings(session, guild_id))
