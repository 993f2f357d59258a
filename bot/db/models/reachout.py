"""Tables of participation and reach-out: when each member was last seen (never what they
said), per-day activity counts, each member's reach-out choices and state, and each server's
reach-out settings."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base
from bot.db.types import Snowflake, UTCDateTime


class ReachoutSettings(Base):
    __tablename__ = "reachout_settings"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    threshold_days: Mapped[int] = mapped_column(Integer, default=14)
    # Channel ids whose messages and reactions count; empty means every channel.
    channel_ids: Mapped[list[int]] = mapped_column(JSON, default=lambda: [])
    # The server's own wording of the DM; None means Kinfolk's default.
    message: Mapped[str | None] = mapped_column(Text)
    # For quiet members who have not opted in to DMs: "nothing", "buddy" or "digest".
    not_opted: Mapped[str] = mapped_column(String(10), default="nothing")
    # Tell an active buddy: "off", "before" (a few days before the DM) or "instead".
    buddy_nudge: Mapped[str] = mapped_column(String(10), default="off")
    # Where the weekly moderator digest goes; None means no digest.
    digest_channel_id: Mapped[int | None] = mapped_column(Snowflake)
    # Bumped when the settings change, so a queued sweep or digest of an older version stops.
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MemberActivity(Base):
    """One member in one server: when they were last seen, and their reach-out choices and
    state. Written on activity (last_seen_at only) and by the sweep."""

    __tablename__ = "member_activity"
    __table_args__ = (Index("ix_member_activity_guild_last_seen", "guild_id", "last_seen_at"),)

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when Discord says they left the server; cleared when they are seen again.
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # May Kinfolk DM them if they go quiet: None (not asked or no answer), "yes", "no".
    dm_consent: Mapped[str | None] = mapped_column(String(5))
    asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dms_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The DM channel Discord gave for them, so a DM costs one request, not two.
    dm_channel_id: Mapped[int | None] = mapped_column(Snowflake)
    # "HH:MM" local quiet hours; None means 22:00–08:00.
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The quiet spell (its last-seen time) the reach-outs so far belong to, how many went
    # out in it, and when the next may; see bot.domain.reachout.
    cycle: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stage: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_nudged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_answer: Mapped[str | None] = mapped_column(String(10))
    last_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ActivityDay(Base):
    """How active a member was on one UTC day: counts only, never content."""

    __tablename__ = "activity_days"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    reactions: Mapped[int] = mapped_column(Integer, default=0)
    checkins: Mapped[int] = mapped_column(Integer, default=0)
    commands: Mapped[int] = mapped_column(Integer, default=0)
