"""Key rotation: re-encrypt every encrypted column with the newest key.

Put the new key first in ENCRYPTION_KEY and keep the old one after it (`new,old`): the bot
reads text made with either. `kinfolk rotate-key` then rewrites every stored value with the
new key, a batch at a time (each batch its own unit of work, so it can run beside the bot and
be run again after an interruption). Afterwards the old key can be removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, Text, select, tuple_, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.crypto import EncryptedText, rotate
from bot.db.engine import Database
from bot.db.models import Base
from bot.db.typed import AnyRow, rowcount

BATCH = 500


def encrypted_columns() -> list[tuple[Table, list[str]]]:
    """Every table with encrypted columns, and their names."""
    found = []
    for table in Base.metadata.sorted_tables:
        names = [c.name for c in table.columns if isinstance(c.type, EncryptedText)]
        if names:
            found.append((table, names))
    return found


async def rotate_all(db: Database, batch: int = BATCH) -> dict[str, int]:
    """Re-encrypt every stored value; returns how many per table.

    Each value is replaced only if it is still the token that was read (a compare-and-set):
    words a member adds while rotation runs are never overwritten by an older value. A row
    that changed is read again and rotated in its new form (the bot may still be writing
    with the old key first)."""
    counts: dict[str, int] = {}
    for table, names in encrypted_columns():
        keys = list(table.primary_key.columns)
        raw = [type_coerce(table.c[name], Text).label(name) for name in names]
        last: tuple[object, ...] | None = None
        while True:
            async with db.session() as session:
                statement = select(*keys, *raw).order_by(*keys).limit(batch)
                if last is not None:
                    statement = statement.where(tuple_(*keys) > tuple_(*last))
                rows = (await session.execute(statement)).all()
                changed = await _rotate_rows(session, table, names, rows)
            for _ in range(RETRIES):
                if not changed:
                    break
                async with db.session() as session:
                    again = (
                        await session.execute(
                            select(*keys, *raw).where(tuple_(*keys).in_(list(changed)))
                        )
                    ).all()
                    changed = await _rotate_rows(session, table, names, again)
            if changed:
                raise RuntimeError(
                    f"{table.name}: rows kept changing while being rotated; run it again"
                )
            for row in rows:
                n = sum(getattr(row, name) is not None for name in names)
                if n:
                    counts[table.name] = counts.get(table.name, 0) + n
            if len(rows) < batch:
                break
            last = tuple(getattr(rows[-1], k.name) for k in keys)
    return counts


RETRIES = 5


async def _rotate_rows(
    session: AsyncSession, table: Table, names: list[str], rows: Sequence[AnyRow]
) -> set[tuple[Any, ...]]:
    """Rotate each value still equal to what was read; returns the keys of rows whose value
    had changed meanwhile (to be read again)."""
    keys = list(table.primary_key.columns)
    changed: set[tuple[Any, ...]] = set()
    for row in rows:
        key = tuple(getattr(row, k.name) for k in keys)
        for name in names:
            token = getattr(row, name)
            if token is None:
                continue
            column = type_coerce(table.c[name], Text)
            result = await session.execute(
                update(table)
                .where(*(k == getattr(row, k.name) for k in keys), column == token)
                .values({name: type_coerce(rotate(token), Text)})
            )
            if rowcount(result) == 0:
                changed.add(key)
    return changed
