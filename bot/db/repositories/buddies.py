"""Buddy settings, participants, blocks, rounds and groups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    BuddyBlock,
    BuddyGroup,
    BuddyGroupMember,
    BuddyMember,
    BuddyRound,
    BuddySettings,
    MemberProfile,
)
from bot.db.typed import rowcount, table_of
from bot.db.upsert import insert_ignoring_conflicts, update_guild_row, update_member_row

ACTIVE = "active"
LEFT = "left"


async def get_settings(session: AsyncSession, guild_id: int) -> BuddySettings | None:
    return await session.get(BuddySettings, guild_id)


async def update_settings(
    session: AsyncSession, guild_id: int, *, now: datetime, **values: Any
) -> BuddySettings:
    return await update_guild_row(session, BuddySettings, guild_id, now=now, **values)


async def get_member(
    session: AsyncSession, guild_id: int, user_id: int, *, for_update: bool = False
) -> BuddyMember | None:
    return await session.get(
        BuddyMember, (guild_id, user_id), with_for_update=for_update, populate_existing=for_update
    )


async def update_member(
    session: AsyncSession, guild_id: int, user_id: int, *, now: datetime, **values: Any
) -> BuddyMember:
    """Set columns of a participant's row, creating it first (as opted in) if needed."""
    return await update_member_row(
        session,
        BuddyMember,
        guild_id,
        user_id,
        now=now,
        create={"status": ACTIVE, "joined_at": now},
        **values,
    )


async def eligible(session: AsyncSession, guild_id: int, *, now: datetime) -> list[BuddyMember]:
    """Opted-in members who are not paused."""
    rows = await session.scalars(
        select(BuddyMember).where(
            BuddyMember.guild_id == guild_id,
            BuddyMember.status == ACTIVE,
            or_(BuddyMember.paused_until.is_(None), BuddyMember.paused_until <= now),
        )
    )
    return list(rows.all())


async def add_block(
    session: AsyncSession,
    guild_id: int,
    user_id: int,
    blocked_id: int,
    *,
    reason: str,
    now: datetime,
) -> bool:
    """Record a block; False if it existed already."""
    result = await session.execute(
        insert_ignoring_conflicts(
            session,
            BuddyBlock,
            [BuddyBlock.guild_id, BuddyBlock.user_id, BuddyBlock.blocked_id],
            guild_id=guild_id,
            user_id=user_id,
            blocked_id=blocked_id,
            reason=reason,
            created_at=now,
        )
    )
    return bool(rowcount(result))


async def blockers(
    session: AsyncSession, guild_id: int, these: Sequence[int], those: Sequence[int]
) -> set[int]:
    """Who among `these` blocked any of `those`, and who among `those` blocked any of
    `these` (each side may be a member's id and pseudonym): the blockers' ids."""
    rows = await session.scalars(
        select(BuddyBlock.user_id).where(
            BuddyBlock.guild_id == guild_id,
            or_(
                and_(BuddyBlock.user_id.in_(these), BuddyBlock.blocked_id.in_(those)),
                and_(BuddyBlock.user_id.in_(those), BuddyBlock.blocked_id.in_(these)),
            ),
        )
    )
    return set(rows.all())


async def blocked_pairs(session: AsyncSession, guild_id: int) -> set[frozenset[int]]:
    rows = await session.execute(
        select(BuddyBlock.user_id, BuddyBlock.blocked_id).where(BuddyBlock.guild_id == guild_id)
    )
    return {frozenset((a, b)) for a, b in rows.all()}


async def latest_round(session: AsyncSession, guild_id: int) -> BuddyRound | None:
    return await session.scalar(
        select(BuddyRound)
        .where(BuddyRound.guild_id == guild_id)
        .order_by(BuddyRound.number.desc())
        .limit(1)
    )


async def round_scheduled_for(session: AsyncSession, guild_id: int, day: Any) -> BuddyRound | None:
    return await session.scalar(
        select(BuddyRound).where(BuddyRound.guild_id == guild_id, BuddyRound.scheduled_for == day)
    )


async def pair_history(
    session: AsyncSession, guild_id: int, *, since_round: int
) -> dict[frozenset[int], int]:
    """The last round number in which each two members were in a group together."""
    mine = table_of(BuddyGroupMember).alias("mine")
    theirs = table_of(BuddyGroupMember).alias("theirs")
    rows = await session.execute(
        select(mine.c.user_id, theirs.c.user_id, func.max(BuddyRound.number))
        .select_from(mine)
        .join(theirs, (theirs.c.group_id == mine.c.group_id) & (theirs.c.user_id > mine.c.user_id))
        .join(BuddyGroup, BuddyGroup.id == mine.c.group_id)
        .join(BuddyRound, BuddyRound.id == BuddyGroup.round_id)
        .where(BuddyGroup.guild_id == guild_id, BuddyRound.number >= since_round)
        .group_by(mine.c.user_id, theirs.c.user_id)
    )
    return {frozenset((a, b)): number for a, b, number in rows.all()}


