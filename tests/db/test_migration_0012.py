"""Migration 0012 fills the new member columns from what older rows already said, so an
erasure right after the upgrade finds every row about the member by column alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bot.db import migrate
from bot.db.types import UTCDateTime
from tests.conftest import fresh_database

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
GUILD = 555_000_000_000_000_001
ALICE, BOB, MOD, OTHER_MOD = (555_000_000_000_000_000 + n for n in (11, 12, 21, 22))

# The tables as revision 0011 left them (no member columns).
OUTBOX_0011 = sa.table(
    "outbox_messages",
    sa.column("idempotency_key", sa.String),
    sa.column("guild_id", sa.BigInteger),
    sa.column("kind", sa.String),
    sa.column("target_type", sa.String),
    sa.column("target_id", sa.BigInteger),
    sa.column("payload", sa.JSON),
    sa.column("status", sa.String),
    sa.column("priority", sa.SmallInteger),
    sa.column("due_at", UTCDateTime),
    sa.column("attempts", sa.Integer),
    sa.column("created_at", UTCDateTime),
)
AUDIT_0011 = sa.table(
    "audit_log",
    sa.column("guild_id", sa.BigInteger),
    sa.column("actor_id", sa.BigInteger),
    sa.column("action", sa.String),
    sa.column("subject_type", sa.String),
    sa.column("subject_id", sa.BigInteger),
    sa.column("detail", sa.JSON),
    sa.column("created_at", UTCDateTime),
)
REQUESTS = sa.table(
    "support_requests",
    sa.column("id", sa.BigInteger),
    sa.column("guild_id", sa.BigInteger),
    sa.column("member_id", sa.BigInteger),
    sa.column("urgency", sa.String),
    sa.column("status", sa.String),
    sa.column("generation", sa.Integer),
    sa.column("repeat", sa.Integer),
    sa.column("created_at", UTCDateTime),
    sa.column("updated_at", UTCDateTime),
)


def queued(key: str, kind: str, payload: dict[str, object], target: int) -> dict[str, object]:
    return {
        "idempotency_key": key,
        "guild_id": GUILD,
        "kind": kind,
        "target_type": "user",
        "target_id": target,
        "payload": payload,
        "status": "sent",
        "priority": 1,
        "due_at": NOW,
        "attempts": 1,
        "created_at": NOW,
    }


async def test_upgrade_names_the_member_of_old_outbox_and_audit_rows(
    backend: str, tmp_path: Path
) -> None:
    async with fresh_database(backend, tmp_path, create_schema=False) as database:
        await migrate.upgrade(database, "0011")
        async with database.engine.begin() as connection:
            await connection.execute(
                REQUESTS.insert(),
                [
                    {
                        "id": 7,
                        "guild_id": GUILD,
                        "member_id": ALICE,
                        "urgency": "chat",
                        "status": "resolved",
                        "generation": 0,
                        "repeat": 0,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                ],
            )
            await connection.execute(
                OUTBOX_0011.insert(),
                [
                    queued("talk:7:alert", "talk.alert", {"request_id": 7}, GUILD + 1),
                    queued("talk:70:alert", "talk.alert", {"request_id": 70}, GUILD + 1),
                    queued("m:1", "circle_milestone", {"user_id": BOB, "kind": "streak"}, GUILD),
                    queued("r:1", "reachout_buddy", {"member": ALICE, "stage": 1}, BOB),
                    queued("u:1", "circle_note_undelivered", {"recipient": BOB}, ALICE),
                    queued("p:1", "plain", {"content": f"id {ALICE} in text"}, MOD),
                ],
            )
            await connection.execute(
                AUDIT_0011.insert(),
                [
                    {
                        "guild_id": GUILD,
                        "actor_id": MOD,
                        "action": "talk.handed_off",
                        "subject_type": "request",
                        "subject_id": 7,
                        "detail": {"previous": OTHER_MOD, "to": MOD},
                        "created_at": NOW,
                    },
                    {
                        "guild_id": GUILD,
                        "actor_id": MOD,
                        "action": "talk.claimed",
                        "subject_type": "request",
                        "subject_id": 7,
                        "detail": {"previous": 1},  # only hand-offs name another member
                        "created_at": NOW,
                    },
                ],
            )

        await migrate.upgrade(database)

        async with database.engine.connect() as connection:
            outbox = dict(
                (
                    await connection.execute(
                        sa.text("SELECT idempotency_key, member_id FROM outbox_messages")
                    )
                ).all()
            )
            audit = (
                await connection.execute(
                    sa.text("SELECT action, other_member_id, detail FROM audit_log ORDER BY id")
                )
            ).all()
    assert outbox == {
        "talk:7:alert": ALICE,  # through the request it is about
        "talk:70:alert": None,  # a request that no longer exists names nobody
        "m:1": BOB,
        "r:1": ALICE,
        "u:1": BOB,
        "p:1": None,  # an id inside free text is never guessed at
    }
    [(handed, other, detail), (claimed, none, kept)] = audit
    assert (handed, other) == ("talk.handed_off", OTHER_MOD)
    assert "previous" not in str(detail), "the member's id moved from the payload to the column"
    assert str(MOD) in str(detail)
    assert (claimed, none) == ("talk.claimed", None)
    assert "previous" in str(kept)
