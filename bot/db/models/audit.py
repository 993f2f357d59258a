"""The append-only record of what moderators (and members, on their own requests) did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base
from bot.db.types import NEVER_REUSE_IDS, BigIntPK, Snowflake, UTCDateTime


class AuditEntry(Base):
    """Who did what to which subject, when. `detail` holds ids and settings, never free text
    a member wrote. Repositories only ever insert and read these rows."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_guild_created", "guild_id", "created_at"),
        Index("ix_audit_log_guild_actor", "guild_id", "actor_id"),
        Index("ix_audit_log_guild_other_member", "guild_id", "other_member_id"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(Snowflake)
    actor_id: Mapped[int] = mapped_column(Snowflake)
    action: Mapped[str] = mapped_column(String(50))
    subject_type: Mapped[str | None] = mapped_column(String(30))
    subject_id: Mapped[int | None] = mapped_column(Snowflake)
    # Another member the action concerns (e.g. the moderator a request was handed off from),
    # in a column of its own so that erasure finds it exactly; `detail` holds no member ids.
    other_member_id: Mapped[int | None] = mapped_column(Snowflake)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
