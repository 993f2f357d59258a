"""When the watchdog of `bot/ui/deadline.py` acknowledges a slow interaction: DEFER_AFTER
after Discord created it, less the time it took to reach the bot, counting at most MAX_LAG
of that (a host clock that is wrong must not make every answer a deferred one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.ui.deadline import DEFER_AFTER, MAX_LAG, defer_after

CREATED = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("lag", "expected"),
    [
        (0.0, DEFER_AFTER),  # reached us at once
        (0.5, DEFER_AFTER - 0.5),  # half a second late: half a second less to wait
        (5.0, DEFER_AFTER - MAX_LAG),  # a clock far ahead: at most MAX_LAG taken off
        (-3.0, DEFER_AFTER),  # a clock behind: never later than DEFER_AFTER
    ],
)
def test_the_watchdog_counts_from_when_discord_sent_it(lag: float, expected: float) -> None:
    assert defer_after(CREATED, CREATED + timedelta(seconds=lag)) == pytest.approx(expected)
    assert 0 < defer_after(CREATED, CREATED + timedelta(seconds=lag)) < 3.0
