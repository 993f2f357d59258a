"""Scheduled buddy rounds end to end: /setup buddies with a weekday and time, the round
starting exactly then (once, across restarts), the next one `round_days` later without
repeating anyone's previous buddy — on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import combinations

from bot.db.engine import Database
from tests.e2e.buddies.world import (
    Meadow,
    buddy_threads,
    groups_of,
    ids,
    join,
    move_to,
    placed_exactly_once,
    rounds_of,
    set_up,
)
from tests.e2e.conftest import StartBot
from tests.e2e.driver import settle
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock

WEDNESDAY = 2


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


async def schedule_weekly(
    fake: FakeDiscord, meadow: Meadow, start_bot: StartBot, clock: FrozenClock
) -> str:
    """Monday 5 January, noon: rounds of a week, on Wednesdays at 09:30 (the server is on
    UTC), so the first starts Wednesday 7 January at 09:30."""
    clock._now = utc(5, 12)
    await start_bot()
    answer = await set_up(fake, meadow, weekday=WEDNESDAY, start_time="09:30", round_days=7)
    await join(fake, meadow, "ana", "ben", "cai", "dee")
    return answer


async def test_a_round_starts_at_the_scheduled_time_and_not_before(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    answer = await schedule_weekly(fake, meadow, start_bot, clock)
    assert "start on Wednesdays at 09:30 UTC time" in answer
    assert f"the first starts <t:{int(utc(7, 9, 30).timestamp())}:F>" in answer

    await move_to(fake, database, clock, utc(7, 9, 29))
    assert buddy_threads(fake, meadow) == []
    assert await rounds_of(database, meadow) == []

    await move_to(fake, database, clock, utc(7, 9, 30))
    groups = groups_of(fake, meadow, 1)
    assert len(groups) == 2
    assert placed_exactly_once(groups, ids(meadow, "ana", "ben", "cai", "dee"))
    [first] = await rounds_of(database, meadow)
    assert first.scheduled_for == date(2026, 1, 7)
    assert first.started_by is None
    assert first.ends_at == utc(14, 9, 30)


async def test_restarts_around_the_start_make_exactly_one_round(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await schedule_weekly(fake, meadow, start_bot, clock)
    await move_to(fake, database, clock, utc(7, 9, 29))
    await start_bot()  # a restart just before
    await settle(fake, database, clock)
    assert buddy_threads(fake, meadow) == []

    clock._now = utc(7, 9, 30)
    await start_bot()  # a restart right as the round falls due
    await settle(fake, database, clock)
    await start_bot()  # and one more just after
    await move_to(fake, database, clock, utc(7, 9, 45))

    assert len(await rounds_of(database, meadow)) == 1
    threads = buddy_threads(fake, meadow)
    assert len(threads) == 2
    assert all(len(fake.messages(t.id)) == 1 for t in threads)  # one intro each
    for member in ids(meadow, "ana", "ben", "cai", "dee"):
        assert sum(member in t.thread_members for t in threads) == 1


async def test_the_next_rounds_follow_round_days_later_with_new_buddies(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await schedule_weekly(fake, meadow, start_bot, clock)
    people = ids(meadow, "ana", "ben", "cai", "dee")
    await move_to(fake, database, clock, utc(7, 9, 30))
    assert len(groups_of(fake, meadow, 1)) == 2

    await move_to(fake, database, clock, utc(14, 9, 29))
    assert groups_of(fake, meadow, 2) == []
    await move_to(fake, database, clock, utc(14, 9, 30))
    await start_bot()  # a restart between rounds changes nothing
    await move_to(fake, database, clock, utc(21, 9, 30))

    rounds = await rounds_of(database, meadow)
    assert [r.number for r in rounds] == [1, 2, 3]
    assert [r.scheduled_for for r in rounds] == [date(2026, 1, d) for d in (7, 14, 21)]
    assert [r.started_at for r in rounds] == [utc(d, 9, 30) for d in (7, 14, 21)]
    every_pair: list[frozenset[int]] = []
    for number in (1, 2, 3):
        groups = groups_of(fake, meadow, number)
        assert len(groups) == 2
        assert placed_exactly_once(groups, people)
        every_pair += groups
    # Four people have six possible pairs; three rounds of two pairs use each exactly once,
    # so nobody was paired with a previous buddy.
    assert sorted(every_pair, key=sorted) == sorted(
        (frozenset(p) for p in combinations(people, 2)), key=sorted
    )