async def add_group(
    session: AsyncSession, guild_id: int, round_id: int, members: Sequence[int]
) -> BuddyGroup:
    group = BuddyGroup(guild_id=guild_id, round_id=round_id)
    session.add(group)
    await session.flush()
    session.add_all(BuddyGroupMember(group_id=group.id, user_id=m) for m in members)
    await session.flush()
    return group


async def get_group(
    session: AsyncSession, group_id: int, *, for_update: bool = False
) -> BuddyGroup | None:
    return await session.get(
        BuddyGroup, group_id, with_for_update=for_update, populate_existing=for_update
    )


async def group_members(session: AsyncSession, group_id: int) -> list[BuddyGroupMember]:
    rows = await session.scalars(
        select(BuddyGroupMember)
        .where(BuddyGroupMember.group_id == group_id)
        .order_by(BuddyGroupMember.user_id)
    )
    return list(rows.all())


async def current_group(session: AsyncSession, guild_id: int, user_id: int) -> BuddyGroup | None:
    """The member's group that has not ended and that they have not left."""
    return await session.scalar(
        select(BuddyGroup)
        .join(BuddyGroupMember, BuddyGroupMember.group_id == BuddyGroup.id)
        .where(
            BuddyGroup.guild_id == guild_id,
            BuddyGroup.ended_at.is_(None),
            BuddyGroupMember.user_id == user_id,
            BuddyGroupMember.left_at.is_(None),
        )
        .order_by(BuddyGroup.id.desc())
        .limit(1)
    )


async def busy_members(session: AsyncSession, guild_id: int) -> set[int]:
    """Members in a group that is still running."""
    rows = await session.scalars(
        select(BuddyGroupMember.user_id)
        .join(BuddyGroup, BuddyGroupMember.group_id == BuddyGroup.id)
        .where(
            BuddyGroup.guild_id == guild_id,
            BuddyGroup.ended_at.is_(None),
            BuddyGroupMember.left_at.is_(None),
        )
    )
    return set(rows.all())


async def end_running_groups(session: AsyncSession, guild_id: int, *, now: datetime) -> int:
    result = await session.execute(
        update(BuddyGroup)
        .where(BuddyGroup.guild_id == guild_id, BuddyGroup.ended_at.is_(None))
        .values(ended_at=now)
    )
    return rowcount(result)


async def rounds_taken_part(session: AsyncSession, guild_id: int, user_id: int) -> int:
    return (
        await session.scalar(
            select(func.count(func.distinct(BuddyGroup.round_id)))
            .join(BuddyGroupMember, BuddyGroupMember.group_id == BuddyGroup.id)
            .where(BuddyGroup.guild_id == guild_id, BuddyGroupMember.user_id == user_id)
        )
        or 0
    )


async def round_ends_at(session: AsyncSession, round_id: int) -> datetime | None:
    return await session.scalar(select(BuddyRound.ends_at).where(BuddyRound.id == round_id))


async def timezones(session: AsyncSession, guild_id: int) -> dict[int, str]:
    """Members' own timezones in this server (from their profile)."""
    rows = await session.execute(
        select(MemberProfile.user_id, MemberProfile.timezone).where(
            MemberProfile.guild_id == guild_id, MemberProfile.timezone.is_not(None)
        )
    )
    return {user: name for user, name in rows.all() if name is not None}


async def frequencies(session: AsyncSession, guild_id: int, users: Sequence[int]) -> dict[int, str]:
    rows = await session.execute(
        select(BuddyMember.user_id, BuddyMember.frequency).where(
            BuddyMember.guild_id == guild_id,
            BuddyMember.user_id.in_(list(users)),
            BuddyMember.frequency.is_not(None),
        )
    )
    return {user: frequency for user, frequency in rows.all() if frequency is not None}


async def round_number(session: AsyncSession, round_id: int) -> int | None:
    return await session.scalar(select(BuddyRound.number).where(BuddyRound.id == round_id))


async def running_partners(session: AsyncSession, guild_id: int) -> dict[int, list[int]]:
    """Each member in a running group, with the others still in it."""
    rows = await session.execute(
        select(BuddyGroupMember.group_id, BuddyGroupMember.user_id)
        .join(BuddyGroup, BuddyGroupMember.group_id == BuddyGroup.id)
        .where(
            BuddyGroup.guild_id == guild_id,
            BuddyGroup.ended_at.is_(None),
            BuddyGroupMember.left_at.is_(None),
        )
    )
    groups: dict[int, list[int]] = {}
    for group_id, user_id in rows.all():
        groups.setdefault(group_id, []).append(user_id)
    return {
        user: [other for other in members if other != user]
        for members in groups.values()
        for user in members
    }
