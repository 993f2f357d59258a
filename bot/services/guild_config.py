"""Reading and changing a server's settings."""

from __future__ import annotations

from dataclasses import dataclass

from bot import i18n
from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import audit, guild_settings
from bot.domain.timezones import is_valid_timezone
from bot.i18n import _

DEFAULT_TIMEZONE = "UTC"


@dataclass(frozen=True)
class GuildConfig:
    guild_id: int
    timezone: str
    customised: bool
    # The language of channel posts a moderator chose (a bot.i18n catalog code), else None:
    # Discord's server language, last seen (`discord_locale`), else English.
    language: str | None = None
    discord_locale: str | None = None

    @property
    def post_language(self) -> str:
        """The catalog code Kinfolk's channel posts in this server are written in."""
        return i18n.language_for(self.language or self.discord_locale)


class InvalidSetting(ValueError):
    """A moderator gave a value that cannot be used; the message is safe to show them."""


async def get_config(db: Database, guild_id: int) -> GuildConfig:
    async with db.session() as session:
        row = await guild_settings.get(session, guild_id)
    if row is None:
        return GuildConfig(guild_id=guild_id, timezone=DEFAULT_TIMEZONE, customised=False)
    return GuildConfig(
        guild_id=guild_id,
        timezone=row.timezone,
        # A row is also made when Kinfolk first sees the server's Discord language.
        customised=row.timezone != DEFAULT_TIMEZONE or row.language is not None,
        language=row.language,
        discord_locale=row.discord_locale,
    )


async def set_timezone(
    db: Database, clock: Clock, guild_id: int, timezone: str, *, actor_id: int
) -> GuildConfig:
    name = timezone.strip()
    if not is_valid_timezone(name):
        raise InvalidSetting(
            _(
                "“{timezone}” isn't a timezone I know. Pick one from the suggestions, "
                "like Europe/Berlin or America/New_York."
            ).format(timezone=name[:64])
        )
    return await _change(db, clock, guild_id, actor_id, timezone=name)


async def set_language(
    db: Database, clock: Clock, guild_id: int, language: str | None, *, actor_id: int
) -> GuildConfig:
    """The language of Kinfolk's channel posts here (None: follow Discord's server language)."""
    if language is not None and language not in i18n.BY_CODE:
        raise InvalidSetting(_("I don't speak that language yet. Please pick one from the list."))
    return await _change(db, clock, guild_id, actor_id, language=language)


async def _change(
    db: Database, clock: Clock, guild_id: int, actor_id: int, **values: str | None
) -> GuildConfig:
    """Set these settings and audit the change ("settings.<name>"), in one unit of work."""
    async with db.session() as session:
        await guild_settings.update(session, guild_id, now=clock.now(), **values)
        for name, value in values.items():
            await audit.append(
                session,
                guild_id=guild_id,
                actor_id=actor_id,
                action=f"settings.{name}",
                now=clock.now(),
                detail={name: value},
            )
    return await get_config(db, guild_id)
