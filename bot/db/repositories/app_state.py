"""Key/value facts about this deployment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AppState
from bot.db.typed import rowcount
from bot.db.upsert import insert_ignoring_conflicts


async def get_value(session: AsyncSession, key: str) -> str | None:
    row = await session.get(AppState, key)
    return None if row is None else row.value


async def set_value(session: AsyncSession, key: str, value: str, *, now: datetime) -> None:
    created = await session.execute(
        insert_ignoring_conflicts(
            session, AppState, [AppState.key], key=key, value=value, updated_at=now
        )
    )
    if rowcount(created) == 0:
        await session.execute(
            update(AppState).where(AppState.key == key).values(value=value, updated_at=now)
        )
