"""The audit log: rows are only ever appended (reading them comes with `/audit`)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEntry
from bot.db.typed import table_of


async def append(
    session: AsyncSession,
    *,
    guild_id: int,
    actor_id: int,
    action: str,
    now: datetime,
    subject_type: str | None = None,
    subject_id: int | None = None,
    other_member_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """`other_member_id`: another member the action concerns; `detail` never holds member
    ids (erasure finds them in the columns)."""
    await session.execute(
        _append(),
        {
            "guild_id": guild_id,
            "actor_id": actor_id,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "other_member_id": other_member_id,
            "detail": detail or {},
            "created_at": now,
        },
    )


@functools.cache
def _append() -> Any:
    """Built once, on the table: an entry is written with its unit of work's other
    statements, not left for the ORM's flush (the hot path of /talk, issue 18)."""
    table = table_of(AuditEntry)
    names = (
        "guild_id",
        "actor_id",
        "action",
        "subject_type",
        "subject_id",
        "other_member_id",
        "detail",
        "created_at",
    )
    return insert(table).values({name: bindparam(name) for name in names})


async def recent(session: AsyncSession, guild_id: int, *, limit: int) -> list[AuditEntry]:
    rows = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.guild_id == guild_id)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    return list(rows.all())
