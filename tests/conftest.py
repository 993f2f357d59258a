"""Fixtures: every database test runs on SQLite, and on PostgreSQL too when
KINFOLK_TEST_POSTGRES_URL is set. Each test gets a fresh database (a new SQLite file, or a
new PostgreSQL schema dropped afterwards), so runs never collide or leave tables behind."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.db.crypto import configure_keys, generate_key
from bot.db.engine import Database
from bot.db.models import Base
from tests import profiles  # noqa: F401  (registers and loads the hypothesis profile)
from tests.helpers import FrozenClock

POSTGRES_URL = os.environ.get("KINFOLK_TEST_POSTGRES_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not POSTGRES_URL, reason="KINFOLK_TEST_POSTGRES_URL not set"),
    ),
]

DatabaseFactory = Callable[..., "asynccontextmanager[Database]"]


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_database(
    backend: str, tmp_path: Path, *, create_schema: bool = True
) -> AsyncIterator[Database]:
    """A new, empty database; with `create_schema`, the models' tables are created in it."""
    if backend == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / f'kinfolk-{uuid.uuid4().hex}.db'}")
        schema = None
    else:
        assert POSTGRES_URL
        schema = f"kinfolk_test_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
        try:
            await admin.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await admin.close()
        database = Database(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        if create_schema:
            async with database.engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)
        yield database
    finally:
        await database.close()
        if schema is not None:
            admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL or ""))
            try:
                await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            finally:
                await admin.close()


@pytest.fixture(autouse=True, scope="session")
def encryption_key() -> str:
    """One key for the run, as `kinfolk run` would configure from ENCRYPTION_KEY."""
    key = generate_key()
    configure_keys([key])
    return key


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def db(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database(backend, tmp_path) as database:
        yield database


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()
