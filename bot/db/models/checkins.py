"""Tables of check-ins: each member's profile (timezone, consent, reminder), their check-ins,
and each server's check-in channel and daily prompt."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.crypto import EncryptedText
from bot.db.models.base import Base
from bot.db.types import NEVER_REUSE_IDS, BigIntPK, Snowflake, UTCDateTime


class MemberProfile(Base):
    """What a member chose in one server: their timezone, their consent to keep check-ins,
    and their daily reminder. Other features add their own columns."""

    __tablename__ = "member_profiles"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    # An IANA name; None means "the server's timezone".
    timezone: Mapped[str | None] = mapped_column(String(64))
    checkin_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "HH:MM" local time of the daily reminder; None when reminders are off.
    reminder_time: Mapped[str | None] = mapped_column(String(5))
    # Bumped whenever the reminder changes: a queued reminder of an older version is dropped.
    reminder_version: Mapped[int] = mapped_column(Integer, default=0)
    # The member's local day of the last reminder sent: never two on one day.
    reminder_last_day: Mapped[date | None] = mapped_column(Date)
    # Why reminders stopped by themselves (e.g. "dms_closed"), to tell the member.
    reminder_stopped: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Checkin(Base):
    """One check-in. `local_day` is the member's calendar day when they checked in, fixed
    then, so a later change of timezone does not rewrite their streak."""

    __tablename__ = "checkins"
    __table_args__ = (
        Index("ix_checkins_member_day", "guild_id", "user_id", "local_day"),
        # One mood message, one check-in: a second tap (or a second process) finds this one.
        Index("ux_checkins_message", "message_id", unique=True),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(Snowflake)
    user_id: Mapped[int] = mapped_column(Snowflake)
    mood: Mapped[int] = mapped_column(SmallInteger)
    note: Mapped[str | None] = mapped_column(EncryptedText)
    local_day: Mapped[date] = mapped_column(Date)
    shared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The mood message it was tapped on (None for check-ins saved before 0013).
    message_id: Mapped[int | None] = mapped_column(Snowflake)


class CheckinSettings(Base):
    __tablename__ = "checkin_settings"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    channel_id: Mapped[int | None] = mapped_column(Snowflake)
    # "HH:MM" in the server's timezone; None when there is no daily prompt.
    prompt_time: Mapped[str | None] = mapped_column(String(5))
    prompt_version: Mapped[int] = mapped_column(Integer, default=0)
    prompt_last_day: Mapped[date | None] = mapped_column(Date)
    # What stops the prompt from being posted, shown in /setup show; None when fine.
    prompt_problem: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
