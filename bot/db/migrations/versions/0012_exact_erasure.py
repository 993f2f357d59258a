"""exact erasure: the member ids rows refer to in real columns, and an encrypted secret table

- outbox_messages.member_id: the member a message is about when it is not its target (an
  alert of their request, a post naming them, a note to their buddy about them), filled in for
  rows already queued from their keys and payloads;
- audit_log.other_member_id: another member an action concerns, moved out of `detail`
  (where a hand-off named the moderator it was handed off from);
- indexes that let erasure find a member's rows exactly, by server;
- deployment_secrets: secrets kept encrypted with ENCRYPTION_KEY. The pseudonym secret moves
  there from app_state when the bot starts (it needs the key, which migrations do not have).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 08:00:00
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Where rows queued before this revision name the member they are about.
PAYLOAD_MEMBER = {
    "circle_milestone": "user_id",
    "privacy_leaver": "user_id",
    "reachout_buddy": "member",
    "circle_note_undelivered": "recipient",
}


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_id", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            "ix_outbox_messages_guild_member", ["guild_id", "member_id"], unique=False
        )
        batch_op.create_index(
            "ix_outbox_messages_guild_target", ["guild_id", "target_id"], unique=False
        )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("other_member_id", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_audit_log_guild_actor", ["guild_id", "actor_id"], unique=False)
        batch_op.create_index(
            "ix_audit_log_guild_other_member", ["guild_id", "other_member_id"], unique=False
        )
    with op.batch_alter_table("buddy_blocks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_buddy_blocks_guild_blocked", ["guild_id", "blocked_id"], unique=False
        )
    with op.batch_alter_table("circle_people", schema=None) as batch_op:
        batch_op.create_index(
            "ix_circle_people_guild_person", ["guild_id", "person_user_id"], unique=False
        )
    with op.batch_alter_table("support_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_support_requests_guild_member", ["guild_id", "member_id"], unique=False
        )
    op.create_table(
        "deployment_secrets",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_deployment_secrets")),
    )
    _fill_in(op.get_bind())


BATCH = 5_000


def _update_each(
    bind: sa.engine.Connection, table: sa.TableClause, rows: Iterable[dict[str, Any]]
) -> None:
    """UPDATE table SET ... WHERE id = row["row_id"], for each row: sent in batches (one
    statement, many parameter sets) rather than one round trip a row."""
    batch: list[dict[str, Any]] = []
    statement = None
    for row in rows:
        if statement is None:
            values = {name: sa.bindparam(name) for name in row if name != "row_id"}
            statement = table.update().where(table.c.id == sa.bindparam("row_id")).values(values)
        batch.append(row)
        if len(batch) == BATCH:
            bind.execute(statement, batch)
            batch = []
    if batch:
        bind.execute(statement, batch)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _fill_in(bind: sa.engine.Connection) -> None:
    outbox = sa.table(
        "outbox_messages",
        sa.column("id", sa.Integer),
        sa.column("idempotency_key", sa.String),
        sa.column("kind", sa.String),
        sa.column("payload", sa.JSON),
        sa.column("member_id", sa.BigInteger),
    )
    requests = sa.table(
        "support_requests", sa.column("id", sa.Integer), sa.column("member_id", sa.BigInteger)
    )
    members = dict(bind.execute(sa.select(requests.c.id, requests.c.member_id)).all())

    def outbox_members() -> Iterator[dict[str, Any]]:
        rows = bind.execute(
            sa.select(outbox.c.id, outbox.c.idempotency_key, outbox.c.kind, outbox.c.payload)
        )
        for row_id, key, kind, payload in rows:
            payload = _json(payload)
            member = None
            found = re.match(r"talk:(\d+):", key)
            if found:
                member = members.get(int(found[1]))
            elif kind in PAYLOAD_MEMBER and isinstance(payload, dict):
                member = payload.get(PAYLOAD_MEMBER[kind])
            if member is not None:
                yield {"row_id": row_id, "member_id": int(member)}

    _update_each(bind, outbox, list(outbox_members()))
    audit = sa.table(
        "audit_log",
        sa.column("id", sa.Integer),
        sa.column("action", sa.String),
        sa.column("detail", sa.JSON),
        sa.column("other_member_id", sa.BigInteger),
    )

    def hand_offs() -> Iterator[dict[str, Any]]:
        rows = bind.execute(
            sa.select(audit.c.id, audit.c.detail).where(audit.c.action == "talk.handed_off")
        )
        for row_id, detail in rows:
            detail = dict(_json(detail) or {})
            previous = detail.pop("previous", None)
            yield {"row_id": row_id, "other_member_id": previous, "detail": detail}

    _update_each(bind, audit, list(hand_offs()))


def downgrade() -> None:
    op.drop_table("deployment_secrets")
    with op.batch_alter_table("support_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_support_requests_guild_member")
    with op.batch_alter_table("circle_people", schema=None) as batch_op:
        batch_op.drop_index("ix_circle_people_guild_person")
    with op.batch_alter_table("buddy_blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_buddy_blocks_guild_blocked")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_guild_other_member")
        batch_op.drop_index("ix_audit_log_guild_actor")
        batch_op.drop_column("other_member_id")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_guild_target")
        batch_op.drop_index("ix_outbox_messages_guild_member")
        batch_op.drop_column("member_id")
