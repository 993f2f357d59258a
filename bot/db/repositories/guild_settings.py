"""Per-server settings rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import GuildSettings
from bot.db.upsert import insert_ignoring_conflicts


async def get(session: AsyncSession, guild_id: int) -> GuildSettings | None:
    return await session.get(GuildSettings, guild_id)


async def update(
    session: AsyncSession, guild_id: int, *, now: datetime, **values: Any
) -> GuildSettings:
    """Set columns of a server's row, creating the row with defaults first if needed."""
    unknown = [column for column in values if column not in GuildSettings.__table__.columns]
    if unknown:
        raise AttributeError(f"guild_settings has no column(s) {unknown}")
    await session.execute(
        insert_ignoring_conflicts(
            session,
            GuildSettings,
            [GuildSettings.guild_id],
            guild_id=guild_id,
            created_at=now,
            updated_at=now,
        )
    )
    row = await session.get(GuildSettings, guild_id, with_for_update=True, populate_existing=True)
    assert row is not None
    for column, value in values.items():
        setattr(row, column, value)
    row.updated_at = now
    await session.flush()
    return row
