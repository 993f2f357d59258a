"""What an operator watches: messages waiting to go out, members waiting for a person.

Read from the database, so every process reports the same figures whichever shards it
runs; `bot.metrics` publishes them for Prometheus.
"""

from __future__ import annotations

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.repositories import health as repo
from bot.db.repositories.health import Health

__all__ = ["Health", "snapshot"]


async def snapshot(db: Database, clock: Clock) -> Health:
    async with db.read() as session:
        return await repo.snapshot(session, clock.now())
