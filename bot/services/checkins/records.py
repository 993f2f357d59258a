"""Recording check-ins (after consent), notes, sharing, history, and a member's own copy or
erasure of what they stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import Checkin, MemberProfile
from bot.db.repositories import checkins as repo
from bot.db.repositories import guild_settings
from bot.domain.checkins import (
    NOTE_MAX_CHARS,
    RECENT_DAYS,
    InvalidInput,
    Mood,
    StreakNews,
    Summary,
    daily_means,
    local_day,
    needs_care,
    streak_news,
    summarise,
)
from bot.domain.timezones import zone
from bot.i18n import ENGLISH, _
from bot.services import languages

# Streaks longer than this are still counted as this long: it bounds the query.
STREAK_LOOKBACK_DAYS = 3660


class ConsentNeeded(Exception):
    """The member has not agreed to Kinfolk keeping their check-ins in this server."""


@dataclass(frozen=True)
class Recorded:
    checkin_id: int
    mood: Mood
    news: StreakNews
    care: bool
    share_channel_id: int | None
    # A second tap on the same mood message: "same" mood (nothing changed) or "changed"
    # (the member changed their mind: the one check-in now has the new mood).
    again: str | None = None


@dataclass(frozen=True)
class History:
    timezone: str
    start: date
    today: date
    points: list[tuple[date, float]]
    summary: Summary


async def timezone_of(session: AsyncSession, guild_id: int, profile: MemberProfile | None) -> str:
    """The member's own timezone, else the server's, else UTC."""
    if profile is not None and profile.timezone:
        return profile.timezone
    settings = await guild_settings.get(session, guild_id)
    return settings.timezone if settings is not None else "UTC"


async def has_consented(db: Database, guild_id: int, user_id: int) -> bool:
    async with db.lookup() as session:
        return await repo.has_consented(session, guild_id, user_id)


async def give_consent(db: Database, clock: Clock, guild_id: int, user_id: int) -> None:
    async with db.session() as session:
        profile = await repo.update_profile(session, guild_id, user_id, now=clock.now())
        if profile.checkin_consent_at is None:
            profile.checkin_consent_at = clock.now()


async def record(
    db: Database,
    clock: Clock,
    guild_id: int,
    user_id: int,
    mood: Mood,
    *,
    message_id: int | None = None,
) -> Recorded:
    """Save a check-in; ConsentNeeded if the member has not agreed to it being kept.

    `message_id` is the mood message tapped: it records one check-in, however many taps
    reach it and however close together (a unique index, so across processes too). A later
    tap returns that check-in, with its mood changed if the member picked another."""
    now = clock.now()
    async with db.session() as session:
        # Three statements in all for a first tap (what to know, the insert, the history),
        # built once: this is the daily prompt's burst (issue 18).
        context = await repo.tap_context(session, guild_id, user_id)
        if not context.consented:
            raise ConsentNeeded
        server_zone = context.server_timezone if context.server_timezone is not None else "UTC"
        today = local_day(now, zone(context.member_timezone or server_zone))
        saved = await repo.add(
            session,
            guild_id=guild_id,
            user_id=user_id,
            mood=int(mood),
            local_day=today,
            created_at=now,
            message_id=message_id,
        )
        if saved is None:  # a tap on this message was saved first (here or elsewhere)
            assert message_id is not None  # (without a message nothing can conflict)
            existing = await repo.by_message(session, message_id)
            if existing is None:  # erased in between: nothing to answer for
                raise InvalidInput(_("That check-in isn't here any more, so nothing was changed."))
            return await _tapped_again(
                session, existing, guild_id, user_id, mood, context.share_channel_id
            )
        return await _recorded(
            session, saved, guild_id, user_id, today, mood, context.share_channel_id
        )


async def _recorded(
    session: AsyncSession,
    checkin_id: int,
    guild_id: int,
    user_id: int,
    today: date,
    mood: Mood,
    share_channel_id: int | None,
    *,
    again: str | None = None,
) -> Recorded:
    """What the member is shown for a check-in on `today`: its streak news counts the days
    before it, its care the moods before it."""
    history = await repo.history_since(
        session,
        guild_id,
        user_id,
        since=today - timedelta(days=STREAK_LOOKBACK_DAYS),
        excluding=checkin_id,
    )
    recent_since = today - timedelta(days=RECENT_DAYS)
    return Recorded(
        checkin_id=checkin_id,
        mood=mood,
        news=streak_news({day for day, _mood in history}, today),
        care=needs_care(mood, [m for day, m in history if day >= recent_since]),
        share_channel_id=share_channel_id,
        again=again,
    )


async def _tapped_again(
    session: AsyncSession,
    row: Checkin,
    guild_id: int,
    user_id: int,
    mood: Mood,
    share_channel_id: int | None,
) -> Recorded:
    if row.guild_id != guild_id or row.user_id != user_id:
        raise InvalidInput(_("That check-in isn't yours, so nothing was changed."))
    again = "same" if row.mood == int(mood) else "changed"
    row.mood = int(mood)
    return await _recorded(
        session, row.id, guild_id, user_id, row.local_day, mood, share_channel_id, again=again
    )


async def _own_checkin(session: AsyncSession, checkin_id: int, user_id: int) -> Checkin:
    row = await repo.get(session, checkin_id, for_update=True)
    if row is None or row.user_id != user_id:
        raise InvalidInput(_("I can't find that check-in of yours any more; nothing was changed."))
    return row


async def add_note(db: Database, checkin_id: int, user_id: int, text: str) -> None:
    """Attach (or replace) the private note of the member's check-in. Encrypted at rest."""
    note = text.strip()
    if not note:
        raise InvalidInput(_("Your note was empty, so I didn't save anything."))
    if len(note) > NOTE_MAX_CHARS:
        raise InvalidInput(
            _(
                "Your note is {length} characters; notes can be up to {limit}. "
                "Nothing was saved. Could you shorten it?"
            ).format(length=len(note), limit=NOTE_MAX_CHARS)
        )
    async with db.session() as session:
        row = await _own_checkin(session, checkin_id, user_id)
        row.note = note


