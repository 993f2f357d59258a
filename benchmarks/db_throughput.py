"""Database throughput that every feature leans on.

1. Concurrent units of work: N coroutines each doing read-then-write transactions (the shape
   of a check-in or a `/talk`), reporting transactions/s, p50/p99 latency and lock errors.
2. The outbox cycle: enqueue M messages, then claim them in batches and mark each sent,
   reporting messages/s for each phase.

Each run uses a fresh SQLite file (and a fresh PostgreSQL schema, dropped afterwards, when
KINFOLK_BENCH_POSTGRES_URL is set).
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.db.engine import Database
from bot.db.models import Base
from bot.db.repositories import guild_settings, outbox

WRITERS = 50
TRANSACTIONS_PER_WRITER = 40
OUTBOX_MESSAGES = 5_000
CLAIM_BATCH = 100


@asynccontextmanager
async def database(backend: str, folder: Path) -> AsyncIterator[Database]:
    schema = None
    if backend == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{folder / f'bench-{uuid.uuid4().hex}.db'}")
    else:
        url = os.environ["KINFOLK_BENCH_POSTGRES_URL"]
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        schema = f"kinfolk_bench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(dsn)
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        await admin.close()
        db = Database(url, connect_args={"server_settings": {"search_path": schema}})
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    try:
        yield db
    finally:
        await db.close()
        if schema is not None:
            admin = await asyncpg.connect(dsn)
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()


async def concurrent_writes(db: Database) -> str:
    now = datetime.now(UTC)
    latencies: list[float] = []
    lock_errors = 0

    async def writer(number: int) -> None:
        nonlocal lock_errors
        for round_ in range(TRANSACTIONS_PER_WRITER):
            started = time.perf_counter()
            try:
                async with db.session() as session:
                    guild = (number * 7 + round_) % 200
                    await guild_settings.get(session, guild)
                    await guild_settings.update(session, guild, now=now, timezone="Europe/Berlin")
            except OperationalError:
                lock_errors += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(writer(n) for n in range(WRITERS)))
    elapsed = time.perf_counter() - started
    total = WRITERS * TRANSACTIONS_PER_WRITER
    q = statistics.quantiles(latencies, n=100)
    return (
        f"{WRITERS} writers x {TRANSACTIONS_PER_WRITER} read-then-write transactions: "
        f"{total / elapsed:,.0f} tx/s, p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, "
        f"lock errors {lock_errors}"
    )


async def outbox_cycle(db: Database) -> str:
    now = datetime.now(UTC)
    started = time.perf_counter()
    for batch_start in range(0, OUTBOX_MESSAGES, 500):
        async with db.session() as session:
            for number in range(batch_start, batch_start + 500):
                await outbox.enqueue(
                    session,
                    key=f"bench:{number}",
                    kind="bench",
                    target_type="user",
                    target_id=number,
                    payload={"content": "hello"},
                    due_at=now,
                    now=now,
                )
    enqueue_rate = OUTBOX_MESSAGES / (time.perf_counter() - started)

    started = time.perf_counter()
    sent = 0
    while True:
        async with db.session() as session:
            batch = await outbox.claim_due(
                session, now=now, owner="bench", lease=timedelta(minutes=1), limit=CLAIM_BATCH
            )
        if not batch:
            break
        async with db.session() as session:
            for message in batch:
                sent += await outbox.mark_sent(session, message.id, owner="bench", now=now)
    rate = sent / (time.perf_counter() - started)
    return (
        f"outbox: enqueue {enqueue_rate:,.0f} msg/s; claim+mark sent {rate:,.0f} msg/s "
        f"({sent} of {OUTBOX_MESSAGES} sent)"
    )


async def main() -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("KINFOLK_BENCH_POSTGRES_URL") else [])
    with tempfile.TemporaryDirectory() as folder:
        for backend in backends:
            async with database(backend, Path(folder)) as db:
                print(f"[{backend}] {await concurrent_writes(db)}")
            async with database(backend, Path(folder)) as db:
                print(f"[{backend}] {await outbox_cycle(db)}")


if __name__ == "__main__":
    asyncio.run(main())
