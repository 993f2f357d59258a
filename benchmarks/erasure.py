"""Erasure (`/privacy delete`) and the outbox purge in a large database, and what they make
every other unit of work wait.

A fresh database (SQLite file; a fresh PostgreSQL schema too when KINFOLK_BENCH_POSTGRES_URL
is set) with the bot's tables and indexes is seeded with bulk Core inserts:

- MEMBERS members over SERVERS servers;
- OUTBOX outbox rows (default 1,000,000), each about one member (a DM to them, a reach-out
  nudge about them, an alert about their request): 95% sent, 4% pending, 1% failed, all due
  in the last 6 days (so the purge leaves them alone until the second part);
- AUDIT audit rows (default 100,000): moderator actions, a third of them about a member;
- for each member erased: a profile, a year of check-ins and their activity.

Part 1, erasure: ERASURES members are erased one after another with the service
`/privacy delete` calls (`member_data.delete_member`: one unit of work, the audit row
included), 100 ms apart, first with nothing else running (the time it holds SQLite's one
writer), then again for other members while a probe opens a small write unit of work (a
check-in of another member) every 20 ms, each in its own task, recording how long it
waited to get in, counted from when it was due (so a wait for a busy event loop counts).
The same probe runs alone first: "bare" in the output is that baseline, measured in the
same run. The first erasure after start is reported apart: it compiles its statements.

Part 2, the outbox purge: every seeded row is made finished and 8 days old, and the daily
job's `purge_outbox` deletes them (OUTBOX_PURGE_CHUNK a unit of work, resting between chunks)
with the probe beside it, once the log of the update that made them so is copied back.

    .venv/bin/python -m benchmarks.erasure                          # SQLite, 1M outbox rows
    KINFOLK_BENCH_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m benchmarks.erasure                      # and PostgreSQL
    .venv/bin/python -m benchmarks.erasure --outbox 100000 --audit 10000   # quick
    .venv/bin/python -m benchmarks.erasure --no-purge               # part 1 only
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update

from benchmarks.db_throughput import database
from bot.db.crypto import configure_keys, generate_key
from bot.db.engine import Database
from bot.db.models import (
    AuditEntry,
    Checkin,
    MemberActivity,
    MemberProfile,
    OutboxMessage,
)
from bot.services.privacy import member_data
from bot.services.privacy.retention import OUTBOX_PURGE_CHUNK, purge_outbox
from tests.helpers import FrozenClock

SEED = 2026
SERVERS = 100
MEMBERS = 10_000
BATCH = 20_000
PROBE_EVERY = 0.02  # 50 small writes a second: a busy server's check-ins and clicks
BASELINE_SECONDS = 2.0
# Erasures are rare: they are spaced out. Back to back, each one's 2-3 MB of WAL writes are
# still being written back by the OS when the next starts, and it takes about twice as long.
SPACING = 0.1
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FIRST_USER = 400_000_000_000_000_000
FIRST_GUILD = 900_000_000_000_000_000
MODERATOR = 300_000_000_000_000_000
FAILED = "403 Cannot send messages to this user"
OUTBOX_KINDS = (
    ("reachout:dm", "user", 0.35),
    ("talk:alert", "channel", 0.15),
    ("talk:member-update", "user", 0.15),
    ("checkin:reminder", "user", 0.25),
    ("circle:milestone", "channel", 0.10),
)


def member(index: int) -> tuple[int, int]:
    """(guild id, user id) of member number `index`."""
    return FIRST_GUILD + index % SERVERS, FIRST_USER + index


async def _insert(db: Database, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        async with db.engine.begin() as connection:
            await connection.execute(insert(model.__table__), rows[start : start + BATCH])


async def seed(db: Database, outbox_rows: int, audit_rows: int, erased: list[int]) -> None:
    rng = random.Random(SEED)
    kinds = [k for k, _t, _w in OUTBOX_KINDS]
    weights = [w for _k, _t, w in OUTBOX_KINDS]
    targets = {k: t for k, t, _w in OUTBOX_KINDS}
    rows: list[dict[str, Any]] = []
    for number in range(outbox_rows):
        index = rng.randrange(MEMBERS)
        guild_id, user_id = member(index)
        kind = rng.choices(kinds, weights)[0]
        due = NOW - timedelta(seconds=rng.uniform(0, 6 * 86_400))
        status = rng.choices(("sent", "pending", "failed"), (0.95, 0.04, 0.01))[0]
        rows.append(
            {
                "idempotency_key": f"bench:{kind}:{number}",
                "guild_id": guild_id,
                "kind": kind,
                "target_type": targets[kind],
                "target_id": user_id if targets[kind] == "user" else guild_id + 1,
                "member_id": user_id,
                "payload": {"user_id": user_id, "stage": 1},
                "status": status,
                "priority": 1,
                "due_at": due,
                "attempts": 1 if status != "pending" else 0,
                "last_error": "403 Cannot send messages to this user"
                if status == "failed"
                else None,
                "created_at": due,
                "sent_at": due + timedelta(seconds=1) if status == "sent" else None,
            }
        )
        if len(rows) == BATCH:
            await _insert(db, OutboxMessage, rows)
            rows = []
    await _insert(db, OutboxMessage, rows)

    rows = []
    actions = ("talk.claim", "talk.resolve", "talk.handoff", "setup.change", "buddy.round")
    for number in range(audit_rows):
        index = rng.randrange(MEMBERS)
        guild_id, user_id = member(index)
        about_member = number % 3 == 0
        rows.append(
            {
                "guild_id": guild_id,
                "actor_id": MODERATOR + index % 20,
                "action": rng.choice(actions),
                "subject_type": "request" if about_member else None,
                "subject_id": number if about_member else None,
                "other_member_id": user_id if about_member else None,
                "detail": {"n": number},
                "created_at": NOW - timedelta(seconds=rng.uniform(0, 365 * 86_400)),
            }
        )
    await _insert(db, AuditEntry, rows)

    profiles, checkins, activity = [], [], []
    for index in erased:
        guild_id, user_id = member(index)
        profiles.append(
            {
                "guild_id": guild_id,
                "user_id": user_id,
                "timezone": "Europe/Madrid",
                "checkin_consent_at": NOW - timedelta(days=400),
                "created_at": NOW - timedelta(days=400),
                "updated_at": NOW,
            }
        )
        for day in range(365):
            local = date(2026, 12, 1) - timedelta(days=day)
            checkins.append(
                {
                    "guild_id": guild_id,
                    "user_id": user_id,
                    "mood": rng.randint(1, 5),
                    "local_day": local,
                    "created_at": datetime.combine(local, datetime.min.time(), UTC),
                }
            )
        activity.append(
            {
                "guild_id": guild_id,
                "user_id": user_id,
                "first_seen_at": NOW - timedelta(days=400),
                "last_seen_at": NOW - timedelta(hours=2),
            }
        )
    await _insert(db, MemberProfile, profiles)
    await _insert(db, Checkin, checkins)
    await _insert(db, MemberActivity, activity)


class Probe:
    """Every PROBE_EVERY seconds, a small write unit of work in its own task; records how
    long each waited to begin."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.waits: list[float] = []
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._number = 0

    async def _one(self, due: float) -> None:
        self._number += 1
        guild_id, user_id = member(MEMBERS + self._number % 1000)  # never an erased member
        async with self.db.session() as session:
            # From when it was due, not from when its task got to run: on SQLite a write
            # unit runs on the event loop's thread, so what it makes others wait for can be
            # the loop itself, not only the writer lock.
            self.waits.append(asyncio.get_running_loop().time() - due)
            session.add(
                Checkin(
                    guild_id=guild_id,
                    user_id=user_id,
                    mood=3,
                    local_day=date(2026, 12, 1),
                    created_at=NOW,
                )
            )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self._stop.is_set():
            task = asyncio.create_task(self._one(due))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            due += PROBE_EVERY
            await asyncio.sleep(max(due - loop.time(), 0))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


