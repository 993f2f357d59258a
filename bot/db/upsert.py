"""Dialect-aware `INSERT … ON CONFLICT DO NOTHING`, the race-free way to create a row that
concurrent units of work may also be creating (SQLite and PostgreSQL share the syntax)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.typed import dialect_of, table_of

RowT = TypeVar("RowT")


def dialect_insert(dialect_name: str) -> Any:
    """The `insert` of SQLite's or PostgreSQL's dialect, which have `on_conflict_do_…`."""
    return postgresql.insert if dialect_name == "postgresql" else sqlite.insert


def insert_skipping_conflicts(
    dialect_name: str,
    table: Any,
    conflict_columns: list[Any],
    *,
    columns: Sequence[str] | None = None,
    index_where: str | None = None,
) -> Any:
    """`insert_ignoring_conflicts` as a statement to build once (per dialect) and run with
    its values as parameters: on the table, not the ORM class (whose insert goes through the
    ORM's bulk path), with a bound parameter per name in `columns` (without `columns`, the
    parameters' names given at execution choose the columns). `index_where` is the predicate
    of a partial unique index the conflict is on."""
    statement = dialect_insert(dialect_name)(table)
    if columns is not None:
        statement = statement.values({name: bindparam(name) for name in columns})
    where = None if index_where is None else text(index_where)
    return statement.on_conflict_do_nothing(index_elements=conflict_columns, index_where=where)


def insert_ignoring_conflicts(
    session: AsyncSession, model: type[Any], conflict_columns: list[Any], **values: Any
) -> Any:
    """An insert statement that does nothing when a row with the same key already exists."""
    return (
        dialect_insert(dialect_of(session))(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_columns)
    )


async def update_guild_row(
    session: AsyncSession, model: type[RowT], guild_id: int, *, now: datetime, **values: Any
) -> RowT:
    """Set columns of a per-server settings row (keyed by `guild_id`, with `updated_at`),
    creating it with its defaults first if needed, race-free, and locking it for the rest of
    the unit of work."""
    columns = table_of(model).columns
    unknown = [column for column in values if column not in columns]
    if unknown:
        raise AttributeError(f"{model.__tablename__} has no column(s) {unknown}")  # type: ignore[attr-defined]
    stamps = {name: now for name in ("created_at", "updated_at") if name in columns}
    await session.execute(
        insert_ignoring_conflicts(
            session, model, [columns["guild_id"]], guild_id=guild_id, **stamps
        )
    )
    row = await session.get(model, guild_id, with_for_update=True, populate_existing=True)
    assert row is not None
    for column, value in values.items():
        setattr(row, column, value)
    row.updated_at = now  # type: ignore[attr-defined]
    await session.flush()
    return row


async def update_member_row(
    session: AsyncSession,
    model: type[RowT],
    guild_id: int,
    user_id: int,
    *,
    now: datetime,
    create: dict[str, Any] | None = None,
    **values: Any,
) -> RowT:
    """`update_guild_row` for a per-member row keyed by (`guild_id`, `user_id`). `create`
    gives the columns a new row needs beyond their defaults."""
    columns = table_of(model).columns
    stamps = {name: now for name in ("created_at", "updated_at") if name in columns}
    await session.execute(
        insert_ignoring_conflicts(
            session,
            model,
            [columns["guild_id"], columns["user_id"]],
            guild_id=guild_id,
            user_id=user_id,
            **stamps,
            **(create or {}),
        )
    )
    row = await session.get(
        model, (guild_id, user_id), with_for_update=True, populate_existing=True
    )
    assert row is not None
    for column, value in values.items():
        if column not in columns:
            raise AttributeError(f"{model.__tablename__} has no column {column!r}")  # type: ignore[attr-defined]
        setattr(row, column, value)
    if "updated_at" in columns:
        row.updated_at = now  # type: ignore[attr-defined]
    await session.flush()
    return row
