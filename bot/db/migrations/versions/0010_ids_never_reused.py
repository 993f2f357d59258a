"""ids are never reused (SQLite AUTOINCREMENT)

Without AUTOINCREMENT, SQLite gives the next row the largest id in the table plus one, so
when the newest row is deleted (an erasure) its id goes to the next row. Ids reach outbox
keys (`talk:{id}:alert`), custom ids (`talk:claim:{id}`) and the audit log, so a second
member's request could take an erased one's id: its alert was swallowed by the first one's
already-sent key, and the old alert's buttons acted on it.

Each table is rebuilt with `INTEGER PRIMARY KEY AUTOINCREMENT`, keeping every row, and its
sequence starts above every id still referenced elsewhere (outbox keys, audit subjects), so
even ids freed before this migration are not given out again. PostgreSQL's sequences never
reuse a value: nothing to do there. `bot.db.migrate` runs this with SQLite's foreign keys off
(the documented way to rebuild a table) and checks them before committing.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 05:10:00
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "audit_log",
    "buddy_rounds",
    "buddy_groups",
    "checkins",
    "circle_people",
    "outbox_messages",
    "support_requests",
    "thinking_notes",
)
# Where else each table's ids were written down: outbox keys (a LIKE pattern and the regex
# that reads the id back) and audit-log subjects.
KEYS = {
    "support_requests": (("talk:%", r"talk:(\d+):"),),
    "thinking_notes": (("circle:note%", r"circle:note(?:-report|-undelivered)?:(\d+)$"),),
    "buddy_groups": (("buddy:%", r"buddy:(?:intro|checkup|changed):(\d+)"),),
}
SUBJECTS = {"support_requests": "support_request", "buddy_rounds": "buddy_round"}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table in TABLES:
        _rebuild(bind, table)
        _start_sequence_above_references(bind, table)
    problems = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"foreign keys broken by the rebuild: {problems[:5]}")


def _rebuild(bind: sa.engine.Connection, table: str) -> None:
    create = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if "AUTOINCREMENT" in create.upper():
        return
    indexes = [
        row[0]
        for row in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (table,),
        )
    ]
    pk = f"pk_{table}"
    new = re.sub(
        r"\bid INTEGER NOT NULL,",
        f"id INTEGER NOT NULL CONSTRAINT {pk} PRIMARY KEY AUTOINCREMENT,",
        create,
        count=1,
    )
    new = re.sub(rf",\s*CONSTRAINT {pk} PRIMARY KEY \(id\)", "", new, count=1)
    new = re.sub(
        r'^CREATE TABLE\s+"?' + re.escape(table) + r'"?', f'CREATE TABLE "_new_{table}"', new
    )
    if "AUTOINCREMENT" not in new or "PRIMARY KEY (id)" in new:
        raise RuntimeError(f"could not rewrite the schema of {table}: {create}")
    bind.exec_driver_sql(new)
    # `table` is one of TABLES above, never input.
    bind.exec_driver_sql(f'INSERT INTO "_new_{table}" SELECT * FROM "{table}"')  # noqa: S608
    bind.exec_driver_sql(f'DROP TABLE "{table}"')
    bind.exec_driver_sql(f'ALTER TABLE "_new_{table}" RENAME TO "{table}"')
    for index in indexes:
        bind.exec_driver_sql(index)


def _start_sequence_above_references(bind: sa.engine.Connection, table: str) -> None:
    highest = bind.exec_driver_sql(
        f'SELECT coalesce(max(id), 0) FROM "{table}"'  # noqa: S608 (one of TABLES)
    ).scalar_one()
    for pattern, regex in KEYS.get(table, ()):
        keys = bind.exec_driver_sql(
            "SELECT idempotency_key FROM outbox_messages WHERE idempotency_key LIKE ?",
            (pattern,),
        ).scalars()
        for key in keys:
            found = re.match(regex, key)
            if found:
                highest = max(highest, int(found[1]))
    subject = SUBJECTS.get(table)
    if subject is not None:
        referenced = bind.exec_driver_sql(
            "SELECT coalesce(max(subject_id), 0) FROM audit_log WHERE subject_type = ?",
            (subject,),
        ).scalar_one()
        highest = max(highest, int(referenced))
    if highest == 0:
        return
    bind.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
    bind.exec_driver_sql(
        "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, int(highest))
    )


def downgrade() -> None:
    # AUTOINCREMENT only stops ids from being reused; going back would allow it again, so
    # the rebuilt tables are left as they are (they work unchanged with revision 0009).
    pass
