"""Reading and changing a server's settings."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import audit, guild_settings
from bot.domain.timezones import is_valid_timezone

DEFAULT_TIMEZONE = "UTC"


@dataclass(frozen=True)
class GuildConfig:
    guild_id: int
    timezone: str
    customised: bool


class InvalidSetting(ValueError):
    """A moderator gave a value that cannot be used; the message is safe to show them."""


async def get_config(db: Database, guild_id: int) -> GuildConfig:
    async with db.session() as session:
        row = await guild_settings.get(session, guild_id)
    if row is None:
        return GuildConfig(guild_id=guild_id, timezone=DEFAULT_TIMEZONE, customised=False)
    return GuildConfig(guild_id=guild_id, timezone=row.timezone, customised=True)


async def set_timezone(
    db: Database, clock: Clock, guild_id: int, timezone: str, *, actor_id: int
) -> GuildConfig:
    name = timezone.strip()
    if not is_valid_timezone(name):
        raise InvalidSetting(
            f"“{name[:64]}” isn't a timezone I know. Pick one from the suggestions, "
            "like Europe/Berlin or America/New_York."
        )
    async with db.session() as session:
        await guild_settings.update(session, guild_id, now=clock.now(), timezone=name)
        await audit.append(
            session,
            guild_id=guild_id,
            actor_id=actor_id,
            action="settings.timezone",
            now=clock.now(),
            detail={"timezone": name},
        )
    return GuildConfig(guild_id=guild_id, timezone=name, customised=True)
