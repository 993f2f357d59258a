"""Participation (last seen, per-day counts) and reach-out state and settings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ActivityDay, MemberActivity, MemberProfile, ReachoutSettings
from bot.db.upsert import update_guild_row, update_member_row

COUNT_KINDS = ("messages", "reactions", "checkins", "commands")


async def get_settings(session: AsyncSession, guild_id: int) -> ReachoutSettings | None:
    return await session.get(ReachoutSettings, guild_id)


async def update_settings(
    session: AsyncSession, guild_id: int, *, now: datetime, **values: Any
) -> ReachoutSettings:
    return await update_guild_row(session, ReachoutSettings, guild_id, now=now, **values)


async def enabled_guilds(session: AsyncSession) -> list[int]:
    rows = await session.scalars(
        select(ReachoutSettings.guild_id).where(ReachoutSettings.enabled.is_(True))
    )
    return list(rows.all())


async def get_member(
    session: AsyncSession, guild_id: int, user_id: int, *, for_update: bool = False
) -> MemberActivity | None:
    return await session.get(
        MemberActivity,
        (guild_id, user_id),
        with_for_update=for_update,
        populate_existing=for_update,
    )


async def update_member(
    session: AsyncSession, guild_id: int, user_id: int, *, now: datetime, **values: Any
) -> MemberActivity:
    """Set columns of a member's row, creating it (seen now) first if needed."""
    return await update_member_row(
        session,
        MemberActivity,
        guild_id,
        user_id,
        now=now,
        create={"first_seen_at": now, "last_seen_at": now, "stage": 0},
        **values,
    )


@dataclass(frozen=True)
class Seen:
    guild_id: int
    user_id: int
    at: datetime


@dataclass(frozen=True)
class DayCounts:
    guild_id: int
    user_id: int
    day: date
    counts: dict[str, int]


def _dialect(session: AsyncSession) -> Any:
    return postgresql if session.bind.dialect.name == "postgresql" else sqlite


async def record_seen(session: AsyncSession, seen: Sequence[Seen]) -> None:
    """Move each member's last-seen time forward (never back), creating rows as needed; a
    member seen again is no longer marked as having left."""
    if not seen:
        return
    insert = _dialect(session).insert(MemberActivity)
    newer = insert.excluded.last_seen_at > MemberActivity.last_seen_at
    statement = insert.on_conflict_do_update(
        index_elements=[MemberActivity.guild_id, MemberActivity.user_id],
        set_={
            "last_seen_at": case(
                (newer, insert.excluded.last_seen_at), else_=MemberActivity.last_seen_at
            ),
            "left_at": None,
        },
    )
    await session.execute(
        statement,
        [
            {
                "guild_id": s.guild_id,
                "user_id": s.user_id,
                "first_seen_at": s.at,
                "last_seen_at": s.at,
                "stage": 0,
            }
            for s in seen
        ],
    )


async def add_day_counts(session: AsyncSession, days: Sequence[DayCounts]) -> None:
    if not days:
        return
    insert = _dialect(session).insert(ActivityDay)
    statement = insert.on_conflict_do_update(
        index_elements=[ActivityDay.guild_id, ActivityDay.user_id, ActivityDay.day],
        set_={
            kind: getattr(ActivityDay, kind) + getattr(insert.excluded, kind)
            for kind in COUNT_KINDS
        },
    )
    await session.execute(
        statement,
        [
            {
                "guild_id": d.guild_id,
                "user_id": d.user_id,
                "day": d.day,
                **{kind: d.counts.get(kind, 0) for kind in COUNT_KINDS},
            }
            for d in days
        ],
    )


async def mark_left(session: AsyncSession, guild_id: int, user_id: int, *, now: datetime) -> None:
    await session.execute(
        update(MemberActivity)
        .where(MemberActivity.guild_id == guild_id, MemberActivity.user_id == user_id)
        .values(left_at=now)
    )


def _quiet(guild_id: int, cutoff: datetime) -> Select[Any]:
    return select(MemberActivity).where(
        MemberActivity.guild_id == guild_id,
        MemberActivity.last_seen_at < cutoff,
        MemberActivity.left_at.is_(None),
    )


