"""The SQLite tuning the bot relies on, and the unit-of-work lifecycle on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from bot.db.engine import Database, DatabaseClosing
from bot.db.models import GuildSettings
from bot.db.repositories import guild_settings
from tests.helpers import FrozenClock


async def test_sqlite_pragmas_are_set(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'k.db'}")
    try:
        async with database.session() as session:
            journal = await session.scalar(text("PRAGMA journal_mode"))
            foreign_keys = await session.scalar(text("PRAGMA foreign_keys"))
            # A write unit runs inline and takes the write lock without waiting (another
            # process's lock sends it to the thread, tests/db/test_inline.py); reads wait.
            busy_writing = await session.scalar(text("PRAGMA busy_timeout"))
        async with database.read() as session:
            busy = await session.scalar(text("PRAGMA busy_timeout"))
    finally:
        await database.close()
    assert (tmp_path / "nested" / "dir" / "k.db").exists()  # the directory was created
    assert journal == "wal"
    assert foreign_keys == 1
    assert busy >= 5000
    assert busy_writing == 0


async def test_fifty_concurrent_writers_never_hit_a_lock(db: Database, clock: FrozenClock) -> None:
    """50 writers each do read-then-write transactions on the same rows at once."""
    errors: list[BaseException] = []

    async def writer(number: int) -> None:
        for round_ in range(5):
            try:
                async with db.session() as session:
                    guild = 1000 + (number + round_) % 5
                    row = await guild_settings.get(session, guild)
                    await asyncio.sleep(0)  # let other writers interleave mid-transaction
                    zone = f"Zone/{number}" if row is None else f"Zone/{number}-{round_}"
                    await guild_settings.update(session, guild, now=clock.now(), timezone=zone)
            except OperationalError as error:
                errors.append(error)

    await asyncio.gather(*(writer(n) for n in range(50)))
    assert errors == []
    async with db.session() as session:
        count = await session.scalar(select(func.count()).select_from(GuildSettings))
    assert count == 5


async def test_a_failed_unit_of_work_rolls_back(db: Database, clock: FrozenClock) -> None:
    async def failing_unit() -> None:
        async with db.session() as session:
            await guild_settings.update(session, 1, now=clock.now(), timezone="Europe/Berlin")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await failing_unit()
    async with db.session() as session:
        assert await guild_settings.get(session, 1) is None


async def test_close_waits_for_work_in_flight_and_refuses_new_work(
    db: Database, clock: FrozenClock
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_unit() -> None:
        async with db.session() as session:
            started.set()
            await release.wait()
            await guild_settings.update(session, 7, now=clock.now(), timezone="Asia/Tokyo")

    unit = asyncio.create_task(slow_unit())
    await started.wait()
    closing = asyncio.create_task(db.close(grace=5))
    await asyncio.sleep(0.05)
    assert not closing.done()  # still waiting for the unit in flight
    with pytest.raises(DatabaseClosing):
        async with db.session():
            pass
    release.set()
    await unit
    await closing
    # The unit committed before the engine was disposed: a new handle sees its row.
    reopened = Database(db.url, connect_args=db.connect_args)
    try:
        async with reopened.session() as session:
            row = await guild_settings.get(session, 7)
        assert row is not None
        assert row.timezone == "Asia/Tokyo"
    finally:
        await reopened.close()
