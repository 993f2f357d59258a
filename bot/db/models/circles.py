"""Tables of support circles: each member's private map of who gives them which kind of
support, the support they offer, thinking-of-you notes, their choices (notes off, milestones)
and each server's circle settings. Names and notes a member types are encrypted."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.crypto import EncryptedText
from bot.db.models.base import Base
from bot.db.types import NEVER_REUSE_IDS, BigIntPK, Snowflake, UTCDateTime


class CirclePerson(Base):
    """Someone in a member's circle, for one kind of support: a server member, or a name the
    member typed (encrypted). Nobody else ever sees it; the listed member is never told."""

    __tablename__ = "circle_people"
    __table_args__ = (
        Index("ix_circle_people_owner", "guild_id", "user_id"),
        Index("ix_circle_people_guild_person", "guild_id", "person_user_id"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(Snowflake)
    user_id: Mapped[int] = mapped_column(Snowflake)  # whose circle
    kind: Mapped[str] = mapped_column(String(15))
    person_user_id: Mapped[int | None] = mapped_column(Snowflake)
    person_name: Mapped[str | None] = mapped_column(EncryptedText)
    professional: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SupportOffer(Base):
    """The kinds of support a member is glad to give, and topics for advice (encrypted)."""

    __tablename__ = "support_offers"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    kinds: Mapped[list[str]] = mapped_column(JSON, default=lambda: [])
    # A JSON list of topics, encrypted as one text.
    topics: Mapped[str | None] = mapped_column(EncryptedText)
    # Whether their buddy's intro may mention what they offer.
    share_with_buddy: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CircleMember(Base):
    """A member's own circle choices in one server."""

    __tablename__ = "circle_members"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    notes_off: Mapped[bool] = mapped_column(Boolean, default=False)
    milestones: Mapped[bool] = mapped_column(Boolean, default=False)
    # When they joined the server (from Discord, at opt-in), for the yearly milestone.
    joined_on: Mapped[date | None] = mapped_column(Date)
    # The streak milestone last celebrated, so each is celebrated once.
    streak_celebrated: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ThinkingNote(Base):
    """A "thinking of you" note: who sent it to whom, the optional text (encrypted), whether
    it was anonymous, what became of it."""

    __tablename__ = "thinking_notes"
    __table_args__ = (
        Index("ix_thinking_notes_sender", "guild_id", "sender_id", "created_at"),
        Index("ix_thinking_notes_recipient", "guild_id", "recipient_id", "created_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(Snowflake)
    sender_id: Mapped[int] = mapped_column(Snowflake)
    recipient_id: Mapped[int] = mapped_column(Snowflake)
    note: Mapped[str | None] = mapped_column(EncryptedText)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    # "queued", "sent", "undelivered" (DMs closed) or "reported".
    status: Mapped[str] = mapped_column(String(12), default="queued")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CircleSettings(Base):
    __tablename__ = "circle_settings"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    # Channel suggested for each kind of support: {"emotional": 123, ...}.
    channels: Mapped[dict[str, Any]] = mapped_column(JSON, default=lambda: {})
    allow_anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    milestone_channel_id: Mapped[int | None] = mapped_column(Snowflake)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
