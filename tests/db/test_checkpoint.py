"""SQLite's WAL is checkpointed beside the writers, not inside the commit that holds the
writer lock (bot/db/engine.py): what a writer, a long WAL, a failure and shutdown see."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.db import engine as engine_module
from bot.db.engine import Database


@pytest.fixture
async def disk_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")
    async with database.session() as session:
        await session.execute(text("CREATE TABLE t (x BLOB)"))
    await database.checkpointed()
    yield database
    await database.close()


class BlockedCheckpoint:
    """Stands in for `checkpoint_wal`: each call waits (in its worker thread) until the test
    lets one through, then returns the next WAL length it was given (then 0)."""

    def __init__(self, *lengths: int | tuple[int, int]) -> None:
        self.lengths = list(lengths)
        self.calls = 0
        self.started = threading.Semaphore(0)
        self.gate = threading.Semaphore(0)
        self.free = False

    def __call__(self, _path: str) -> tuple[int, int]:
        self.calls += 1
        if self.free:
            return 0, 0
        self.started.release()
        assert self.gate.acquire(timeout=10), "the test never let the checkpoint through"
        pages = self.lengths.pop(0) if self.lengths else 0
        return pages if isinstance(pages, tuple) else (pages, 0)

    async def running(self) -> None:
        """Wait until the next call has started (and is held)."""
        assert await asyncio.to_thread(self.started.acquire, True, 5), "no checkpoint started"

    def let_one(self) -> None:
        self.gate.release()

    def let_all(self) -> None:
        self.free = True
        self.gate.release()


async def write(database: Database, rows: int = 1, size: int = 16) -> None:
    async with database.session() as session:
        await session.execute(
            text("INSERT INTO t (x) VALUES (randomblob(:size))"), [{"size": size}] * rows
        )


async def writers_wait_for(fake: BlockedCheckpoint, database: Database) -> None:
    """The pass under way holds the writer lock: a write waits until it is let through."""
    writer = asyncio.create_task(write(database))
    await asyncio.sleep(0.2)
    assert not writer.done()
    fake.let_one()
    async with asyncio.timeout(2):
        await writer


async def test_the_commit_leaves_the_wal_and_the_checkpoint_copies_it_back(
    disk_db: Database, tmp_path: Path
) -> None:
    async with disk_db.session() as session:
        assert await session.scalar(text("PRAGMA wal_autocheckpoint")) == 0
    await disk_db.checkpointed()
    before = (tmp_path / "k.db").stat().st_size
    await write(disk_db, rows=2000, size=1024)
    # Straight after the commit the rows are in the WAL only (SQLite's own checkpoint in the
    # commit is off); the checkpoint task has not run yet.
    assert (tmp_path / "k.db").stat().st_size == before
    assert (tmp_path / "k.db-wal").stat().st_size > 2_000_000
    await disk_db.checkpointed()
    assert (tmp_path / "k.db").stat().st_size > before + 2_000_000


async def test_a_writer_does_not_wait_for_a_checkpoint_under_way(
    disk_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = BlockedCheckpoint()
    monkeypatch.setattr(engine_module, "checkpoint_wal", fake)
    monkeypatch.setattr(engine_module, "CHECKPOINT_EVERY_SECONDS", 0)
    await write(disk_db)
    await fake.running()
    # The checkpoint is stuck in its thread; units of work go on committing meanwhile, and
    # start no second checkpoint beside it.
    async with asyncio.timeout(2):
        for _ in range(5):
            await write(disk_db)
    assert fake.calls == 1
    fake.let_one()
    # Those five commits came after it began: one more checkpoint follows for all of them.
    await fake.running()
    fake.let_one()
    await disk_db.checkpointed()
    assert fake.calls == 2


async def test_a_long_wal_gets_a_second_pass_with_the_writers_held(
    disk_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long log with 100 pages left to copy: written while the pass ran.
    fake = BlockedCheckpoint((engine_module.CHECKPOINT_LONG_WAL_PAGES, 100), 0)
    monkeypatch.setattr(engine_module, "checkpoint_wal", fake)
    monkeypatch.setattr(engine_module, "CHECKPOINT_EVERY_SECONDS", 0)
    await write(disk_db)
    await fake.running()
    # The first pass runs beside the writers...
    async with asyncio.timeout(2):
        await write(disk_db)
    fake.let_one()  # ...and finds the log long (readers or writers kept it from starting over)
    await fake.running()  # the second pass, which holds the writer lock
    await writers_wait_for(fake, disk_db)
    # The write during the first pass asks for one more checkpoint, and the writer's (after
    # the second pass) for another; their logs are short: one pass each.
    for _ in range(2):
        await fake.running()
        fake.let_one()
    await disk_db.checkpointed()
    assert fake.calls == 4


async def test_a_long_wal_with_much_left_is_copied_beside_the_writers_first(
    disk_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Much written during the first pass: more passes beside the writers, each copying what
    came during the one before, and only the last (with little left) holds them."""
    long = engine_module.CHECKPOINT_LONG_WAL_PAGES
    fake = BlockedCheckpoint((long, 3000), (long + 500, 400), (long + 600, 20), (long, 0))
    monkeypatch.setattr(engine_module, "checkpoint_wal", fake)
    monkeypatch.setattr(engine_module, "CHECKPOINT_EVERY_SECONDS", 0)
    await write(disk_db)
    for _ in range(3):  # three passes leave 3000, 400, then 20 pages: writers go on
        await fake.running()
        async with asyncio.timeout(2):
            await write(disk_db)
        fake.let_one()
    await fake.running()  # 20 left (at most CHECKPOINT_TAIL_PAGES): the pass that holds them
    assert fake.calls == 4
    await writers_wait_for(fake, disk_db)
    fake.let_all()  # the writes during it ask for more, with short logs
    await disk_db.checkpointed()


