"""Dialect-aware `INSERT … ON CONFLICT DO NOTHING`, the race-free way to create a row that
concurrent units of work may also be creating (SQLite and PostgreSQL share the syntax)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignoring_conflicts(
    session: AsyncSession, model: type[Any], conflict_columns: list[Any], **values: Any
) -> Any:
    """An insert statement that does nothing when a row with the same key already exists."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return (
        dialect.insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_columns)
    )
