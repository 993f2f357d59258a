"""Typed views of what SQLAlchemy leaves loosely typed, so the type checker sees real types
(and a hole, such as a session without an engine, fails loudly instead of as None)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias, cast

from sqlalchemy import CursorResult, Result, Row, Select, Table
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    # A statement or row of any columns (SQLAlchemy 2.1 types them column by column).
    AnySelect: TypeAlias = Select[*tuple[Any, ...]]
    AnyRow: TypeAlias = Row[*tuple[Any, ...]]
else:
    AnySelect, AnyRow = Select, Row


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE, DELETE or INSERT touched. `Session.execute` is typed as
    returning a plain `Result`; for those statements it is a `CursorResult`."""
    count = cast(CursorResult[Any], result).rowcount
    return max(count or 0, 0)  # -1: the driver could not tell (never for DML here)


def dialect_of(session: AsyncSession) -> str:
    """'sqlite' or 'postgresql': the backend the session's engine talks to."""
    bind = session.bind
    if bind is None:
        raise RuntimeError("a session with no engine bound")
    return bind.dialect.name


def table_of(model: type[Any]) -> Table:
    """A mapped class's `Table` (typed by SQLAlchemy as any `FromClause`)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to one table")
    return table
