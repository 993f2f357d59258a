"""A server's circle settings (/setup circles)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import audit
from bot.db.repositories import circles as repo
from bot.domain.circles import Kind

_UNSET = object()


@dataclass(frozen=True)
class CircleConfig:
    channels: dict[str, int]
    allow_anonymous: bool
    milestone_channel_id: int | None


async def configure(
    db: Database,
    clock: Clock,
    guild_id: int,
    *,
    actor_id: int,
    channels: dict[Kind, int | None] | None = None,
    allow_anonymous: bool | None = None,
    milestone_channel_id: int | object | None = _UNSET,
) -> CircleConfig:
    now = clock.now()
    async with db.session() as session:
        settings = await repo.update_settings(session, guild_id, now=now)
        detail: dict[str, object] = {}
        if channels:
            merged = dict(settings.channels or {})
            for kind, channel_id in channels.items():
                if channel_id is None:
                    merged.pop(kind.value, None)
                else:
                    merged[kind.value] = channel_id
            settings.channels = merged
            detail["channels"] = merged
        if allow_anonymous is not None:
            settings.allow_anonymous = allow_anonymous
            detail["allow_anonymous"] = allow_anonymous
        if milestone_channel_id is not _UNSET:
            settings.milestone_channel_id = milestone_channel_id  # type: ignore[assignment]
            detail["milestone_channel_id"] = milestone_channel_id
        await audit.append(
            session,
            guild_id=guild_id,
            actor_id=actor_id,
            action="settings.circles",
            now=now,
            detail=detail,
        )
        return CircleConfig(
            dict(settings.channels or {}), settings.allow_anonymous, settings.milestone_channel_id
        )


async def get_config(db: Database, guild_id: int) -> CircleConfig:
    async with db.session() as session:
        settings = await repo.get_settings(session, guild_id)
    if settings is None:
        return CircleConfig({}, False, None)
    return CircleConfig(
        dict(settings.channels or {}), settings.allow_anonymous, settings.milestone_channel_id
    )
