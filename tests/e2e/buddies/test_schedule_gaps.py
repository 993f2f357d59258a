"""Where the round schedule and real life disagree: a round started by hand while a scheduled
start is pending, and the bot catching up after being down across several scheduled starts.
A hand-started round runs its full length (the scheduled start that falls inside it is
skipped), and downtime across several starts gives one late round, not one per missed start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.db.engine import Database
from tests.e2e.buddies.world import (
    Meadow,
    buddy_threads,
    checkups,
    groups_of,
    ids,
    join,
    move_to,
    reply,
    rounds_of,
    set_up,
    start_round,
)
from tests.e2e.conftest import StartBot
from tests.e2e.driver import settle
from tests.fakediscord import FakeDiscord
from tests.helpers import FrozenClock

FOUR = ("ana", "ben", "cai", "dee")


async def test_a_round_started_by_hand_reaches_its_halfway_question(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await start_bot()
    await set_up(fake, meadow)  # defaults: 14-day rounds, Mondays at 10:00 UTC
    await join(fake, meadow, *FOUR)
    await start_round(fake, meadow, database, clock)  # Monday 5 January, noon
    [first] = await rounds_of(database, meadow)
    assert first.ends_at == clock.now() + timedelta(days=14)

    await move_to(fake, database, clock, clock.now() + timedelta(days=7))
    asked = [len(checkups(fake, m)) for m in ids(meadow, *FOUR)]
    assert asked == [1, 1, 1, 1]


async def test_catching_up_after_downtime_starts_one_round(
    fake: FakeDiscord,
    meadow: Meadow,
    start_bot: StartBot,
    database: Database,
    clock: FrozenClock,
) -> None:
    await start_bot()
    await set_up(fake, meadow, round_days=7)  # weekly, Mondays at 10:00 UTC
    await join(fake, meadow, *FOUR)
    await move_to(fake, database, clock, datetime(2026, 1, 10, 12, tzinfo=UTC))
    assert await rounds_of(database, meadow) == []

    # Down from Saturday 10 January until Tuesday 3 February: four Mondays missed.
    clock._now = datetime(2026, 2, 3, 12, tzinfo=UTC)
    await start_bot()
    await settle(fake, database, clock)

    threads = buddy_threads(fake, meadow)
    assert len(threads) == 2  # this much already holds: only the last round's intros go out
    ana = meadow.members["ana"]
    status = await reply(fake, meadow, ana, "buddy status")
    assert "Rounds you've taken part in: 1." in status
    assert len(await rounds_of(database, meadow)) == 1
    assert len(groups_of(fake, meadow, 1)) == 2
