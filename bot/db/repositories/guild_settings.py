"""Per-server settings rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import GuildSettings
from bot.db.upsert import update_guild_row


async def get(session: AsyncSession, guild_id: int) -> GuildSettings | None:
    return await session.get(GuildSettings, guild_id)


async def timezones(session: AsyncSession, guild_ids: Iterable[int]) -> dict[int, str]:
    """The timezone of each of these servers that has settings (the rest are on UTC)."""
    rows = await session.execute(
        select(GuildSettings.guild_id, GuildSettings.timezone).where(
            GuildSettings.guild_id.in_(list(set(guild_ids)))
        )
    )
    return {guild: tz for guild, tz in rows.all()}


async def update(
    session: AsyncSession, guild_id: int, *, now: datetime, **values: Any
) -> GuildSettings:
    """Set columns of a server's row, creating the row with defaults first if needed."""
    return await update_guild_row(session, GuildSettings, guild_id, now=now, **values)
