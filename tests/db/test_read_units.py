"""Read-only units of work (`Database.read`): on SQLite they don't queue behind a writer, on
both backends a write inside one fails, and the connection writes normally afterwards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import DBAPIError

from bot.db.engine import Database
from bot.db.models import AppState

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


async def _put(db: Database, key: str, value: str) -> None:
    async with db.session() as session:
        await session.merge(AppState(key=key, value=value, updated_at=NOW))


async def test_a_read_sees_committed_data_and_leaves_no_transaction_open(db: Database) -> None:
    await _put(db, "colour", "green")
    async with db.read() as session:
        assert await session.scalar(select(AppState.value).where(AppState.key == "colour")) == (
            "green"
        )
    # The connection goes back to writing units as usual.
    await _put(db, "colour", "blue")
    async with db.read() as session:
        assert await session.scalar(select(AppState.value)) == "blue"
    assert db.in_flight == 0


async def test_what_was_read_stays_usable_after_the_unit(db: Database) -> None:
    await _put(db, "colour", "green")
    async with db.read() as session:
        row = await session.scalar(select(AppState))
    assert row is not None
    assert (row.key, row.value) == ("colour", "green")


async def test_a_write_inside_a_read_fails_and_changes_nothing(db: Database) -> None:
    await _put(db, "colour", "green")

    async def write_while_reading() -> None:
        async with db.read() as session:
            session.add(AppState(key="size", value="large", updated_at=NOW))
            await session.flush()

    with pytest.raises(DBAPIError):
        await write_while_reading()
    async with db.read() as session:
        assert (await session.scalars(select(AppState.key))).all() == ["colour"]
    await _put(db, "size", "small")  # writing units still write
    async with db.read() as session:
        assert sorted((await session.scalars(select(AppState.key))).all()) == ["colour", "size"]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_on_sqlite_a_read_does_not_wait_for_a_writer(db: Database) -> None:
    await _put(db, "colour", "green")
    writing = asyncio.Event()
    release = asyncio.Event()

    async def slow_writer() -> None:
        async with db.session() as session:
            await session.merge(AppState(key="colour", value="red", updated_at=NOW))
            await session.flush()
            writing.set()
            await release.wait()  # holds the writer lock (and SQLite's) meanwhile

    writer = asyncio.create_task(slow_writer())
    await writing.wait()
    async with asyncio.timeout(2):
        async with db.read() as session:
            # WAL: the reader sees the last committed value, not the writer's.
            assert await session.scalar(select(AppState.value)) == "green"
    release.set()
    await writer
    async with db.read() as session:
        assert await session.scalar(select(AppState.value)) == "red"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_on_sqlite_reads_and_writes_taking_turns_switch_no_connection(
    db: Database,
) -> None:
    """Reads have connections of their own: a read after a write (or a write after a read)
    finds its connection set up for it, with nothing to switch (two PRAGMAs each way, on
    every DM of a reach-out wave, when they shared one)."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    await _put(db, "colour", "green")
    async with db.read() as session:
        await session.scalar(select(AppState.value))
    engines = [db.engine.sync_engine, db._read_engine.sync_engine]  # type: ignore[union-attr]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", seen)
    try:
        for turn in range(5):
            await _put(db, "colour", f"shade {turn}")
            async with db.read() as session:
                assert await session.scalar(select(AppState.value)) == f"shade {turn}"
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", seen)
    assert [s for s in statements if s.startswith("PRAGMA")] == []
    assert statements.count("BEGIN") == 5
    assert statements.count("BEGIN IMMEDIATE") == 5


async def test_a_lookup_reads_what_was_committed_and_refuses_a_write(db: Database) -> None:
    """`lookup()` is a read (inline on SQLite): the same answers, and a write in it fails."""
    await _put(db, "colour", "green")
    async with db.lookup() as session:
        row = await session.scalar(select(AppState))
    assert row is not None
    assert row.value == "green"  # usable after the unit

    async def write_while_looking() -> None:
        async with db.lookup() as session:
            session.add(AppState(key="size", value="large", updated_at=NOW))
            await session.flush()

    with pytest.raises(DBAPIError):
        await write_while_looking()
    await _put(db, "colour", "blue")
    async with db.lookup() as session:
        assert (await session.scalars(select(AppState.value))).all() == ["blue"]
    assert db.in_flight == 0