@dataclass(frozen=True)
class Share:
    guild_id: int
    channel_id: int
    mood: Mood
    language: str = ENGLISH  # the server's: the post in its channel is written in it


async def start_share(db: Database, clock: Clock, checkin_id: int, user_id: int) -> Share:
    """Mark a check-in shared (once), returning where to post its mood — never its note."""
    async with db.session() as session:
        row = await _own_checkin(session, checkin_id, user_id)
        settings = await repo.get_settings(session, row.guild_id)
        if settings is None or settings.channel_id is None:
            raise InvalidInput(
                _("This server has no check-in channel set up, so there's nowhere to share.")
            )
        if row.shared_at is not None:
            raise InvalidInput(_("You've already shared this check-in."))
        row.shared_at = clock.now()
        language = await languages.of_server(session, row.guild_id)
        return Share(row.guild_id, settings.channel_id, Mood(row.mood), language)


async def undo_share(db: Database, checkin_id: int) -> None:
    """Posting failed: let the member try again."""
    async with db.session() as session:
        row = await repo.get(session, checkin_id, for_update=True)
        if row is not None:
            row.shared_at = None


async def history(db: Database, clock: Clock, guild_id: int, user_id: int, days: int) -> History:
    async with db.session() as session:
        profile = await repo.get_profile(session, guild_id, user_id)
        name = await timezone_of(session, guild_id, profile)
        today = local_day(clock.now(), zone(name))
        start = today - timedelta(days=days - 1)
        points = await repo.moods_since(session, guild_id, user_id, since=start)
        streak_days = await repo.days_with_checkins(
            session, guild_id, user_id, since=today - timedelta(days=STREAK_LOOKBACK_DAYS)
        )
    moods = [mood for _day, mood in points]
    return History(
        timezone=name,
        start=start,
        today=today,
        points=daily_means(points),
        summary=summarise(moods, streak_days, today),
    )


async def export(db: Database, guild_id: int, user_id: int) -> dict[str, Any]:
    """Everything check-ins keep about the member in this server, notes decrypted."""
    async with db.session() as session:
        profile = await repo.get_profile(session, guild_id, user_id)
        rows = await repo.all_for_member(session, guild_id, user_id)
    return {
        "profile": None
        if profile is None
        else {
            "timezone": profile.timezone,
            "checkin_consent_at": _iso(profile.checkin_consent_at),
            "reminder_time": profile.reminder_time,
            "reminder_stopped": profile.reminder_stopped,
        },
        "checkins": [
            {
                "at": _iso(row.created_at),
                "local_day": row.local_day.isoformat(),
                "mood": row.mood,
                "mood_label": Mood(row.mood).label,
                "note": row.note,
                "shared": row.shared_at is not None,
            }
            for row in rows
        ],
    }


async def forget(db: Database, clock: Clock, guild_id: int, user_id: int) -> int:
    """Erase the member's check-ins and notes, withdraw consent and stop reminders.
    Returns how many check-ins were erased."""
    async with db.session() as session:
        erased = await repo.delete_for_member(session, guild_id, user_id)
        profile = await repo.get_profile(session, guild_id, user_id, for_update=True)
        if profile is not None:
            profile.checkin_consent_at = None
            profile.reminder_time = None
            profile.reminder_version += 1
            profile.updated_at = clock.now()
    return erased


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()
