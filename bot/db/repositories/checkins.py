"""Member profiles, check-ins and per-server check-in settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Checkin, CheckinSettings, GuildSettings, MemberProfile
from bot.db.typed import AnySelect, dialect_of, rowcount, table_of
from bot.db.upsert import insert_skipping_conflicts, update_guild_row, update_member_row


async def get_profile(
    session: AsyncSession, guild_id: int, user_id: int, *, for_update: bool = False
) -> MemberProfile | None:
    return await session.get(
        MemberProfile,
        (guild_id, user_id),
        with_for_update=for_update,
        populate_existing=for_update,
    )


@cache
def _consent() -> AnySelect:
    return select(MemberProfile.checkin_consent_at).where(
        MemberProfile.guild_id == bindparam("g"), MemberProfile.user_id == bindparam("u")
    )


async def has_consented(session: AsyncSession, guild_id: int, user_id: int) -> bool:
    """Whether the member agreed to their check-ins being kept here (one column, by key)."""
    return await session.scalar(_consent(), {"g": guild_id, "u": user_id}) is not None


async def update_profile(
    session: AsyncSession, guild_id: int, user_id: int, *, now: datetime, **values: Any
) -> MemberProfile:
    """Set columns of a member's profile, creating it first if needed."""
    return await update_member_row(session, MemberProfile, guild_id, user_id, now=now, **values)


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
    return rowcount(result)


async def get_settings(session: AsyncSession, guild_id: int) -> CheckinSettings | None:
    return await session.get(CheckinSettings, guild_id)


async def update_settings(
    session: AsyncSession, guild_id: int, *, now: datetime, **values: Any
) -> CheckinSettings:
    return await update_guild_row(session, CheckinSettings, guild_id, now=now, **values)


# ----- the mood tap's hot path: few statements, built once -----------------------------------


@dataclass(frozen=True)
class TapContext:
    """What saving a mood tap needs to know, read in one statement."""

    consented: bool
    member_timezone: str | None
    server_timezone: str | None
    share_channel_id: int | None


@cache
def _tap_context() -> AnySelect:
    guild = bindparam("guild_id", type_=MemberProfile.guild_id.type)
    user = bindparam("user_id", type_=MemberProfile.user_id.type)
    member = (MemberProfile.guild_id == guild, MemberProfile.user_id == user)
    return select(
        select(MemberProfile.checkin_consent_at).where(*member).scalar_subquery(),
        select(MemberProfile.timezone).where(*member).scalar_subquery(),
        select(GuildSettings.timezone).where(GuildSettings.guild_id == guild).scalar_subquery(),
        select(CheckinSettings.channel_id)
        .where(CheckinSettings.guild_id == guild)
        .scalar_subquery(),
    )


async def tap_context(session: AsyncSession, guild_id: int, user_id: int) -> TapContext:
    consent, member_zone, server_zone, channel = (
        await session.execute(_tap_context(), {"guild_id": guild_id, "user_id": user_id})
    ).one()
    return TapContext(consent is not None, member_zone, server_zone, channel)


async def add(
    session: AsyncSession,
    *,
    guild_id: int,
    user_id: int,
    mood: int,
    local_day: date,
    created_at: datetime,
    message_id: int | None,
) -> int | None:
    """Save a check-in, for a mood message's first tap; None when that message already has
    one (another tap, or another process, got there first). One statement, no savepoint.
    Without a message (`None`) it always saves: NULLs never conflict."""
    values = {
        "guild_id": guild_id,
        "user_id": user_id,
        "mood": mood,
        "local_day": local_day,
        "created_at": created_at,
        "message_id": message_id,
    }
    return await session.scalar(_add(dialect_of(session)), values)


@cache
def _add(dialect: str) -> Any:
    """Built once per dialect, on the table (an insert of the ORM class goes through the ORM's
    bulk path and was built anew on every tap: a third of a mood tap's CPU, issue 18)."""
    table = table_of(Checkin)
    columns = ("guild_id", "user_id", "mood", "local_day", "created_at", "message_id")
    return insert_skipping_conflicts(
        dialect, table, [table.c.message_id], columns=columns
    ).returning(table.c.id)


@cache
def _history() -> AnySelect:
    return (
        select(Checkin.local_day, Checkin.mood)
        .where(
            Checkin.guild_id == bindparam("guild_id"),
            Checkin.user_id == bindparam("user_id"),
            Checkin.local_day >= bindparam("since"),
            Checkin.id != bindparam("excluding"),
        )
        .order_by(Checkin.created_at, Checkin.id)
    )


async def history_since(
    session: AsyncSession, guild_id: int, user_id: int, *, since: date, excluding: int
) -> list[tuple[date, int]]:
    """(local day, mood) of a member's check-ins from `since` on, oldest first, leaving out
    check-in `excluding`: the streak and the recent moods in one read."""
    rows = await session.execute(
        _history(),
        {"guild_id": guild_id, "user_id": user_id, "since": since, "excluding": excluding},
    )
    return [(day, mood) for day, mood in rows.all()]
