"""/audit recent: the latest moderator actions in a server, in plain words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.db.engine import Database
from bot.db.repositories import audit

LIMIT = 20


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor_id: int
    action: str
    subject: str | None


async def recent(db: Database, guild_id: int, limit: int = LIMIT) -> list[AuditLine]:
    async with db.session() as session:
        rows = await audit.recent(session, guild_id, limit=limit)
    return [
        AuditLine(
            row.created_at,
            row.actor_id,
            row.action,
            f"{row.subject_type} {row.subject_id}" if row.subject_type else None,
        )
        for row in rows
    ]
