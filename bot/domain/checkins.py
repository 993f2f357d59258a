"""The rules of check-ins: moods, local days, streaks, when care is offered, and when a daily
reminder falls due. Standard library only; times are UTC-aware `datetime`s."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

from bot.i18n import N_, _, ngettext, number

NOTE_MAX_CHARS = 1000
# Care is offered for a mood two or more levels below the recent average…
CARE_DROP = 2.0
# …where "recent" means check-ins from this many days before, if there are enough of them.
RECENT_DAYS = 14
RECENT_MIN_CHECKINS = 2
HISTORY_SPANS = (30, 90)


class Mood(IntEnum):
    """Five levels, lowest first. Labels are words, not only emoji."""

    STRUGGLING = 1
    LOW = 2
    OKAY = 3
    GOOD = 4
    GREAT = 5

    @property
    def label(self) -> str:
        """The English word, marked for translation: shown as `_(mood.label)`."""
        return _LABELS[self]

    @property
    def emoji(self) -> str:
        return _EMOJI[self]


_LABELS = {
    Mood.STRUGGLING: N_("Really struggling"),
    Mood.LOW: N_("Low"),
    Mood.OKAY: N_("Okay"),
    Mood.GOOD: N_("Good"),
    Mood.GREAT: N_("Great"),
}
_EMOJI = {
    Mood.STRUGGLING: "😣",
    Mood.LOW: "😔",
    Mood.OKAY: "😐",
    Mood.GOOD: "🙂",
    Mood.GREAT: "😄",
}


class InvalidInput(ValueError):
    """Input a member typed that cannot be used; the message is kind and safe to show."""


def local_day(at: datetime, tz: ZoneInfo) -> date:
    """The calendar day in `tz` at the instant `at`: 23:30 local counts for that local day."""
    return at.astimezone(tz).date()


def streak(days: Iterable[date], today: date) -> int:
    """Consecutive local days with a check-in, ending today — or yesterday, since a streak
    is still alive until today is over."""
    have = set(days)
    cursor = today if today in have else today - timedelta(days=1)
    count = 0
    while cursor in have:
        count += 1
        cursor -= timedelta(days=1)
    return count


@dataclass(frozen=True)
class StreakNews:
    days: int
    first_ever: bool
    again_today: bool
    came_back: bool  # after a gap; said without guilt


def streak_news(earlier_days: Iterable[date], today: date) -> StreakNews:
    """What a check-in today means for the streak, given the days checked in before it."""
    before = set(earlier_days)
    return StreakNews(
        days=streak(before | {today}, today),
        first_ever=not before,
        again_today=today in before,
        came_back=bool(before)
        and today not in before
        and (today - timedelta(days=1)) not in before,
    )


def streak_text(news: StreakNews, *, care: bool = False) -> str:
    """A word on the streak. With `care` (a hard day: help is offered just below), no
    cheering: a member who says today is hard is thanked, not congratulated."""
    if news.again_today:
        return ngettext(
            "You'd already checked in today; I've kept this one too. Streak: {count} day.",
            "You'd already checked in today; I've kept this one too. Streak: {count} days.",
            news.days,
        ).format(count=number(news.days))
    if care:
        return _("Thank you for telling me how you are.")
    if news.first_ever:
        return _("Your first check-in. Thank you for starting.")
    if news.came_back:
        return _("Welcome back. Every check-in counts, whenever it comes.")
    return ngettext(
        "That's {count} day in a row. Showing up for yourself matters.",
        "That's {count} days in a row. Showing up for yourself matters.",
        news.days,
    ).format(count=number(news.days))


def needs_care(mood: Mood, recent: Sequence[int]) -> bool:
    """The lowest mood, or a drop of CARE_DROP levels below the recent average."""
    if mood is Mood.STRUGGLING:
        return True
    if len(recent) < RECENT_MIN_CHECKINS:
        return False
    return sum(recent) / len(recent) - mood >= CARE_DROP


@dataclass(frozen=True)
class Summary:
    count: int
    average: float | None
    streak: int


def summarise(moods: Sequence[int], days: Iterable[date], today: date) -> Summary:
    average = round(sum(moods) / len(moods), 1) if moods else None
    return Summary(count=len(moods), average=average, streak=streak(days, today))


def daily_means(points: Iterable[tuple[date, int]]) -> list[tuple[date, float]]:
    """One point per local day (the mean of that day's moods), oldest first."""
    by_day: dict[date, list[int]] = {}
    for day, mood in points:
        by_day.setdefault(day, []).append(mood)
    return [(day, sum(m) / len(m)) for day, m in sorted(by_day.items())]


_TIME_24H = re.compile(r"(?P<h>[0-9]{1,2})(?::(?P<m>[0-9]{2}))?")
_TIME_12H = re.compile(r"(?P<h>[0-9]{1,2})(?::(?P<m>[0-9]{2}))?\s*(?P<half>am|pm)")


def parse_local_time(text: str) -> time:
    """ "21:30", "9:05", "9pm", "9:30 am" → a time of day; anything else → InvalidInput."""
    raw = text.strip().lower().replace(".", "")
    match = _TIME_12H.fullmatch(raw)
    if match:
        hour, minute = int(match["h"]), int(match["m"] or 0)
        if 1 <= hour <= 12 and minute < 60:
            return time(hour % 12 + (12 if match["half"] == "pm" else 0), minute)
    else:
        match = _TIME_24H.fullmatch(raw)
        if match and match["m"] is not None:
            hour, minute = int(match["h"]), int(match["m"])
            if hour < 24 and minute < 60:
                return time(hour, minute)
    raise InvalidInput(
        _("“{text}” isn't a time of day I can use. Try something like 21:30 or 9pm.").format(
            text=text.strip()[:20]
        )
    )


def format_time(at: time) -> str:
    return at.strftime("%H:%M")


def occurrence(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of local time `at` on local `day`.

    Across daylight-saving changes: a time that does not exist that day (skipped by a spring
    change) falls that many minutes later (02:30 → 03:30); a time that happens twice (an
    autumn change) means the first of the two.
    """
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def next_occurrence(after: datetime, at: time, tz: ZoneInfo) -> tuple[date, datetime]:
    """The first local day whose `at` falls strictly after `after`, and that instant."""
    day = local_day(after, tz) - timedelta(days=1)
    while True:
        instant = occurrence(day, at, tz)
        if instant > after:
            return day, instant
        day += timedelta(days=1)
