"""The pure rules of check-ins: moods, streaks, local days, when care is offered, summaries
and reading a time of day. When reminders fall due: test_checkin_schedule.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.checkins import (
    InvalidInput,
    Mood,
    StreakNews,
    Summary,
    daily_means,
    format_time,
    local_day,
    needs_care,
    parse_local_time,
    streak,
    streak_news,
    streak_text,
    summarise,
)

TODAY = date(2026, 1, 5)
GUILT = ("broke", "broken", "lost", "missed", "reset", "failed", "shame")


def _days_before(*offsets: int) -> list[date]:
    return [TODAY - timedelta(days=n) for n in offsets]


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- moods -------------------------------------------------------------------------------


def test_moods_are_ordered_and_labelled_in_words() -> None:
    assert [int(m) for m in Mood] == [1, 2, 3, 4, 5]
    assert Mood.STRUGGLING < Mood.OKAY < Mood.GREAT
    assert Mood.STRUGGLING.label == "Really struggling"
    assert all(m.label and m.emoji and m.label != m.emoji for m in Mood)
    assert len({m.label for m in Mood}) == len({m.emoji for m in Mood}) == 5


# --- streaks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        ((0, 1, 2), 3),  # ending today
        ((1, 2, 3, 4), 4),  # ending yesterday: still alive until today is over
        ((0,), 1),
        ((1,), 1),
        ((0, 1, 3, 4, 5), 2),  # a gap ends it
        ((2, 3, 4), 0),  # nothing today or yesterday
        ((), 0),
    ],
)
def test_streak(offsets: tuple[int, ...], expected: int) -> None:
    assert streak(_days_before(*offsets), TODAY) == expected


def test_streak_ignores_duplicates_and_order() -> None:
    days = _days_before(2, 0, 1, 0, 2, 1, 1)
    assert streak(days, TODAY) == 3
    assert streak(iter(days), TODAY) == 3  # any iterable, used once


def test_streak_ignores_days_after_today() -> None:
    assert streak([TODAY + timedelta(days=1), TODAY], TODAY) == 1


def test_streak_news_first_ever() -> None:
    news = streak_news([], TODAY)
    assert news == StreakNews(days=1, first_ever=True, again_today=False, came_back=False)
    assert "first" in streak_text(news).lower()


def test_streak_news_again_today() -> None:
    news = streak_news(_days_before(0, 1), TODAY)
    assert news == StreakNews(days=2, first_ever=False, again_today=True, came_back=False)
    text = streak_text(news)
    assert "already checked in today" in text
    assert "2 days" in text


def test_streak_news_kept() -> None:
    news = streak_news(_days_before(1, 2, 3), TODAY)
    assert news == StreakNews(days=4, first_ever=False, again_today=False, came_back=False)
    assert "4 days in a row" in streak_text(news)


def test_streak_news_came_back_after_a_gap_without_guilt() -> None:
    news = streak_news(_days_before(2, 3, 4, 5), TODAY)
    assert news == StreakNews(days=1, first_ever=False, again_today=False, came_back=True)
    text = streak_text(news).lower()
    assert "welcome back" in text
    assert not [word for word in GUILT if word in text]


@pytest.mark.parametrize("earlier", [(), (0,), (0, 1), (1,), (1, 2, 3), (2,), (30, 31)], ids=str)
def test_no_streak_text_blames(earlier: tuple[int, ...]) -> None:
    text = streak_text(streak_news(_days_before(*earlier), TODAY)).lower()
    assert text
    assert not [word for word in GUILT if word in text]


# --- local days --------------------------------------------------------------------------


def test_late_evening_in_los_angeles_counts_for_that_local_day() -> None:
    # 23:30 on 5 January in Los Angeles (UTC-8) is 07:30 on 6 January in UTC.
    at = datetime(2026, 1, 5, 23, 30, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert at.astimezone(UTC).date() == date(2026, 1, 6)
    assert local_day(at.astimezone(UTC), ZoneInfo("America/Los_Angeles")) == date(2026, 1, 5)
    assert local_day(at.astimezone(UTC), ZoneInfo("UTC")) == date(2026, 1, 6)


def test_early_morning_in_auckland_is_already_the_next_local_day() -> None:
    # 10:30 UTC on 5 January is 23:30 the same day in Auckland (UTC+13 in summer)…
    assert local_day(_utc(2026, 1, 5, 10, 30), ZoneInfo("Pacific/Auckland")) == date(2026, 1, 5)
    # …and 11:30 UTC is 00:30 on the 6th there, while still the 5th in UTC.
    at = _utc(2026, 1, 5, 11, 30)
    assert local_day(at, ZoneInfo("Pacific/Auckland")) == date(2026, 1, 6)
    assert local_day(at, ZoneInfo("UTC")) == date(2026, 1, 5)


# --- care --------------------------------------------------------------------------------


@pytest.mark.parametrize("recent", [[], [1], [5, 5], [1, 1, 1]])
def test_struggling_always_gets_care(recent: list[int]) -> None:
    assert needs_care(Mood.STRUGGLING, recent) is True


@pytest.mark.parametrize(
    ("mood", "recent", "expected"),
    [
        (Mood.LOW, [4, 4], True),  # exactly two below
        (Mood.LOW, [5, 4], True),  # 2.5 below
        (Mood.OKAY, [5, 5, 5], True),
        (Mood.OKAY, [4, 5], False),  # 1.5 below
        (Mood.LOW, [3, 3], False),
        (Mood.GREAT, [1, 1], False),  # a rise is not a drop
        (Mood.LOW, [5], False),  # too few recent check-ins to judge
        (Mood.LOW, [], False),
    ],
)
def test_care_for_a_drop_below_the_recent_average(
    mood: Mood, recent: list[int], expected: bool
) -> None:
    assert needs_care(mood, recent) is expected


# --- summaries ---------------------------------------------------------------------------


def test_daily_means_one_point_per_day_oldest_first() -> None:
    d1, d2, d3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)
    points = [(d3, 5), (d1, 2), (d2, 4), (d1, 3), (d1, 5)]
    assert daily_means(points) == [(d1, 10 / 3), (d2, 4.0), (d3, 5.0)]
    assert daily_means([]) == []


def test_summarise_rounds_the_average_to_one_decimal() -> None:
    summary = summarise([1, 2, 2], _days_before(0, 1), TODAY)
    assert summary == Summary(count=3, average=1.7, streak=2)
    assert summarise([4, 5, 5, 5], [], TODAY).average == 4.8
    assert summarise([3], [], TODAY).average == 3.0


def test_summarise_with_no_check_ins_has_no_average() -> None:
    assert summarise([], [], TODAY) == Summary(count=0, average=None, streak=0)
    # The streak comes from the days given, even when the span's moods are empty.
    assert summarise([], _days_before(1, 2), TODAY) == Summary(0, None, 2)


# --- reading a time of day ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21:30", time(21, 30)),
        ("9:05", time(9, 5)),
        ("09:05", time(9, 5)),
        ("00:00", time(0, 0)),
        ("23:59", time(23, 59)),
        ("9pm", time(21, 0)),
        ("9:30 am", time(9, 30)),
        ("12am", time(0, 0)),
        ("12pm", time(12, 0)),
        ("12:15am", time(0, 15)),
        ("11:59 pm", time(23, 59)),
        ("  9PM ", time(21, 0)),
        ("9 p.m.", time(21, 0)),
    ],
)
def test_parse_local_time_accepts(text: str, expected: time) -> None:
    assert parse_local_time(text) == expected


@pytest.mark.parametrize(
    "text",
    ["25:00", "24:00", "9:60", "abc", "", "   ", "9", "13pm", "0am", "9:5", "-1:00", "9:30xm"],
)
def test_parse_local_time_refuses_kindly(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_local_time(text)
    assert "21:30" in str(refused.value)


def test_parse_local_time_quotes_only_the_start_of_long_input() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_local_time("x" * 500)
    assert "x" * 21 not in str(refused.value)


def test_format_time_round_trips() -> None:
    assert format_time(time(9, 5)) == "09:05"
    assert parse_local_time(format_time(time(21, 30))) == time(21, 30)
