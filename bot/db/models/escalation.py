"""Tables of "I need to talk": per-server escalation settings, requests, who is on duty."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.crypto import EncryptedText
from bot.db.models.base import Base
from bot.db.types import NEVER_REUSE_IDS, BigIntPK, Snowflake, UTCDateTime


class EscalationSettings(Base):
    __tablename__ = "escalation_settings"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    alert_channel_id: Mapped[int | None] = mapped_column(Snowflake)
    support_channel_id: Mapped[int | None] = mapped_column(Snowflake)
    moderator_role_id: Mapped[int | None] = mapped_column(Snowflake)
    on_duty_role_id: Mapped[int | None] = mapped_column(Snowflake)
    second_tier_role_id: Mapped[int | None] = mapped_column(Snowflake)
    first_minutes: Mapped[int] = mapped_column(Integer, default=5)
    second_minutes: Mapped[int] = mapped_column(Integer, default=15)
    crisis_first_minutes: Mapped[int] = mapped_column(Integer, default=2)
    crisis_second_minutes: Mapped[int] = mapped_column(Integer, default=5)
    # Server-chosen crisis resource lines (not member data) and how they combine with ours.
    resources_text: Mapped[str | None] = mapped_column(Text)
    resources_mode: Mapped[str] = mapped_column(String(10), default="default")
    # The country whose crisis lines come first (ISO 3166 code, bot.domain.crisis_lines),
    # before those of the member's own Discord language; None: the member's language only.
    resources_region: Mapped[str | None] = mapped_column(String(2))
    # What stops alerts from reaching moderators right now, shown in /about; None when fine.
    alert_problem: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SupportRequest(Base):
    """One "I need to talk" request. At most one active (open or claimed) per member."""

    __tablename__ = "support_requests"
    __table_args__ = (
        Index(
            "uq_support_requests_one_active",
            "guild_id",
            "member_id",
            unique=True,
            sqlite_where=text("status IN ('open', 'claimed')"),
            postgresql_where=text("status IN ('open', 'claimed')"),
        ),
        Index("ix_support_requests_guild_status", "guild_id", "status"),
        Index("ix_support_requests_guild_member", "guild_id", "member_id"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(Snowflake)
    member_id: Mapped[int] = mapped_column(Snowflake)
    urgency: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(12))
    locale: Mapped[str | None] = mapped_column(String(10))
    context: Mapped[str | None] = mapped_column(EncryptedText)
    # Bumped by a hand-off: ladder steps of an older generation no longer fire.
    generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[int | None] = mapped_column(Snowflake)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(Snowflake)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    alert_channel_id: Mapped[int | None] = mapped_column(Snowflake)
    alert_message_id: Mapped[int | None] = mapped_column(Snowflake)
    thread_id: Mapped[int | None] = mapped_column(Snowflake)
    # The flood limit (bot.domain.escalation.plan_alert): when the team was last pinged at
    # once about this alert and at what urgency, and how many asks were folded into it.
    pinged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pinged_urgency: Mapped[str | None] = mapped_column(String(12))
    repeat: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ModeratorDuty(Base):
    """Moderators who said they are on duty (Kinfolk cannot list role members without the
    privileged members intent, so it keeps its own record)."""

    __tablename__ = "moderator_duty"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    moderator_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
