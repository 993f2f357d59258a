"""Locks that make count-then-insert limits hold under concurrency.

On SQLite every unit of work that writes takes the one write lock first (`BEGIN IMMEDIATE`),
so two of them never count at the same time. On PostgreSQL two units can; a transaction-
scoped advisory lock on a name (e.g. one member's notes) makes the second wait for the first
to commit before it counts."""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.typed import dialect_of


def lock_key(name: str) -> int:
    """A signed 64-bit number for `name` (two names sharing one only wait for each other)."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


async def hold(session: AsyncSession, *names: str) -> None:
    """Hold the locks on `names` until the unit of work ends (in a fixed order, so two
    units asking for the same locks never deadlock)."""
    if dialect_of(session) != "postgresql":
        return
    for key in sorted({lock_key(name) for name in names}):
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
