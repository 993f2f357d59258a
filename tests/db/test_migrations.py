"""The Alembic migrations produce exactly the models' schema, on both backends."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from bot.db import migrate
from bot.db.models import Base
from tests.conftest import fresh_database


def _differences(connection: Connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_migrations_build_exactly_the_models_schema(backend: str, tmp_path: Path) -> None:
    async with fresh_database(backend, tmp_path, create_schema=False) as database:
        await migrate.upgrade(database)
        async with database.engine.connect() as connection:
            differences = await connection.run_sync(_differences)
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert differences == []
        assert set(Base.metadata.tables) <= tables
        assert await migrate.current_revision(database) == migrate.head_revision()


async def test_upgrade_twice_is_harmless(backend: str, tmp_path: Path) -> None:
    async with fresh_database(backend, tmp_path, create_schema=False) as database:
        await migrate.upgrade(database)
        await migrate.upgrade(database)
        assert await migrate.current_revision(database) == migrate.head_revision()
