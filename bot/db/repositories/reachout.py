"""Participation (last seen, per-day counts) and reach-out state and settings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    ActivityDay,
    GuildSettings,
    MemberActivity,
    MemberProfile,
    ReachoutSettings,
)
from bot.db.typed import AnyRow, AnySelect, dialect_of, rowcount, table_of
from bot.db.upsert import update_guild_row, update_member_row

COUNT_KINDS = ("messages", "reactions", "checkins", "commands")


async def get_settings(session: AsyncSession, guild_id: int) -> ReachoutSettings | None:
    return await session.get(ReachoutSettings, guild_id)


@dataclass(frozen=True)
class DmMember:
    """What a reach-out DM looks at in the member's row."""

    user_id: int
    last_seen_at: datetime
    left_at: datetime | None
    dm_consent: str | None
    dms_closed_at: datetime | None
    dm_channel_id: int | None
    quiet_start: str | None
    quiet_end: str | None
    paused_until: datetime | None


_DM_MEMBER_COLUMNS = tuple(getattr(MemberActivity, name) for name in DmMember.__dataclass_fields__)


@dataclass(frozen=True)
class DmContext:
    """What a reach-out DM needs, read in one statement: whether reach-out is on in the
    server (None: never set up), its message, the member's row (None: erased) and the
    member's and the server's timezones."""

    enabled: bool | None
    message: str | None
    member: DmMember | None
    member_timezone: str | None
    server_timezone: str | None


@cache
def _dm_context() -> AnySelect:
    guild = bindparam("guild_id", type_=MemberActivity.guild_id.type)
    user = bindparam("user_id", type_=MemberActivity.user_id.type)
    # One row whatever exists: the settings and the member are joined to a constant.
    anchor = select(guild.label("guild_id")).subquery()
    return (
        select(
            ReachoutSettings.enabled,
            ReachoutSettings.message,
            MemberProfile.timezone,
            GuildSettings.timezone,
            *_DM_MEMBER_COLUMNS,
        )
        .select_from(anchor)
        .outerjoin(ReachoutSettings, ReachoutSettings.guild_id == anchor.c.guild_id)
        .outerjoin(GuildSettings, GuildSettings.guild_id == anchor.c.guild_id)
        .outerjoin(
            MemberActivity,
            and_(MemberActivity.guild_id == anchor.c.guild_id, MemberActivity.user_id == user),
        )
        .outerjoin(
            MemberProfile,
            and_(MemberProfile.guild_id == anchor.c.guild_id, MemberProfile.user_id == user),
        )
    )


async def dm_context(session: AsyncSession, guild_id: int, user_id: int) -> DmContext:
    row = (await session.execute(_dm_context(), {"guild_id": guild_id, "user_id": user_id})).one()
    enabled, message, member_zone, server_zone, *member = row
    return DmContext(
        enabled=None if enabled is None else bool(enabled),
        message=message,
        member=None if member[0] is None else DmMember(*member),
        member_timezone=member_zone,
        server_timezone=server_zone,
    )


@cache
def _reached() -> Any:
    table = table_of(MemberActivity)
    return (
        update(table)
        .where(
            table.c.guild_id == bindparam("g"),
            table.c.user_id == bindparam("u"),
        )
        .values(last_reached_at=bindparam("at"), dm_channel_id=bindparam("channel"))
    )


async def mark_reached(
    session: AsyncSession, guild_id: int, user_id: int, *, at: datetime, dm_channel_id: int
) -> None:
    """Record a reach-out DM sent to the member, and the DM channel it went to (the next one
    needs no request to open it). Nothing happens if their row was erased meanwhile."""
    await session.execute(
        _reached(), {"g": guild_id, "u": user_id, "at": at, "channel": dm_channel_id}
    )


async def update_settings(
    session: AsyncSession, guild_id: int, *, now: datetime, **values: Any
) -> ReachoutSettings:
    return await update_guild_row(session, ReachoutSettings, guild_id, now=now, **values)


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
    return postgresql if dialect_of(session) == "postgresql" else sqlite


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


def _quiet(guild_id: int, cutoff: datetime) -> AnySelect:
    return select(MemberActivity).where(
        MemberActivity.guild_id == guild_id,
        MemberActivity.last_seen_at < cutoff,
        MemberActivity.left_at.is_(None),
    )


# ----- the set-based sweep (bot.services.reachout.sweep) -----------------------------------

# What the sweep needs of a member, fetched as plain rows (no ORM objects).
_SWEEP_COLUMNS = (
    MemberActivity.guild_id,
    MemberActivity.user_id,
    MemberActivity.last_seen_at,
    MemberActivity.cycle,
    MemberActivity.stage,
    MemberActivity.next_at,
    MemberActivity.paused_until,
    MemberActivity.dm_consent,
    MemberActivity.dms_closed_at,
    MemberActivity.quiet_start,
    MemberActivity.quiet_end,
)


