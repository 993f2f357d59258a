"""Ids are never given out twice. A table's id reaches outbox keys (`talk:{id}:alert`), custom
ids (`talk:claim:{id}`) and the audit log; without AUTOINCREMENT SQLite gives a deleted row's
id to the next row, and a second member's request once took an erased one's id, alert and
buttons. These tests fail when a new table keyed by a generated id lacks it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Integer, delete, insert, select, text
from sqlalchemy.schema import Table

from bot.db import migrate
from bot.db.engine import Database
from bot.db.models import Base, SupportRequest
from tests.conftest import fresh_database

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def generated_key_tables() -> list[Table]:
    """Tables whose primary key is one generated integer (not a Discord id, which is
    declared `autoincrement=False`, nor a foreign key): the ones whose ids the bot hands out."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = list(table.primary_key.columns)
        if len(columns) != 1:
            continue
        [column] = columns
        if (
            isinstance(column.type, Integer)
            and column.autoincrement is not False
            and not column.foreign_keys
        ):
            found.append(table)
    return found


def test_the_tables_with_generated_ids_are_known() -> None:
    names = {table.name for table in generated_key_tables()}
    assert names == {
        "audit_log",
        "buddy_groups",
        "buddy_rounds",
        "checkins",
        "circle_people",
        "outbox_messages",
        "support_requests",
        "thinking_notes",
    }


@pytest.mark.parametrize("table", generated_key_tables(), ids=lambda t: t.name)
def test_every_table_with_generated_ids_never_reuses_them_on_sqlite(table: Table) -> None:
    assert table.dialect_options["sqlite"]["autoincrement"] is True, (
        f"{table.name} needs NEVER_REUSE_IDS (bot/db/types.py) in its __table_args__, and a "
        "migration that rebuilds it with AUTOINCREMENT (see 0010)"
    )


async def test_the_migrated_schema_has_autoincrement_on_each(tmp_path: Path) -> None:
    async with fresh_database("sqlite", tmp_path, create_schema=False) as database:
        await migrate.upgrade(database)
        async with database.engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
            )
            schema = dict(rows.all())
    for table in generated_key_tables():
        assert "AUTOINCREMENT" in schema[table.name].upper(), table.name


async def _add_request(database: Database, member: int) -> int:
    async with database.session() as session:
        row = SupportRequest(
            guild_id=1,
            member_id=member,
            urgency="chat",
            status="open",
            generation=0,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(row)
        await session.flush()
        return row.id


async def test_a_deleted_rows_id_is_never_given_to_the_next_row(
    backend: str, tmp_path: Path
) -> None:
    async with fresh_database(backend, tmp_path, create_schema=False) as database:
        await migrate.upgrade(database)
        first = await _add_request(database, 10)
        async with database.session() as session:
            await session.execute(delete(SupportRequest).where(SupportRequest.id == first))
        second = await _add_request(database, 11)
        assert second > first


async def test_the_migration_keeps_every_row_and_skips_ids_still_referenced(
    tmp_path: Path,
) -> None:
    """From revision 0009 (no AUTOINCREMENT): rows, foreign keys and indexes survive the
    rebuild, and ids that outbox keys and the audit log still name are not given out,
    even where the row itself was deleted before the upgrade."""
    async with fresh_database("sqlite", tmp_path, create_schema=False) as database:
        await migrate.upgrade(database, "0009")
        async with database.session() as session:
            await session.execute(
                text(
                    "INSERT INTO buddy_rounds (id, guild_id, number, seed, started_at, ends_at)"
                    " VALUES (1, 5, 1, 1, :t, :t), (2, 5, 2, 7, :t, :t)"
                ),
                {"t": NOW.replace(tzinfo=None)},
            )
            await session.execute(
                text("INSERT INTO buddy_groups (id, guild_id, round_id) VALUES (3, 5, 2)")
            )
            await session.execute(
                text("INSERT INTO buddy_group_members (group_id, user_id) VALUES (3, 99)")
            )
            for key in ("talk:41:alert", "buddy:intro:9", "circle:note-report:12"):
                await session.execute(
                    text(
                        "INSERT INTO outbox_messages (idempotency_key, kind, target_type, "
                        "target_id, payload, status, due_at, attempts, created_at, priority) "
                        "VALUES (:k, 'x', 'channel', 1, '{}', 'sent', :t, 1, :t, 1)"
                    ),
                    {"k": key, "t": NOW.replace(tzinfo=None)},
                )
            await session.execute(
                text(
                    "INSERT INTO audit_log (guild_id, actor_id, action, subject_type, "
                    "subject_id, detail, created_at) VALUES "
                    "(5, 1, 'buddy.round', 'buddy_round', 6, '{}', :t)"
                ),
                {"t": NOW.replace(tzinfo=None)},
            )
        await migrate.upgrade(database)
        async with database.session() as session:
            members = (await session.execute(text("SELECT * FROM buddy_group_members"))).all()
            groups = (await session.execute(text("SELECT id, round_id FROM buddy_groups"))).all()
            problems = (await session.execute(text("PRAGMA foreign_key_check"))).all()
            indexes = set(
                (
                    await session.execute(
                        text("SELECT name FROM sqlite_master WHERE type = 'index'")
                    )
                ).scalars()
            )
        assert members == [(3, 99, None, None)]
        assert groups == [(3, 2)]
        assert problems == []
        assert {"uq_support_requests_one_active", "ix_buddy_groups_guild_round"} <= indexes
        assert await _add_request(database, 12) == 42  # above talk:41's id
        async with database.session() as session:
            round_id = (
                await session.execute(
                    insert(Base.metadata.tables["buddy_rounds"])
                    .values(guild_id=5, number=3, seed=1, started_at=NOW, ends_at=NOW)
                    .returning(Base.metadata.tables["buddy_rounds"].c.id)
                )
            ).scalar_one()
            group_id = (
                await session.execute(
                    insert(Base.metadata.tables["buddy_groups"])
                    .values(guild_id=5, round_id=round_id)
                    .returning(Base.metadata.tables["buddy_groups"].c.id)
                )
            ).scalar_one()
            note_seq = (
                await session.execute(
                    select(text("seq"))
                    .select_from(text("sqlite_sequence"))
                    .where(text("name = 'thinking_notes'"))
                )
            ).scalar_one()
        assert round_id == 7  # above the audit log's round 6
        assert group_id == 10  # above buddy:intro:9
        assert note_seq == 12
