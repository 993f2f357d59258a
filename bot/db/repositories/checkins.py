"""Member profiles, check-ins and per-server check-in settings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Checkin, CheckinSettings, MemberProfile
from bot.db.upsert import update_guild_row, update_member_row


async def get_profile(
    session: AsyncSession, guild_id: int, user_id: int, *, for_update: bool = False
) -> MemberProfile | None:
    return await session.get(
        MemberProfile,
        (guild_id, user_id),
        with_for_update=for_update,
        populate_existing=for_update,
    )


async def update_profile(
    session: AsyncSession, guild_id: int, user_id: int, *, now: datetime, **values: Any
) -> MemberProfile:
    """Set columns of a member's profile, creating it first if needed."""
    return await update_member_row(session, MemberProfile, guild_id, user_id, now=now, **values)


async def add(session: AsyncSession, checkin: Checkin) -> Checkin:
    session.add(checkin)
    await session.flush()
    return checkin


async def get(
    session: AsyncSession, checkin_id: int, *, for_update: bool = False
) -> Checkin | None:
    return await session.get(
        Checkin, checkin_id, with_for_update=for_update, populate_existing=for_update
    )


async def by_message(session: AsyncSession, message_id: int) -> Checkin | None:
    """The check-in tapped on this mood message, locked."""
    return await session.scalar(
        select(Checkin).where(Checkin.message_id == message_id).with_for_update()
    )


def _other_than(checkin_id: int | None) -> tuple[Any, ...]:
    """Leave check-in `checkin_id` out (the one being answered for), if any."""
    return () if checkin_id is None else (Checkin.id != checkin_id,)


async def days_with_checkins(
    session: AsyncSession,
    guild_id: int,
    user_id: int,
    *,
    since: date,
    excluding: int | None = None,
) -> set[date]:
    rows = await session.scalars(
        select(Checkin.local_day).where(
            Checkin.guild_id == guild_id,
            Checkin.user_id == user_id,
            Checkin.local_day >= since,
            *_other_than(excluding),
        )
    )
    return set(rows.all())


async def moods_since(
    session: AsyncSession,
    guild_id: int,
    user_id: int,
    *,
    since: date,
    excluding: int | None = None,
) -> list[tuple[date, int]]:
    """(local day, mood) of a member's check-ins from `since` on, oldest first."""
    rows = await session.execute(
        select(Checkin.local_day, Checkin.mood)
        .where(
            Checkin.guild_id == guild_id,
            Checkin.user_id == user_id,
            Checkin.local_day >= since,
            *_other_than(excluding),
        )
        .order_by(Checkin.created_at, Checkin.id)
    )
    return [(day, mood) for day, mood in rows.all()]


async def all_for_member(session: AsyncSession, guild_id: int, user_id: int) -> list[Checkin]:
    rows = await session.scalars(
        select(Checkin)
        .where(Checkin.guild_id == guild_id, Checkin.user_id == user_id)
        .order_by(Checkin.created_at, Checkin.id)
    )
    return list(rows.all())


async def delete_for_member(session: AsyncSession, guild_id: int, user_id: int) -> int:
    result = await session.execute(
        delete(Checkin).where(Checkin.guild_id == guild_id, Checkin.user_id == user_id)
    )
    return result.rowcount or 0


async def get_settings(session: AsyncSession, guild_id: int) -> CheckinSettings | None:
    return await session.get(CheckinSettings, guild_id)


async def update_settings(
    session: AsyncSession, guild_id: int, *, now: datetime, **values: Any
) -> CheckinSettings:
    return await update_guild_row(session, CheckinSettings, guild_id, now=now, **values)
