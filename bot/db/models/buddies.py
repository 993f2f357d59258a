"""Tables of buddy pairing: settings, who takes part, confidential blocks, rounds and groups."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base
from bot.db.types import NEVER_REUSE_IDS, BigIntPK, Snowflake, UTCDateTime


class BuddySettings(Base):
    __tablename__ = "buddy_settings"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    channel_id: Mapped[int | None] = mapped_column(Snowflake)
    round_days: Mapped[int] = mapped_column(Integer, default=14)
    weekday: Mapped[int] = mapped_column(Integer, default=0)  # 0 = Monday
    start_time: Mapped[str] = mapped_column(String(5), default="10:00")
    required_role_id: Mapped[int | None] = mapped_column(Snowflake)
    # Bumped when the schedule changes: a queued round start of an older version is dropped.
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BuddyMember(Base):
    """A member who opted in (status "active") or out ("left": said so, or left the server)."""

    __tablename__ = "buddy_members"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(10))
    # How often they'd like to talk, in their words from a fixed list (shown in the intro).
    frequency: Mapped[str | None] = mapped_column(String(20))
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Asked for a new buddy (after "not a good fit", or a buddy who left): first in line.
    wants_rematch: Mapped[bool] = mapped_column(default=False)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BuddyBlock(Base):
    """ "Don't pair me with": confidential, absolute, in both directions. `reason` is "block"
    (the member asked) or "not_fit" (they said a pairing was not a good fit)."""

    __tablename__ = "buddy_blocks"
    __table_args__ = (Index("ix_buddy_blocks_guild_blocked", "guild_id", "blocked_id"),)

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    blocked_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BuddyRound(Base):
    __tablename__ = "buddy_rounds"
    __table_args__ = (
        UniqueConstraint("guild_id", "number", name="uq_buddy_rounds_number"),
        # A scheduled start happens once, however often its job is retried.
        UniqueConstraint("guild_id", "scheduled_for", name="uq_buddy_rounds_scheduled"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(Snowflake)
    number: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Snowflake)
    scheduled_for: Mapped[date | None] = mapped_column(Date)
    started_by: Mapped[int | None] = mapped_column(Snowflake)  # None: on schedule
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BuddyGroup(Base):
    """A pair or trio in a round, with its private thread."""

    __tablename__ = "buddy_groups"
    __table_args__ = (Index("ix_buddy_groups_guild_round", "guild_id", "round_id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(Snowflake)
    round_id: Mapped[int] = mapped_column(ForeignKey("buddy_rounds.id", ondelete="CASCADE"))
    thread_id: Mapped[int | None] = mapped_column(Snowflake)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BuddyGroupMember(Base):
    __tablename__ = "buddy_group_members"
    __table_args__ = (Index("ix_buddy_group_members_user", "user_id"),)

    group_id: Mapped[int] = mapped_column(
        ForeignKey("buddy_groups.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    user_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    # "Did you two connect?": "yes", "not_yet" or "not_fit"; None until answered.
    answer: Mapped[str | None] = mapped_column(String(10))
    # Left the group early (said "not a good fit", opted out, or left the server).
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
