"""Apply Alembic migrations from inside the process (used by `kinfolk run` and `db upgrade`).

On PostgreSQL the upgrade holds a transaction-scoped advisory lock, so several bot
processes starting at once apply each migration exactly once. On SQLite it runs with foreign
keys off, as SQLite documents for rebuilding a table (dropping the old copy would otherwise
cascade to the rows that refer to it); a migration that rebuilds tables checks them with
`PRAGMA foreign_key_check` before it commits.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"
ADVISORY_LOCK_ID = 0x4B696E666F6C6B  # "Kinfolk"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def upgrade(database: Database, revision: str = "head") -> None:
    def run(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with database.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            await _foreign_keys(connection, on=False)
        try:
            async with connection.begin():
                await connection.run_sync(run)
        finally:
            if sqlite:
                await _foreign_keys(connection, on=True)


async def _foreign_keys(connection: AsyncConnection, *, on: bool) -> None:
    """Outside any transaction (inside one, SQLite ignores the pragma)."""
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.execute(f"PRAGMA foreign_keys={int(on)}")


async def current_revision(database: Database) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with database.engine.connect() as connection:
        return await connection.run_sync(read)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
