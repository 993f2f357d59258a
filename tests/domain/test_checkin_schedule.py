"""When a daily check-in reminder falls due: the UTC instant of a local time of day, across
daylight-saving changes, checked by example, on a grid around every change, and by property."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.checkins import next_occurrence, occurrence

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- occurrences across daylight-saving changes ------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "at", "expected"),
    [
        # Berlin springs forward 02:00 → 03:00 on 29 March 2026: 02:30 does not exist and
        # falls an hour later, 03:30 CEST = 01:30 UTC.
        (BERLIN, date(2026, 3, 29), time(2, 30), _utc(2026, 3, 29, 1, 30)),
        # Berlin falls back 03:00 → 02:00 on 25 October 2026: 02:30 happens twice; the first
        # (CEST) is meant.
        (BERLIN, date(2026, 10, 25), time(2, 30), _utc(2026, 10, 25, 0, 30)),
        (BERLIN, date(2026, 3, 28), time(9, 0), _utc(2026, 3, 28, 8, 0)),
        (BERLIN, date(2026, 3, 29), time(9, 0), _utc(2026, 3, 29, 7, 0)),
        (BERLIN, date(2026, 3, 30), time(9, 0), _utc(2026, 3, 30, 7, 0)),
        (BERLIN, date(2026, 10, 26), time(9, 0), _utc(2026, 10, 26, 8, 0)),
        # New York springs forward on 8 March 2026: 02:30 → 03:30 EDT = 07:30 UTC.
        (NEW_YORK, date(2026, 3, 8), time(2, 30), _utc(2026, 3, 8, 7, 30)),
        # …and falls back on 1 November 2026: 01:30 happens twice; the first is EDT.
        (NEW_YORK, date(2026, 11, 1), time(1, 30), _utc(2026, 11, 1, 5, 30)),
        (NEW_YORK, date(2026, 3, 7), time(9, 0), _utc(2026, 3, 7, 14, 0)),
        (NEW_YORK, date(2026, 3, 9), time(9, 0), _utc(2026, 3, 9, 13, 0)),
        (NEW_YORK, date(2026, 11, 2), time(9, 0), _utc(2026, 11, 2, 14, 0)),
    ],
)
def test_occurrence(tz: ZoneInfo, day: date, at: time, expected: datetime) -> None:
    instant = occurrence(day, at, tz)
    assert instant == expected
    assert instant.tzinfo is UTC


def test_skipped_time_falls_an_hour_later_in_local_time() -> None:
    local = occurrence(date(2026, 3, 29), time(2, 30), BERLIN).astimezone(BERLIN)
    assert (local.date(), local.time()) == (date(2026, 3, 29), time(3, 30))


def test_berlin_morning_reminder_moves_an_hour_earlier_in_utc_over_spring_change() -> None:
    after = _utc(2026, 3, 28, 6, 0)
    day, first = next_occurrence(after, time(9, 0), BERLIN)
    assert (day, first) == (date(2026, 3, 28), _utc(2026, 3, 28, 8, 0))
    day, second = next_occurrence(first, time(9, 0), BERLIN)
    assert (day, second) == (date(2026, 3, 29), _utc(2026, 3, 29, 7, 0))
    day, third = next_occurrence(second, time(9, 0), BERLIN)
    assert (day, third) == (date(2026, 3, 30), _utc(2026, 3, 30, 7, 0))
    assert second - first == timedelta(hours=23)


def test_new_york_evening_reminder_across_autumn_change() -> None:
    day, first = next_occurrence(_utc(2026, 10, 31, 12, 0), time(21, 0), NEW_YORK)
    assert (day, first) == (date(2026, 10, 31), _utc(2026, 11, 1, 1, 0))  # 21:00 EDT
    day, second = next_occurrence(first, time(21, 0), NEW_YORK)
    assert (day, second) == (date(2026, 11, 1), _utc(2026, 11, 2, 2, 0))  # 21:00 EST
    assert second - first == timedelta(hours=25)


def test_next_occurrence_on_the_dot_is_the_next_day() -> None:
    exactly = occurrence(date(2026, 1, 5), time(9, 0), BERLIN)
    assert next_occurrence(exactly, time(9, 0), BERLIN) == (
        date(2026, 1, 6),
        _utc(2026, 1, 6, 8, 0),
    )
    just_before = exactly - timedelta(microseconds=1)
    assert next_occurrence(just_before, time(9, 0), BERLIN) == (date(2026, 1, 5), exactly)


def test_next_occurrence_can_be_yesterday_local_when_far_east() -> None:
    # 11:30 UTC on 5 Jan is 00:30 on 6 Jan in Auckland; a 23:45 reminder of the 5th there
    # has passed, so the next one is the 6th's — but one minute earlier it was still the 5th's.
    auckland = ZoneInfo("Pacific/Auckland")
    assert next_occurrence(_utc(2026, 1, 5, 10, 40), time(23, 45), auckland) == (
        date(2026, 1, 5),
        _utc(2026, 1, 5, 10, 45),
    )
    assert next_occurrence(_utc(2026, 1, 5, 11, 30), time(23, 45), auckland)[0] == date(2026, 1, 6)


# --- properties --------------------------------------------------------------------------

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC")
# When the zones above change their clocks in 2026 and 2027 (UTC).
TRANSITIONS = (
    ("Europe/Berlin", _utc(2026, 3, 29, 1)),
    ("Europe/Berlin", _utc(2026, 10, 25, 1)),
    ("Europe/Berlin", _utc(2027, 3, 28, 1)),
    ("Europe/Berlin", _utc(2027, 10, 31, 1)),
    ("America/New_York", _utc(2026, 3, 8, 7)),
    ("America/New_York", _utc(2026, 11, 1, 6)),
    ("America/New_York", _utc(2027, 3, 14, 7)),
    ("America/New_York", _utc(2027, 11, 7, 6)),
    ("Australia/Sydney", _utc(2026, 4, 4, 16)),
    ("Australia/Sydney", _utc(2026, 10, 3, 16)),
    ("Australia/Sydney", _utc(2027, 4, 3, 16)),
    ("Australia/Sydney", _utc(2027, 10, 2, 16)),
)

anywhere_any_time = st.tuples(
    st.sampled_from(ZONES),
    st.datetimes(
        min_value=datetime(2026, 1, 1),
        max_value=datetime(2027, 12, 31, 23, 59),
        timezones=st.just(UTC),
    ),
)
# Up to a day and a bit either side of a change, in the zone that changes.
near_a_change = st.builds(
    lambda change, minutes: (change[0], change[1] + timedelta(minutes=minutes)),
    st.sampled_from(TRANSITIONS),
    st.integers(min_value=-27 * 60, max_value=27 * 60),
)
zone_and_after = st.one_of(anywhere_any_time, near_a_change)
times_of_day = st.one_of(
    st.builds(time, st.integers(0, 23), st.integers(0, 59)),
    st.builds(time, st.integers(1, 3), st.sampled_from([0, 1, 30, 59])),  # where changes are
)


def _gap(day: date, at: time, tz: ZoneInfo) -> timedelta:
    """How far a spring change skips local `at` on `day` forward (zero if it exists): per
    PEP 495, in a gap the offset with fold=1 is larger than with fold=0."""
    naive = datetime.combine(day, at)
    before = naive.replace(tzinfo=tz, fold=0).utcoffset()
    after = naive.replace(tzinfo=tz, fold=1).utcoffset()
    assert before is not None
    assert after is not None
    return max(after - before, timedelta(0))


def _check_next_occurrence(after: datetime, at: time, tz: ZoneInfo) -> None:
    day, instant = next_occurrence(after, at, tz)

    assert instant.tzinfo is UTC
    assert instant > after
    assert instant - after <= timedelta(hours=49)
    assert instant == occurrence(day, at, tz)
    local = instant.astimezone(tz)
    assert local.date() == day
    # The wall time asked for; on a day it is skipped, later by the size of the gap.
    expected = datetime.combine(day, at) + _gap(day, at, tz)
    assert local.replace(tzinfo=None) == expected
    # It is the first: no occurrence of `at` lies strictly between `after` and it.
    for earlier in (day - timedelta(days=1), day - timedelta(days=2)):
        assert occurrence(earlier, at, tz) <= after


@given(zone_after=zone_and_after, at=times_of_day)
def test_next_occurrence_properties(zone_after: tuple[str, datetime], at: time) -> None:
    name, after = zone_after
    _check_next_occurrence(after, at, ZoneInfo(name))


@pytest.mark.parametrize(("name", "change"), TRANSITIONS, ids=lambda v: str(v)[:16])
def test_next_occurrence_around_every_change(name: str, change: datetime) -> None:
    """The same properties on a grid around each change: every quarter hour from 00:00 to
    04:00 local, asked from 30 hours before the change to 6 hours after, hourly."""
    tz = ZoneInfo(name)
    skipped: set[time] = set()
    for quarter in range(17):
        at = time(quarter // 4, quarter % 4 * 15)
        for hours in range(-30, 7):
            after = change + timedelta(hours=hours, minutes=7)
            _check_next_occurrence(after, at, tz)
            day, _ = next_occurrence(after, at, tz)
            if _gap(day, at, tz):
                skipped.add(at)
    # A spring change skips 02:00-02:45 on its day; an autumn change skips nothing.
    hour = timedelta(hours=1)
    offsets = [(change + n * hour).astimezone(tz).utcoffset() or hour for n in (-1, 1)]
    springs = offsets[1] > offsets[0]
    gap = {time(2, 0), time(2, 15), time(2, 30), time(2, 45)}
    assert skipped == (gap if springs else set())


@given(zone_after=zone_and_after, at=times_of_day)
def test_next_occurrence_chains_one_local_day_at_a_time(
    zone_after: tuple[str, datetime], at: time
) -> None:
    name, after = zone_after
    tz = ZoneInfo(name)
    day, instant = next_occurrence(after, at, tz)
    following_day, following = next_occurrence(instant, at, tz)
    assert following_day == day + timedelta(days=1)
    # A local day is 23 to 25 hours long in these zones.
    assert timedelta(hours=23) <= following - instant <= timedelta(hours=25)
