"""The sweep of a big server goes in chunks (one unit of work each), so it never holds
SQLite's writer for long; a sweep cut short between chunks resumes without repeating."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bot.db.engine import Database
from bot.db.models import MemberActivity
from bot.services.reachout import sweep
from tests.helpers import FrozenClock
from tests.services.test_reachout import GUILD, _all, _enable, _quiet, _rows

USERS = (301, 302, 303, 304, 305)


async def test_a_big_server_is_swept_in_chunks_one_unit_of_work_each(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "SWEEP_CHUNK", 2)
    await _enable(db, clock)
    for user in USERS:
        await _quiet(db, clock, user, dm_consent="yes")
    units = 0
    real_session = db.session

    def counting_session() -> Any:
        nonlocal units
        units += 1
        return real_session()

    monkeypatch.setattr(db, "session", counting_session)
    result = await sweep.sweep_guild(db, clock, GUILD)
    monkeypatch.undo()

    assert result == sweep.SweepResult(candidates=5, dms=5, nudges=0, not_opted=0)
    # Settings, then chunks of 2, 2, 1 and the empty one that ends the sweep.
    assert units == 5
    assert sorted(r.target_id for r in await _rows(db, sweep.KIND_DM)) == list(USERS)
    assert (await sweep.sweep_guild(db, clock, GUILD)).dms == 0


async def test_a_sweep_cut_short_between_chunks_keeps_what_was_done_and_resumes(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "SWEEP_CHUNK", 2)
    await _enable(db, clock)
    for user in USERS:
        await _quiet(db, clock, user, dm_consent="yes")
    real = sweep.outbox.enqueue
    calls = 0

    async def crash_in_the_second_chunk(*args: Any, **kwargs: Any) -> int | None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the process was killed")
        return await real(*args, **kwargs)

    monkeypatch.setattr(sweep, "outbox", SimpleNamespace(enqueue=crash_in_the_second_chunk))
    with pytest.raises(RuntimeError):
        await sweep.sweep_guild(db, clock, GUILD)
    # The first chunk was committed: its two members have their DM and their stage.
    done = sorted(r.target_id for r in await _rows(db, sweep.KIND_DM))
    assert done == list(USERS[:2])
    stages = {m.user_id: m.stage for m in await _all(db, MemberActivity)}
    assert stages == {301: 1, 302: 1, 303: 0, 304: 0, 305: 0}

    monkeypatch.undo()
    clock.advance(minutes=3)
    result = await sweep.sweep_guild(db, clock, GUILD)
    assert (result.candidates, result.dms) == (3, 3)
    assert sorted(r.target_id for r in await _rows(db, sweep.KIND_DM)) == list(USERS)
