"""On SQLite a unit of work that writes runs its statements on the event loop's thread, from
BEGIN to COMMIT without waiting for the loop (bot/db/engine.py, `InlineConnection`); reads
stay on aiosqlite's thread; another process holding the write lock is waited for on the
thread, never by stopping the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.db.engine import Database, InlineConnection


@pytest.fixture
async def disk_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")
    async with database.session() as session:
        await session.execute(text("CREATE TABLE t (x INTEGER)"))
    yield database
    await database.close()


class LoopTurns:
    """Counts event-loop turns (a task that only yields) while it runs."""

    def __init__(self) -> None:
        self.turns = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            self.turns += 1
            await asyncio.sleep(0)

    def __enter__(self) -> LoopTurns:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


class WatchedLock(asyncio.Lock):
    """The writer lock, noting how many loop turns passed while it was held."""

    def __init__(self, loop: LoopTurns) -> None:
        super().__init__()
        self.loop = loop
        self.held: list[int] = []
        self._since = 0

    async def acquire(self) -> bool:
        await super().acquire()
        self._since = self.loop.turns
        return True

    def release(self) -> None:
        self.held.append(self.loop.turns - self._since)
        super().release()


async def test_a_write_unit_holds_the_writer_without_giving_the_loop_a_turn(
    disk_db: Database,
) -> None:
    with LoopTurns() as loop:
        disk_db._sqlite_writer = writer = WatchedLock(loop)
        await asyncio.sleep(0)
        async with disk_db.session() as session:
            for number in range(20):
                await session.execute(text("INSERT INTO t (x) VALUES (:x)"), {"x": number})
            total = await session.scalar(text("SELECT sum(x) FROM t"))
        await asyncio.sleep(0)
    assert total == sum(range(20))
    # BEGIN, twenty inserts, a read and COMMIT were each a round trip to aiosqlite's thread
    # (a loop turn, or many under load) before: now the writer is held for none.
    assert writer.held == [0]
    assert loop.turns > 0  # the ticker did run around it


async def test_a_read_unit_stays_on_the_thread(disk_db: Database) -> None:
    async with disk_db.session() as session:
        await session.execute(text("INSERT INTO t (x) VALUES (1)"))
    with LoopTurns() as loop:
        await asyncio.sleep(0)
        before = loop.turns
        async with disk_db.read() as session:
            assert await session.scalar(text("SELECT count(*) FROM t")) == 1
        assert loop.turns > before  # the loop ran while the read was on the thread
    async with disk_db.session() as session:  # and a write after it is inline again
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, InlineConnection)
        assert raw.driver_connection.inline


async def test_another_process_holding_the_write_lock_is_waited_for_off_the_loop(
    disk_db: Database, tmp_path: Path
) -> None:
    holding = threading.Event()
    let_go = threading.Event()

    def other_process() -> None:
        other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO t (x) VALUES (100)")
            holding.set()
            let_go.wait(timeout=10)
            other.execute("COMMIT")
        finally:
            other.close()

    holder = threading.Thread(target=other_process)
    holder.start()
    try:
        assert await asyncio.to_thread(holding.wait, 5)

        async def write() -> None:
            async with disk_db.session() as session:
                await session.execute(text("INSERT INTO t (x) VALUES (1)"))

        with LoopTurns() as loop:
            writer = asyncio.create_task(write())
            await asyncio.sleep(0.3)
            assert not writer.done()  # waiting for the other process's lock...
            assert loop.turns > 10  # ...while the event loop goes on
            let_go.set()
            async with asyncio.timeout(5):
                await writer
    finally:
        let_go.set()
        holder.join()
    async with disk_db.read() as session:
        assert await session.scalar(text("SELECT sum(x) FROM t")) == 101
    # The next unit, with the lock free, runs inline again (and without a busy wait).
    with LoopTurns() as loop:
        disk_db._sqlite_writer = writer = WatchedLock(loop)
        await asyncio.sleep(0)
        async with disk_db.session() as session:
            await session.execute(text("INSERT INTO t (x) VALUES (2)"))
    assert writer.held == [0]


async def test_a_failing_statement_inline_rolls_the_unit_back(disk_db: Database) -> None:
    async def unit() -> None:
        async with disk_db.session() as session:
            await session.execute(text("INSERT INTO t (x) VALUES (7)"))
            await session.execute(text("INSERT INTO missing (x) VALUES (7)"))

    with pytest.raises(OperationalError, match="no such table"):
        await unit()
    async with disk_db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM t")) == 0


async def test_a_lookup_runs_on_the_loop_thread_and_sees_what_was_committed(
    disk_db: Database,
) -> None:
    """`Database.lookup` (a short read by key) runs inline, as a write unit does: from its
    first statement to its last, no loop turn (each was a round trip to the thread)."""
    async with disk_db.session() as session:
        await session.execute(text("INSERT INTO t (x) VALUES (5)"))
    with LoopTurns() as loop:
        await asyncio.sleep(0)
        async with disk_db.lookup() as session:
            before = loop.turns
            total = await session.scalar(text("SELECT sum(x) FROM t"))
            count = await session.scalar(text("SELECT count(*) FROM t"))
            assert loop.turns == before
    assert (total, count) == (5, 1)
    async with disk_db.read() as session:  # long reads stay on the thread, as before
        with LoopTurns() as loop:
            await asyncio.sleep(0)
            before = loop.turns
            assert await session.scalar(text("SELECT count(*) FROM t")) == 1
            assert loop.turns > before


async def test_a_lookup_that_finds_the_file_locked_waits_off_the_loop(
    disk_db: Database, tmp_path: Path
) -> None:
    """A WAL reader is refused only in rare cases, e.g. another process holding the file in
    exclusive locking mode: a lookup then waits on the driver's thread (here as its new
    connection opens, for the busy timeout) while the event loop goes on, and reads what was
    committed once it may."""
    holding = threading.Event()
    let_go = threading.Event()

    def other_process() -> None:
        other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
        try:
            other.execute("PRAGMA locking_mode=EXCLUSIVE")
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO t (x) VALUES (40)")
            other.execute("COMMIT")  # the file stays held: exclusive locking mode
            holding.set()
            let_go.wait(timeout=10)
            other.execute("PRAGMA locking_mode=NORMAL")
            other.execute("SELECT count(*) FROM t").fetchall()  # lets the file go
        finally:
            other.close()

    # Exclusive locking mode is only taken with no other connection open to the file.
    await disk_db.engine.dispose()
    holder = threading.Thread(target=other_process)
    holder.start()
    try:
        assert await asyncio.to_thread(holding.wait, 5)

        async def look() -> int:
            async with disk_db.lookup() as session:
                return int(await session.scalar(text("SELECT sum(x) FROM t")) or 0)

        with LoopTurns() as loop:
            reader = asyncio.create_task(look())
            await asyncio.sleep(0.3)
            assert not reader.done()  # waiting for the file...
            assert loop.turns > 10  # ...while the event loop goes on
            let_go.set()
            async with asyncio.timeout(5):
                assert await reader == 40
    finally:
        let_go.set()
        holder.join()
    # The next lookup, with the file free, runs inline again.
    with LoopTurns() as loop:
        await asyncio.sleep(0)
        async with disk_db.lookup() as session:
            before = loop.turns
            assert await session.scalar(text("SELECT sum(x) FROM t")) == 40
            assert loop.turns == before


async def test_a_lookup_refused_its_snapshot_inline_takes_it_on_the_thread(
    disk_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused at its start on an open connection (SQLite's "database is locked" for a WAL
    reader: another process recovering the log after a crash), a lookup does not fail and
    does not wait inline: that one lookup waits on the driver's thread, the next is inline."""
    async with disk_db.session() as session:
        await session.execute(text("INSERT INTO t (x) VALUES (3)"))
    async with disk_db.lookup() as session:  # its connection is open, and idle in the pool
        await session.scalar(text("SELECT 1"))
    refusals = [1]
    inline_execute = InlineConnection._execute

    async def refuse_once(self: InlineConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.inline and refusals and args and args[0] == "PRAGMA schema_version":
            refusals.pop()
            raise sqlite3.OperationalError("database is locked")
        return await inline_execute(self, fn, *args, **kwargs)

    monkeypatch.setattr(InlineConnection, "_execute", refuse_once)
    with LoopTurns() as loop:
        await asyncio.sleep(0)
        before = loop.turns
        async with disk_db.lookup() as session:
            assert loop.turns > before  # it went to the thread
            assert await session.scalar(text("SELECT sum(x) FROM t")) == 3
        assert refusals == []
        async with disk_db.lookup() as session:
            before = loop.turns
            assert await session.scalar(text("SELECT sum(x) FROM t")) == 3
            assert loop.turns == before  # and the next one is inline again
