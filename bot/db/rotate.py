"""Key rotation: re-encrypt every encrypted column with the newest key.

Put the new key first in ENCRYPTION_KEY and keep the old one after it (`new,old`): the bot
reads text made with either. `kinfolk rotate-key` then rewrites every stored value with the
new key, a batch at a time (each batch its own unit of work, so it can run beside the bot and
be run again after an interruption). Afterwards the old key can be removed.
"""

from __future__ import annotations

from sqlalchemy import Table, Text, select, tuple_, type_coerce, update

from bot.db.crypto import EncryptedText, rotate
from bot.db.engine import Database
from bot.db.models import Base

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
    """Re-encrypt every stored value; returns how many per table."""
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
                for row in rows:
                    values = {
                        name: type_coerce(rotate(getattr(row, name)), Text)
                        for name in names
                        if getattr(row, name) is not None
                    }
                    if values:
                        await session.execute(
                            update(table)
                            .where(*(k == getattr(row, k.name) for k in keys))
                            .values(values)
                        )
                        counts[table.name] = counts.get(table.name, 0) + len(values)
            if len(rows) < batch:
                break
            last = tuple(getattr(rows[-1], k.name) for k in keys)
    return counts