@asynccontextmanager
async def probing(db: Database) -> AsyncIterator[Probe]:
    probe = Probe(db)
    runner = asyncio.create_task(probe.run())
    try:
        yield probe
    finally:
        await probe.stop()
        await runner


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def spread(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    median = statistics.median(ordered)
    return f"p50 {ms(median)}  p99 {ms(p99)}  max {ms(ordered[-1])}  (n={len(ordered)})"


async def run(backend: str, folder: Path, args: argparse.Namespace) -> None:
    rng = random.Random(SEED + 1)
    erased = rng.sample(range(MEMBERS), args.erasures)
    async with database(backend, folder) as db:
        started = time.perf_counter()
        await seed(db, args.outbox, args.audit, erased)
        async with db.read() as session:
            outbox_count = await session.scalar(select(func.count()).select_from(OutboxMessage))
            audit_count = await session.scalar(select(func.count()).select_from(AuditEntry))
        print(
            f"[{backend}] seeded {outbox_count:,} outbox rows, {audit_count:,} audit rows, "
            f"{args.erasures} members to erase with 365 check-ins each "
            f"({time.perf_counter() - started:.0f} s)"
        )
        clock = FrozenClock(NOW)
        # The seed (bulk inserts beside the Database) left SQLite a log of ~2.6 GB: a unit of
        # work asks for its checkpoint, which ends before anything is measured.
        async with db.session():
            pass
        await db.checkpointed()

        async with probing(db) as bare:
            await asyncio.sleep(BASELINE_SECONDS)
        print(f"[{backend}] bare probe, nothing else running: wait {spread(bare.waits)}")

        half = len(erased) // 2
        took: list[float] = []
        removed = 0
        for index in erased[:half]:
            guild_id, user_id = member(index)
            began = time.perf_counter()
            result = await member_data.delete_member(db, clock, guild_id, user_id)
            took.append(time.perf_counter() - began)
            removed += sum(result.deleted.values())
            await asyncio.sleep(SPACING)
        print(f"[{backend}] first erasure after start: {ms(took[0])}")
        print(
            f"[{backend}] erasure alone, one unit of work each: {spread(took[1:])}; "
            f"{removed:,} rows removed"
        )
        took = []
        async with probing(db) as during:
            await asyncio.sleep(0.1)
            for index in erased[half:]:
                guild_id, user_id = member(index)
                began = time.perf_counter()
                await member_data.delete_member(db, clock, guild_id, user_id)
                took.append(time.perf_counter() - began)
                await asyncio.sleep(SPACING)
        print(f"[{backend}] erasure beside the probe: {spread(took)}")
        print(f"[{backend}] probe while erasing: wait {spread(during.waits)}")

        if args.no_purge:
            return
        async with db.session() as session:
            await session.execute(
                update(OutboxMessage).values(
                    status="sent",
                    due_at=NOW - timedelta(days=8),
                    sent_at=NOW - timedelta(days=8),
                )
            )
        # That update rewrote every row: let its log be copied back first, or the probe
        # measures the setup (a held pass of ~230 ms on SQLite) instead of the purge.
        await db.checkpointed()
        await asyncio.sleep(0.5)
        await db.checkpointed()
        async with probing(db) as purging:
            await asyncio.sleep(0.05)
            began = time.perf_counter()
            purged = await purge_outbox(db, clock)
            purge_seconds = time.perf_counter() - began
        print(
            f"[{backend}] outbox purge: {purged:,} rows in {purge_seconds:.1f} s "
            f"({purged / purge_seconds:,.0f} rows/s, {OUTBOX_PURGE_CHUNK} a unit of work)"
        )
        print(f"[{backend}] probe while purging: wait {spread(purging.waits)}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outbox", type=int, default=1_000_000)
    parser.add_argument("--audit", type=int, default=100_000)
    parser.add_argument("--erasures", type=int, default=30)
    parser.add_argument("--no-purge", action="store_true", help="part 1 (erasure) only")
    args = parser.parse_args()
    configure_keys([generate_key()])
    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("KINFOLK_BENCH_POSTGRES_URL") else [])
    with tempfile.TemporaryDirectory() as folder:
        for backend in backends:
            await run(backend, Path(folder), args)


if __name__ == "__main__":
    asyncio.run(main())
