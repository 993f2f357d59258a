"""The SQLite files hold health data: they are the owner's alone (0600), whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.db.engine import Database
from bot.db.migrate import upgrade


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The common default (0022) makes new files world-readable; 0000 makes them writable
    by anyone. Both must be overridden."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def write_something(database: Database) -> None:
    async with database.session() as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
        await session.execute(text("INSERT INTO t VALUES (1)"))


async def test_a_new_database_and_its_wal_and_shm_are_owner_only(
    tmp_path: Path, permissive_umask: None
) -> None:
    path = tmp_path / "data" / "kinfolk.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await write_something(database)
        # While the bot runs, the -wal and -shm exist beside the database.
        files = [path, path.with_name("kinfolk.db-wal"), path.with_name("kinfolk.db-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        await database.close()
    assert mode(path.parent) == 0o700  # the folder Kinfolk made for it, too


async def test_an_existing_readable_database_is_made_owner_only(
    tmp_path: Path, permissive_umask: None
) -> None:
    path = tmp_path / "kinfolk.db"
    first = Database(f"sqlite+aiosqlite:///{path}")
    await write_something(first)
    await first.close()
    for leftover in (path, path.with_name("kinfolk.db-wal"), path.with_name("kinfolk.db-shm")):
        if leftover.exists():
            leftover.chmod(0o666)  # e.g. copied in from a backup, or made by an older version

    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await write_something(database)
        modes = {
            f.name: mode(f)
            for f in (path, path.with_name("kinfolk.db-wal"), path.with_name("kinfolk.db-shm"))
        }
    finally:
        await database.close()
    assert set(modes.values()) == {0o600}, modes


async def test_migrations_create_the_database_owner_only(
    tmp_path: Path, permissive_umask: None
) -> None:
    """`kinfolk db upgrade` (Alembic) is usually what creates the file first."""
    path = tmp_path / "kinfolk.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(database)
        assert path.stat().st_size > 0
        assert mode(path) == 0o600
    finally:
        await database.close()