async def test_the_log_starts_over_under_steady_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real thing: two seconds of writes without a pause. Were the log never to start
    over, the WAL file would hold all of them; it holds a fraction."""
    monkeypatch.setattr(engine_module, "CHECKPOINT_LONG_WAL_PAGES", 100)
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")
    written = 0
    try:
        async with database.session() as session:
            await session.execute(text("CREATE TABLE t (x BLOB)"))
        started = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - started < 2.0:
            await write(database, rows=20, size=1024)
            written += 20 * 1024
            await asyncio.sleep(0)
        await database.checkpointed()
        wal = (tmp_path / "k.db-wal").stat().st_size
    finally:
        await database.close()
    assert written > 4_000_000  # enough written for the comparison to mean something
    assert wal < written / 2


async def test_checkpoints_are_spaced_out_and_the_last_commit_is_not_left_behind(
    disk_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []

    def counting(_path: str) -> tuple[int, int]:
        calls.append(time.monotonic())
        return 0, 0

    monkeypatch.setattr(engine_module, "checkpoint_wal", counting)
    monkeypatch.setattr(engine_module, "CHECKPOINT_EVERY_SECONDS", 0.2)
    started = last_commit = time.monotonic()
    while time.monotonic() - started < 1.0:  # a second of steady commits
        await write(disk_db)
        last_commit = time.monotonic()
        await asyncio.sleep(0.01)
    await disk_db.checkpointed()
    # About one per interval, not one per commit (some 80), and one after the last commit.
    assert 3 <= len(calls) <= 7
    assert all(later - earlier >= 0.19 for earlier, later in itertools.pairwise(calls))
    assert calls[-1] >= last_commit


async def test_a_failed_checkpoint_is_logged_and_writes_go_on(
    disk_db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[str] = []

    def failing(path: str) -> tuple[int, int]:
        attempts.append(path)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(engine_module, "checkpoint_wal", failing)
    monkeypatch.setattr(engine_module, "CHECKPOINT_EVERY_SECONDS", 0)
    with caplog.at_level(logging.WARNING, logger=engine_module.log.name):
        await write(disk_db)
        await disk_db.checkpointed()
    assert "SQLite WAL checkpoint failed" in caplog.text
    await write(disk_db)  # the unit after it commits, and tries the checkpoint again
    await disk_db.checkpointed()
    assert len(attempts) == 2
    async with disk_db.read() as session:
        assert await session.scalar(text("SELECT count(*) FROM t")) == 2


async def test_close_waits_for_the_checkpoint_under_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")
    fake = BlockedCheckpoint()
    monkeypatch.setattr(engine_module, "checkpoint_wal", fake)
    async with database.session() as session:
        await session.execute(text("CREATE TABLE t (x BLOB)"))
    await fake.running()
    closing = asyncio.create_task(database.close())
    await asyncio.sleep(0.1)
    assert not closing.done()  # the engine is not disposed under a running checkpoint
    fake.let_one()
    async with asyncio.timeout(5):
        await closing


async def test_no_checkpoint_without_a_database_file(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL, and SQLite in memory, have no WAL file to copy back."""
    calls: list[str] = []
    monkeypatch.setattr(engine_module, "checkpoint_wal", lambda path: calls.append(path) or (0, 0))
    databases = [Database("sqlite+aiosqlite://")]
    if db.backend == "postgresql":
        databases.append(db)
    for database in databases:
        async with database.session() as session:
            await session.execute(text("SELECT 1"))
        await database.checkpointed()
    await databases[0].close()
    assert calls == []


async def test_a_bulk_writer_gives_way_to_a_checkpoint_only_while_the_log_is_long(
    disk_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = BlockedCheckpoint(10, engine_module.CHECKPOINT_LONG_WAL_PAGES)
    monkeypatch.setattr(engine_module, "checkpoint_wal", fake)
    monkeypatch.setattr(engine_module, "CHECKPOINT_EVERY_SECONDS", 0)
    monkeypatch.setattr(engine_module, "GIVE_WAY_SECONDS", 0.5)
    await write(disk_db)
    await fake.running()
    async with asyncio.timeout(0.2):  # a short log: no waiting, even with a pass under way
        await disk_db.give_way_to_checkpoint()
    fake.let_one()
    await disk_db.checkpointed()
    await write(disk_db)
    await fake.running()
    fake.let_one()  # this one finds the log long...
    await fake.running()  # ...and holds the writers for its last pass
    fake.let_one()
    await disk_db.checkpointed()
    assert disk_db.wal_long
    await write(disk_db)  # the purge's next chunk
    await fake.running()
    giving_way = asyncio.create_task(disk_db.give_way_to_checkpoint())
    await asyncio.sleep(0.1)
    assert not giving_way.done()  # it waits for the checkpoint to end
    fake.let_one()  # which finds the log short again
    async with asyncio.timeout(1):
        await giving_way
    assert not disk_db.wal_long
    # Under writes that never stop, checkpoints follow one another; the bulk writer waits
    # for one of them at most GIVE_WAY_SECONDS, not for the lot.
    disk_db.wal_long = True
    await write(disk_db)
    await fake.running()
    started = asyncio.get_running_loop().time()
    await disk_db.give_way_to_checkpoint()
    assert asyncio.get_running_loop().time() - started < 0.7
    fake.let_all()
    await disk_db.checkpointed()
