"""Escalation settings, support requests and the duty roster."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import EscalationSettings, ModeratorDuty, SupportRequest
from bot.db.upsert import insert_ignoring_conflicts, update_guild_row
from bot.domain.escalation import ACTIVE_STATUSES


async def get_settings(session: AsyncSession, guild_id: int) -> EscalationSettings | None:
    return await session.get(EscalationSettings, guild_id)


async def update_settings(
    session: AsyncSession, guild_id: int, *, now: datetime, **values: Any
) -> EscalationSettings:
    return await update_guild_row(session, EscalationSettings, guild_id, now=now, **values)


async def get_request(
    session: AsyncSession, request_id: int, *, for_update: bool = False
) -> SupportRequest | None:
    return await session.get(
        SupportRequest, request_id, with_for_update=for_update, populate_existing=for_update
    )


async def active_request(
    session: AsyncSession, guild_id: int, member_id: int, *, for_update: bool = False
) -> SupportRequest | None:
    query = select(SupportRequest).where(
        SupportRequest.guild_id == guild_id,
        SupportRequest.member_id == member_id,
        SupportRequest.status.in_(ACTIVE_STATUSES),
    )
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def latest_request(
    session: AsyncSession, guild_id: int, member_id: int, *, for_update: bool = False
) -> SupportRequest | None:
    """The member's newest request in this server, whatever its state."""
    query = (
        select(SupportRequest)
        .where(SupportRequest.guild_id == guild_id, SupportRequest.member_id == member_id)
        .order_by(SupportRequest.id.desc())
        .limit(1)
    )
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def member_requests(
    session: AsyncSession, guild_id: int, member_id: int
) -> Sequence[SupportRequest]:
    """All of the member's requests in this server, locked (erasure)."""
    rows = await session.scalars(
        select(SupportRequest)
        .where(SupportRequest.guild_id == guild_id, SupportRequest.member_id == member_id)
        .order_by(SupportRequest.id)
        .with_for_update()
    )
    return rows.all()


async def add_request(session: AsyncSession, request: SupportRequest) -> SupportRequest:
    session.add(request)
    await session.flush()
    return request


async def active_requests(session: AsyncSession, guild_id: int) -> Sequence[SupportRequest]:
    rows = await session.scalars(
        select(SupportRequest).where(
            SupportRequest.guild_id == guild_id, SupportRequest.status.in_(ACTIVE_STATUSES)
        )
    )
    return rows.all()


async def set_on_duty(
    session: AsyncSession, guild_id: int, moderator_id: int, *, now: datetime
) -> bool:
    """Record a moderator as on duty; False if they already were."""
    result = await session.execute(
        insert_ignoring_conflicts(
            session,
            ModeratorDuty,
            [ModeratorDuty.guild_id, ModeratorDuty.moderator_id],
            guild_id=guild_id,
            moderator_id=moderator_id,
            since=now,
        )
    )
    return result.rowcount == 1


async def set_off_duty(session: AsyncSession, guild_id: int, moderator_id: int) -> bool:
    result = await session.execute(
        delete(ModeratorDuty).where(
            ModeratorDuty.guild_id == guild_id, ModeratorDuty.moderator_id == moderator_id
        )
    )
    return result.rowcount == 1


async def on_duty_count(session: AsyncSession, guild_id: int) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(ModeratorDuty)
            .where(ModeratorDuty.guild_id == guild_id)
        )
        or 0
    )
