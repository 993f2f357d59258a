"""Column types shared by every model.

`UTCDateTime` refuses naive datetimes and always returns aware UTC ones, on SQLite (which
has no timezone type) as on PostgreSQL, so no code ever compares naive with aware times.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer
from sqlalchemy.types import TypeDecorator

# Discord ids fit in a signed 64-bit integer.
Snowflake = BigInteger
# An autoincrementing 64-bit key; SQLite only autoincrements a column typed INTEGER.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
# Table option for every table keyed by a BigIntPK. Without AUTOINCREMENT, SQLite gives a
# deleted row's id (the largest) to the next row, and an id reaches outbox keys, custom ids
# and the audit log, so a new request could take an erased one's alert, buttons and history.
# PostgreSQL's sequences never reuse a value. `tests/db/test_ids.py` checks every such table.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column; use an aware one")
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
