"""Tables every feature shares: server settings, the outbox, deployment state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.crypto import EncryptedText
from bot.db.models.base import Base
from bot.db.types import NEVER_REUSE_IDS, BigIntPK, Snowflake, UTCDateTime


class GuildSettings(Base):
    """One row per server that has changed a setting. Features add their own columns."""

    __tablename__ = "guild_settings"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The language of the server's channel posts, chosen with /setup language (a catalog
    # code of bot.i18n); None: Discord's server language (`discord_locale`), last seen.
    language: Mapped[str | None] = mapped_column(String(10))
    discord_locale: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MemberLanguage(Base):
    """The Discord language a member last used in this server: their DMs and outbox
    messages are written in it. Personal data: exported and erased with the member's."""

    __tablename__ = "member_languages"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    locale: Mapped[str] = mapped_column(String(10))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """A message the bot will send on its own initiative (see docs/architecture.md).

    Written in the same transaction as the change that caused it; claimed by a dispatcher
    with a lease, so a crash between claim and send only delays the message.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_status_priority_due_at", "status", "priority", "due_at"),
        # Erasure finds a member's rows exactly, by these two.
        Index("ix_outbox_messages_guild_member", "guild_id", "member_id"),
        Index("ix_outbox_messages_guild_target", "guild_id", "target_id"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    guild_id: Mapped[int | None] = mapped_column(Snowflake)
    kind: Mapped[str] = mapped_column(String(50))
    # "channel" (a channel or thread id), "user" (a DM) or "guild_owner" (a DM to the owner
    # of the server `target_id`).
    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[int] = mapped_column(Snowflake)
    # The member the message is about, when it is not its target (a post naming them, a
    # note to their buddy about them, an alert of their request), so that erasing them
    # finds it exactly. A DM's target is its member already.
    member_id: Mapped[int | None] = mapped_column(Snowflake)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    # Claimed lowest first: a member waiting for a person (0) before everyday messages (1)
    # before bulk nudges and jobs (2), so a backlog of reminders never delays an alert.
    priority: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeploymentSecret(Base):
    """Secrets the deployment keeps in its database, encrypted with ENCRYPTION_KEY (so a copy
    of the database reveals nothing) and re-encrypted by `kinfolk rotate-key` (so they stay
    the same across rotations): e.g. the one pseudonyms are made with."""

    __tablename__ = "deployment_secrets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AppState(Base):
    """Small key/value facts about the deployment (e.g. the hash of the last command sync)."""

    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
