"""The sweep of a big server goes in chunks (one unit of work each), so it never holds
SQLite's writer for long; a sweep cut short between chunks resumes without repeating."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from bot.db.engine import Database
from bot.db.models import MemberActivity
from bot.db.repositories import reachout as repo
from bot.db.repositories.reachout import Seen
from bot.jobs.delivery import Done, QueuedMessage
from bot.services.privacy import member_data
from bot.services.reachout import settings, sweep
from tests.helpers import FrozenClock, count_units
from tests.services.test_reachout import (
    GUILD,
    MOD,
    OTHER_GUILD,
    _all,
    _enable,
    _member,
    _quiet,
    _rows,
)

USERS = (301, 302, 303, 304, 305)


async def test_a_big_server_is_swept_in_chunks_one_unit_of_work_each(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "SWEEP_CHUNK", 2)
    await _enable(db, clock)
    for user in USERS:
        await _quiet(db, clock, user, dm_consent="yes")
    units = count_units(db, monkeypatch)
    result = await sweep.sweep_guild(db, clock, GUILD)
    monkeypatch.undo()

    assert result == sweep.SweepResult(candidates=5, dms=5, nudges=0, not_opted=0)
    # One read finds the five (not a unit of work: it holds no writer), then chunks of 2, 2, 1.
    assert len(units) == 3
    assert sorted(r.target_id for r in await _rows(db, sweep.KIND_DM)) == list(USERS)
    assert (await sweep.sweep_guild(db, clock, GUILD)).dms == 0


async def test_a_sweep_cut_short_between_chunks_keeps_what_was_done_and_resumes(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "SWEEP_CHUNK", 2)
    await _enable(db, clock)
    for user in USERS:
        await _quiet(db, clock, user, dm_consent="yes")
    real = sweep.outbox.enqueue_many
    calls = 0

    async def crash_in_the_second_chunk(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the process was killed")
        await real(*args, **kwargs)

    monkeypatch.setattr(
        sweep,
        "outbox",
        SimpleNamespace(enqueue_many=crash_in_the_second_chunk, Queued=sweep.outbox.Queued),
    )
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


# --- one sweep for every server ------------------------------------------------------------

THIRD_GUILD = 102


async def _member_in(
    db: Database, clock: FrozenClock, guild: int, user: int, days: int, consent: str | None
) -> None:
    at = clock.now() - timedelta(days=days)
    async with db.session() as session:
        await repo.record_seen(session, [Seen(guild, user, at)])
        if consent is not None:
            await repo.update_member(session, guild, user, now=at, dm_consent=consent)


async def _servers(db: Database, clock: FrozenClock) -> None:
    await _enable(db, clock)  # 14 days
    await settings.configure(db, clock, OTHER_GUILD, actor_id=MOD, enabled=True, threshold_days=7)
    await settings.configure(db, clock, THIRD_GUILD, actor_id=MOD, enabled=True)
    await settings.configure(db, clock, THIRD_GUILD, actor_id=MOD, enabled=False)
    await _member_in(db, clock, GUILD, 401, days=20, consent="yes")  # quiet here
    await _member_in(db, clock, GUILD, 402, days=10, consent="yes")  # not yet, at 14 days
    await _member_in(db, clock, OTHER_GUILD, 402, days=10, consent="yes")  # quiet at 7 days
    await _member_in(db, clock, OTHER_GUILD, 403, days=1, consent="yes")  # active
    await _member_in(db, clock, THIRD_GUILD, 404, days=30, consent="yes")  # reach-out off


async def _elsewhere(work: Coroutine[Any, Any, Any]) -> None:
    """`work` in a task of its own (its own unit of work), as another interaction would be."""
    await asyncio.create_task(work, context=contextvars.Context())


async def repo_write(db: Database, seen: list[Seen]) -> None:
    async with db.session() as session:
        await repo.record_seen(session, seen)


async def test_one_sweep_covers_every_server_each_with_its_own_threshold(
    db: Database, clock: FrozenClock
) -> None:
    await _servers(db, clock)
    result = await sweep.sweep_servers(db, clock)
    assert (result.candidates, result.dms) == (2, 2)
    dms = sorted((r.guild_id, r.target_id) for r in await _rows(db, sweep.KIND_DM))
    assert dms == [(GUILD, 401), (OTHER_GUILD, 402)]


async def test_with_nobody_newly_quiet_the_hourly_sweep_writes_only_its_successor(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _servers(db, clock)
    await sweep.sweep_servers(db, clock)
    clock.advance(hours=1)
    assert await sweep.at_start(db, clock)
    [row] = [r for r in await _rows(db, sweep.KIND_SWEEP_ALL) if r.status == "pending"]
    clock.advance_to(row.due_at)
    units = count_units(db, monkeypatch)
    prepared = await sweep.SweepAllHandler(db, clock).prepare(QueuedMessage.from_row(row))
    monkeypatch.undo()
    assert isinstance(prepared, Done)
    assert "0 to look at" in prepared.reason
    assert len(units) == 1  # the next hour's sweep queued; the rest was one read
    assert len(await _rows(db, sweep.KIND_DM)) == 2


def _between_the_read_and_the_chunks(
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[list[tuple[int, int]]], Coroutine[Any, Any, None]],
) -> None:
    """Run `change` (given the keys read) after the sweep's read, before its first chunk."""
    real_keys = repo.sweep_keys

    async def then_change(*args: Any, **kwargs: Any) -> list[tuple[int, int]]:
        keys = await real_keys(*args, **kwargs)
        await change(keys)
        return keys

    monkeypatch.setattr(repo, "sweep_keys", then_change)


async def test_a_member_seen_between_the_read_and_their_chunk_is_left_alone(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _servers(db, clock)

    async def then_401_speaks(keys: list[tuple[int, int]]) -> None:
        assert (GUILD, 401) in keys
        await _elsewhere(repo_write(db, [Seen(GUILD, 401, clock.now())]))  # a message meanwhile

    _between_the_read_and_the_chunks(monkeypatch, then_401_speaks)
    result = await sweep.sweep_servers(db, clock)
    assert (result.candidates, result.dms) == (1, 1)
    assert [r.target_id for r in await _rows(db, sweep.KIND_DM)] == [402]
    assert (await _member(db, 401)).stage == 0


async def test_a_server_switched_off_between_the_read_and_its_chunk_is_left_alone(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _servers(db, clock)

    async def then_switched_off(keys: list[tuple[int, int]]) -> None:
        await _elsewhere(settings.configure(db, clock, OTHER_GUILD, actor_id=MOD, enabled=False))

    _between_the_read_and_the_chunks(monkeypatch, then_switched_off)
    result = await sweep.sweep_servers(db, clock)
    assert [(r.guild_id, r.target_id) for r in await _rows(db, sweep.KIND_DM)] == [(GUILD, 401)]
    assert result.dms == 1


async def test_a_member_erased_between_the_read_and_their_chunk_gets_nothing(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _servers(db, clock)

    async def then_401_erases(keys: list[tuple[int, int]]) -> None:
        assert (GUILD, 401) in keys
        await _elsewhere(member_data.delete_member(db, clock, GUILD, 401))  # /privacy delete

    _between_the_read_and_the_chunks(monkeypatch, then_401_erases)
    result = await sweep.sweep_servers(db, clock)
    assert (result.candidates, result.dms) == (1, 1)
    assert [(r.guild_id, r.target_id) for r in await _rows(db, sweep.KIND_DM)] == [
        (OTHER_GUILD, 402)
    ]
    assert (GUILD, 401) not in {(m.guild_id, m.user_id) for m in await _all(db, MemberActivity)}
