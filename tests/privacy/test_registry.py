"""The privacy registry covers every column of the live schema that can hold a member's id.

The schema is reflected from a database migrated exactly as the bot migrates it (not read
from the models), so a table added by a migration alone is caught too.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import BigInteger, inspect
from sqlalchemy.engine import Connection

from bot.db import migrate
from bot.db.models import Base
from bot.services.privacy.registry import NON_MEMBER_SUFFIXES, NOT_MEMBER_IDS, REGISTRY
from tests.conftest import fresh_database


def _id_columns(connection: Connection) -> set[tuple[str, str]]:
    """Every 64-bit integer column that is not a row's own id or a server/channel/message/
    role/thread id: each could hold a Discord user id."""
    inspector = inspect(connection)
    found = set()
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        for column in inspector.get_columns(table):
            if not isinstance(column["type"], BigInteger):
                continue
            name = column["name"]
            if name == "id" or name.endswith(NON_MEMBER_SUFFIXES):
                continue
            found.add((table, name))
    return found


async def test_every_member_id_column_of_the_live_schema_is_covered(
    backend: str, tmp_path: Path
) -> None:
    async with fresh_database(backend, tmp_path, create_schema=False) as database:
        await migrate.upgrade(database)
        async with database.engine.connect() as connection:
            live = await connection.run_sync(_id_columns)
    covered = {(entry.table, entry.column) for entry in REGISTRY}
    explained = set(NOT_MEMBER_IDS)
    assert live, "the reflection found no id columns at all"
    missing = live - covered - explained
    assert missing == set(), (
        f"columns that may hold a member's id but are not in bot/services/privacy/registry.py: "
        f"{sorted(missing)}; add each to REGISTRY (how /privacy exports and deletes it) or to "
        "NOT_MEMBER_IDS (why it is not a member's id)"
    )


def test_the_registry_names_real_columns_only() -> None:
    for entry in REGISTRY:
        assert entry.column in Base.metadata.tables[entry.table].columns, entry
    for table, column in NOT_MEMBER_IDS:
        assert column in Base.metadata.tables[table].columns, (table, column)


def test_the_check_would_catch_a_forgotten_table() -> None:
    """The same rule, applied to a schema with one table nobody registered."""
    from sqlalchemy import Column, MetaData, Table, create_engine

    metadata = MetaData()
    Table(
        "forgotten",
        metadata,
        Column("id", BigInteger, primary_key=True),
        Column("user_id", BigInteger),
        Column("guild_id", BigInteger),
    )
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.connect() as connection:
        live = _id_columns(connection)
    assert live == {("forgotten", "user_id")}
    covered = {(entry.table, entry.column) for entry in REGISTRY}
    assert live - covered - set(NOT_MEMBER_IDS) == {("forgotten", "user_id")}
