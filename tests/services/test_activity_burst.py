"""A burst of events from a server whose reach-out settings are not cached reads them once,
not once per event (each read is a unit of work that would queue before members' commands)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.db.engine import Database
from bot.services.reachout import activity as activity_module
from bot.services.reachout.activity import MESSAGE, ActivityTracker
from tests.helpers import FrozenClock
from tests.services.test_reachout import GUILD, _enable


async def test_a_burst_of_events_reads_the_settings_once(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _enable(db, clock)
    tracker = ActivityTracker(db, clock)
    reads = 0
    real = activity_module.repo.get_settings

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.01)  # a read that takes a moment, as under load
        return await real(*args, **kwargs)

    monkeypatch.setattr(activity_module.repo, "get_settings", counting)
    counted = await asyncio.gather(*(tracker.seen(GUILD, 500 + n, MESSAGE) for n in range(200)))
    assert all(counted)
    assert reads == 1
    assert len(tracker) == 200
    assert await tracker.flush() == 200

    # Changed settings are read again on the next event, once.
    tracker.forget(GUILD)
    await asyncio.gather(*(tracker.seen(GUILD, 900 + n, MESSAGE) for n in range(20)))
    assert reads == 2


async def test_a_failed_read_is_not_kept_and_the_next_event_reads_again(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _enable(db, clock)
    tracker = ActivityTracker(db, clock)
    real = activity_module.repo.get_settings
    calls = 0

    async def down_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database restarting")
        return await real(*args, **kwargs)

    monkeypatch.setattr(activity_module.repo, "get_settings", down_once)
    results = await asyncio.gather(
        *(tracker.seen(GUILD, 700 + n, MESSAGE) for n in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await tracker.seen(GUILD, 800, MESSAGE) is True
    assert calls == 2
