"""Migration 0009 gives messages queued before the upgrade the priority of their kind, so a
backlog that was waiting when Kinfolk was upgraded is claimed in the new order too."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa

from bot.db import migrate
from bot.db.engine import Database
from bot.db.repositories import outbox
from bot.db.types import UTCDateTime
from tests.conftest import fresh_database

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

# The outbox table as revision 0008 left it (no priority column).
OUTBOX_0008 = sa.table(
    "outbox_messages",
    sa.column("idempotency_key", sa.String),
    sa.column("guild_id", sa.BigInteger),
    sa.column("kind", sa.String),
    sa.column("target_type", sa.String),
    sa.column("target_id", sa.BigInteger),
    sa.column("payload", sa.JSON),
    sa.column("status", sa.String),
    sa.column("due_at", UTCDateTime),
    sa.column("attempts", sa.Integer),
    sa.column("created_at", UTCDateTime),
)

# Bulk kinds that came after revision 0009: no row of theirs existed for it to backfill.
BULK_SINCE_0009 = frozenset({"reachout_sweep_all"})

# kind → the priority the upgrade must give it.
QUEUED = {
    "talk.alert": outbox.URGENT,
    "talk.reping": outbox.URGENT,
    "talk.member_update": outbox.URGENT,
    "circle_note_report": outbox.URGENT,
    "plain": outbox.NORMAL,
    "buddy_intro": outbox.NORMAL,
    "circle_note": outbox.NORMAL,
    "talkative": outbox.NORMAL,  # "talk%" without the dot is not a talk kind
    "talk_alert": outbox.NORMAL,  # nor is "talk_…"
    **dict.fromkeys(sorted(outbox.BULK_KINDS - BULK_SINCE_0009), outbox.BULK),
}


def _migration() -> ModuleType:
    path = migrate.MIGRATIONS / "versions" / "0009_outbox_priority.py"
    spec = importlib.util.spec_from_file_location("migration_0009", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_knows_the_same_bulk_kinds_as_the_repository() -> None:
    assert set(_migration().BULK_KINDS) == outbox.BULK_KINDS - BULK_SINCE_0009


async def _priorities(database: Database) -> dict[str, int]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(sa.text("SELECT kind, priority FROM outbox_messages"))
        return {kind: priority for kind, priority in rows.all()}


async def test_upgrade_backfills_priorities_by_kind_and_claims_in_the_new_order(
    backend: str, tmp_path: Path
) -> None:
    async with fresh_database(backend, tmp_path, create_schema=False) as database:
        await migrate.upgrade(database, "0008")
        async with database.engine.begin() as connection:
            # Queued oldest first in reverse priority order: bulk kinds waited longest.
            await connection.execute(
                OUTBOX_0008.insert(),
                [
                    {
                        "idempotency_key": f"old:{kind}",
                        "guild_id": 1,
                        "kind": kind,
                        "target_type": "user",
                        "target_id": 100 + number,
                        "payload": {"content": kind, "embeds": []},
                        "status": "pending",
                        "due_at": NOW - timedelta(hours=1) + timedelta(seconds=number),
                        "attempts": 0,
                        "created_at": NOW - timedelta(hours=2),
                    }
                    for number, kind in enumerate(sorted(QUEUED, key=lambda k: (-QUEUED[k], k)))
                ],
            )
        await migrate.upgrade(database, "0009")
        assert await migrate.current_revision(database) == "0009"
        assert await _priorities(database) == QUEUED

        # The upgraded rows are claimed most urgent first, whatever their due time (by
        # today's code, so on today's schema: the later revisions change no priority).
        await migrate.upgrade(database)
        async with database.session() as session:
            claimed = await outbox.claim_due(
                session, now=NOW, owner="after-upgrade", lease=timedelta(minutes=2), limit=4
            )
        assert {row.kind for row in claimed} == {
            kind for kind, priority in QUEUED.items() if priority == outbox.URGENT
        }