async def sweep_candidates(
    session: AsyncSession,
    guild_id: int,
    *,
    cutoff: datetime,
    now: datetime,
    after_user: int | None = None,
    limit: int | None = None,
) -> list[MemberActivity]:
    """Quiet members the sweep may have something to do for: a new quiet spell, or the next
    reach-out of the current one due. Members who said no are left out entirely. In user id
    order, `limit` at a time after `after_user`, so a big server is swept in chunks."""
    statement = _quiet(guild_id, cutoff).where(
        or_(MemberActivity.dm_consent.is_(None), MemberActivity.dm_consent != "no"),
        or_(MemberActivity.paused_until.is_(None), MemberActivity.paused_until <= now),
        or_(
            MemberActivity.cycle.is_(None),
            MemberActivity.cycle != MemberActivity.last_seen_at,
            and_(MemberActivity.next_at.is_not(None), MemberActivity.next_at <= now),
        ),
    )
    if after_user is not None:
        statement = statement.where(MemberActivity.user_id > after_user)
    statement = statement.order_by(MemberActivity.user_id).limit(limit)
    return list((await session.scalars(statement.with_for_update())).all())


async def last_seen(
    session: AsyncSession, guild_id: int, users: Iterable[int]
) -> dict[int, datetime]:
    wanted = list(set(users))
    found: dict[int, datetime] = {}
    for start in range(0, len(wanted), 500):
        rows = await session.execute(
            select(MemberActivity.user_id, MemberActivity.last_seen_at).where(
                MemberActivity.guild_id == guild_id,
                MemberActivity.user_id.in_(wanted[start : start + 500]),
            )
        )
        found.update({user: at for user, at in rows.all()})
    return found


async def own_timezones(
    session: AsyncSession, guild_id: int, users: Iterable[int]
) -> dict[int, str]:
    """Members' own timezones where they set one (the rest use the server's)."""
    wanted = list(set(users))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        rows = await session.execute(
            select(MemberProfile.user_id, MemberProfile.timezone).where(
                MemberProfile.guild_id == guild_id,
                MemberProfile.user_id.in_(wanted[start : start + 500]),
                MemberProfile.timezone.is_not(None),
            )
        )
        found.update({user: tz for user, tz in rows.all()})
    return found


@dataclass(frozen=True)
class DigestCounts:
    quiet: int
    reached: int
    nudged: int
    answered: int
    not_opted: list[int]


async def digest_counts(
    session: AsyncSession, guild_id: int, *, cutoff: datetime, since: datetime, list_limit: int
) -> DigestCounts:
    """Counts for the weekly digest; the ids of quiet members who never opted in to DMs."""
    row = (
        await session.execute(
            select(
                func.count().filter(
                    MemberActivity.last_seen_at < cutoff, MemberActivity.left_at.is_(None)
                ),
                func.count().filter(MemberActivity.last_reached_at >= since),
                func.count().filter(MemberActivity.last_nudged_at >= since),
                func.count().filter(MemberActivity.last_answer_at >= since),
            ).where(MemberActivity.guild_id == guild_id)
        )
    ).one()
    listed = await session.scalars(
        _quiet(guild_id, cutoff)
        .with_only_columns(MemberActivity.user_id)
        .where(MemberActivity.dm_consent.is_(None))
        .order_by(MemberActivity.last_seen_at)
        .limit(list_limit)
    )
    return DigestCounts(row[0], row[1], row[2], row[3], list(listed.all()))


async def purge_days(session: AsyncSession, guild_id: int, *, before: date) -> int:
    result = await session.execute(
        delete(ActivityDay).where(ActivityDay.guild_id == guild_id, ActivityDay.day < before)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def days_of(session: AsyncSession, guild_id: int, user_id: int) -> list[ActivityDay]:
    rows = await session.scalars(
        select(ActivityDay)
        .where(ActivityDay.guild_id == guild_id, ActivityDay.user_id == user_id)
        .order_by(ActivityDay.day)
    )
    return list(rows.all())
