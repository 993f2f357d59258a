"""Tables of privacy: each server's retention choices, and members who left (erased after a
grace period unless they come back)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base
from bot.db.types import Snowflake, UTCDateTime


class PrivacySettings(Base):
    __tablename__ = "privacy_settings"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    # How long notes and "I need to talk" context are kept.
    retention_days: Mapped[int] = mapped_column(Integer, default=90)
    # How long after a member leaves their data is erased.
    leave_grace_days: Mapped[int] = mapped_column(Integer, default=30)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MemberDeparture(Base):
    """A member Discord said left the server (with MEMBERS_INTENT); removed if they rejoin."""

    __tablename__ = "member_departures"

    guild_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    left_at: Mapped[datetime] = mapped_column(UTCDateTime)