def _may_need_sweeping(now: datetime) -> Any:
    """Quiet members the sweep may have something to do for: a new quiet spell, or the next
    reach-out of the current one due. Members who said no, or paused, are left out."""
    return and_(
        MemberActivity.left_at.is_(None),
        or_(MemberActivity.dm_consent.is_(None), MemberActivity.dm_consent != "no"),
        or_(MemberActivity.paused_until.is_(None), MemberActivity.paused_until <= now),
        or_(
            MemberActivity.cycle.is_(None),
            MemberActivity.cycle != MemberActivity.last_seen_at,
            and_(MemberActivity.next_at.is_not(None), MemberActivity.next_at <= now),
        ),
    )


async def sweep_servers(
    session: AsyncSession, guild_ids: Sequence[int] | None = None
) -> dict[int, ReachoutSettings]:
    """The servers with reach-out on (of `guild_ids`, or all), by id."""
    statement = select(ReachoutSettings).where(ReachoutSettings.enabled.is_(True))
    if guild_ids is not None:
        statement = statement.where(ReachoutSettings.guild_id.in_(list(guild_ids)))
    return {s.guild_id: s for s in (await session.scalars(statement)).all()}


async def sweep_keys(
    session: AsyncSession, thresholds: dict[int, list[int]], *, now: datetime
) -> list[tuple[int, int]]:
    """(guild id, user id) of every member the sweep may have something to do for, across
    servers: one query per threshold in use (`thresholds`: days to the servers using it),
    each walking the (guild_id, last_seen_at) index over the quiet members only."""
    found: list[tuple[int, int]] = []
    for days, guilds in thresholds.items():
        cutoff = now - timedelta(days=days)
        for start in range(0, len(guilds), 500):
            rows = await session.execute(
                select(MemberActivity.guild_id, MemberActivity.user_id).where(
                    MemberActivity.guild_id.in_(guilds[start : start + 500]),
                    MemberActivity.last_seen_at < cutoff,
                    _may_need_sweeping(now),
                )
            )
            found += [(guild, user) for guild, user in rows.all()]
    return sorted(found)


async def sweep_rows(
    session: AsyncSession, keys: Sequence[tuple[int, int]], *, now: datetime
) -> list[AnyRow]:
    """The members `keys` names that still may need sweeping, read again (and locked on
    PostgreSQL) in the unit of work that updates them: they may have moved on since."""
    wanted = set(keys)
    statement = (
        select(*_SWEEP_COLUMNS)
        .where(*_among(MemberActivity, wanted), _may_need_sweeping(now))
        .order_by(MemberActivity.guild_id, MemberActivity.user_id)
        .with_for_update()
    )
    rows = (await session.execute(statement)).all()
    return [row for row in rows if (row.guild_id, row.user_id) in wanted]


def _among(model: Any, keys: set[tuple[int, int]]) -> tuple[Any, Any]:
    """Rows of these servers and these users: a superset of `keys` that walks the primary
    key (a row-value `IN` made SQLite 3.40 scan the whole table: ~180 ms a chunk at 1M
    members); the caller keeps the exact keys."""
    return (
        model.guild_id.in_(sorted({guild for guild, _ in keys})),
        model.user_id.in_(sorted({user for _, user in keys})),
    )


_STAGE = (
    update(table_of(MemberActivity))
    .where(
        table_of(MemberActivity).c.guild_id == bindparam("b_guild"),
        table_of(MemberActivity).c.user_id == bindparam("b_user"),
    )
    .values(
        cycle=bindparam("b_cycle"),
        stage=bindparam("b_stage"),
        next_at=bindparam("b_next"),
    )
)


async def record_stages(
    session: AsyncSession, stages: Sequence[tuple[int, int, datetime, int, datetime | None]]
) -> None:
    """(guild, user, cycle, stage, next_at) for each member swept, in one statement."""
    if stages:
        await session.execute(
            _STAGE,
            [
                {"b_guild": g, "b_user": u, "b_cycle": c, "b_stage": s, "b_next": n}
                for g, u, c, s, n in stages
            ],
        )


async def own_timezones_of(
    session: AsyncSession, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """Members' own timezones where they set one, for members of several servers."""
    wanted = set(keys)
    rows = await session.execute(
        select(MemberProfile.guild_id, MemberProfile.user_id, MemberProfile.timezone).where(
            *_among(MemberProfile, wanted), MemberProfile.timezone.is_not(None)
        )
    )
    return {(g, u): tz for g, u, tz in rows.all() if (g, u) in wanted and tz is not None}


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
    return rowcount(result)
