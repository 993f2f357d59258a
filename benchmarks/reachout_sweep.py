"""The inactivity sweep over many members on SQLite: seconds per full sweep, and its growth.

For each size, a fresh SQLite file is migrated as `kinfolk run` migrates it and seeded with
bulk Core inserts: SERVERS servers with reach-out switched on, and members spread evenly
over them. Each member has a last-seen time (82% active within the 14-day threshold, 18%
quiet for 14 days to a year), a DM consent (30% yes, 55% never answered, 15% no; 3% of the
yes have closed DMs), and 3% have left the server. 40% of members have a profile, 60% of
those with their own timezone; 70% of servers have a timezone. Members have per-day
activity counts (about --days-per-member days each, up to 95 days back), which the sweep
purges after 90 days. Nobody has been reached yet: the first sweep is the one right after
reach-out was switched on everywhere, the worst case. No buddy rounds are seeded.

A full sweep is what the outbox dispatcher does in an hour: `SweepAllHandler.prepare` once
for every server together (queue the next hour's sweep; one read that finds the members to
look at across servers; a unit of work per SWEEP_CHUNK of them). The dispatcher's own claim
and mark of the sweep row (two small units of work) are not included; nor is the midnight
sweep's forgetting of old day counts (the clock is at half past noon). The first sweep
queues the DMs; the second, an hour later on the injected clock, is the steady state and
should find almost nothing to do.

Each size runs in its own process, so its peak RSS (VmHWM, reset just before the first
sweep) is its own. CPU is split into the event loop's thread (Python: SQLAlchemy, the sweep)
and the rest (aiosqlite's thread: SQLite and the driver). "Longest unit of work" is the
longest a chunk's unit took: SQLite's one writer (and the in-process write lock) is held
that long, so every other write in the bot (a /talk, a check-in) can wait that long.

    .venv/bin/python -m benchmarks.reachout_sweep                      # 100k, 250k, 500k, 1M
    .venv/bin/python -m benchmarks.reachout_sweep --quick              # 10k and 50k
    .venv/bin/python -m benchmarks.reachout_sweep --sizes 1000000 --profile
    .venv/bin/python -m benchmarks.reachout_sweep --sizes 100000 --servers 10   # big servers
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import multiprocessing
import os
import platform
import pstats
import queue
import random
import re
import resource
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bot.db import migrate
from bot.db.engine import Database
from bot.db.models import (
    ActivityDay,
    GuildSettings,
    MemberActivity,
    MemberProfile,
    OutboxMessage,
    ReachoutSettings,
)
from bot.jobs.delivery import Done, QueuedMessage
from bot.services.reachout.sweep import KIND_DM, KIND_SWEEP_ALL, SweepAllHandler
from tests.helpers import FrozenClock

SEED = 2026
SERVERS = 1_000
SIZES = (100_000, 250_000, 500_000, 1_000_000)
QUICK_SIZES = (10_000, 50_000)
BATCH = 50_000
THRESHOLD_DAYS = 14
QUIET_SHARE = 0.18
LEFT_SHARE = 0.03
CONSENT = (("yes", 0.30), (None, 0.55), ("no", 0.15))
CLOSED_SHARE = 0.03  # of the members who said yes
PROFILE_SHARE, OWN_TZ_SHARE = 0.40, 0.60
DAYS_BACK = 95  # the sweep keeps 90 days of counts
ZONES = (
    "Europe/London",
    "Europe/Berlin",
    "Europe/Helsinki",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Africa/Lagos",
)
GUILD_BASE = 1_100_000_000_000_000_000
USER_BASE = 1_200_000_000_000_000_000
DONE = re.compile(r"swept: (\d+) to look at, (\d+) DMs and (\d+) buddy nudges")


@dataclass
class Sweep:
    seconds: float
    loop_cpu: float
    other_cpu: float
    looked_at: int
    dms: int
    nudges: int
    longest: float  # the longest one server took (several units of work since the chunking)
    longest_unit: float  # the longest one unit of work took: how long SQLite's writer was held


@dataclass
class Figures:
    members: int
    servers: int
    quiet: int
    day_rows: int
    seed_seconds: float
    db_mib: float
    first: Sweep
    second: Sweep
    rss_before_mib: float
    rss_peak_mib: float
    dm_rows: int


# ----- seeding -------------------------------------------------------------------------------


def _consent(rng: random.Random) -> str | None:
    r = rng.random()
    for value, share in CONSENT:
        if r < share:
            return value
        r -= share
    return None


def _member_rows(
    rng: random.Random, guild_id: int, first_user: int, count: int, now: datetime, keep_days: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    members: list[dict[str, Any]] = []
    profiles: list[dict[str, Any]] = []
    days: list[dict[str, Any]] = []
    today = now.date().toordinal()
    for number in range(count):
        user_id = first_user + number
        if rng.random() < QUIET_SHARE:
            idle = timedelta(days=THRESHOLD_DAYS + min(351.0, rng.expovariate(1 / 40)))
        else:
            idle = timedelta(days=rng.random() * (THRESHOLD_DAYS - 0.01))
        last_seen = now - idle
        first_seen = last_seen - timedelta(days=rng.random() * 400)
        consent = _consent(rng)
        asked = first_seen + (last_seen - first_seen) * rng.random() if consent else None
        members.append(
            {
                "guild_id": guild_id,
                "user_id": user_id,
                "first_seen_at": first_seen,
                "last_seen_at": last_seen,
                "left_at": last_seen + timedelta(days=1) if rng.random() < LEFT_SHARE else None,
                "dm_consent": consent,
                "asked_at": asked,
                "consent_changed_at": asked,
                "dms_closed_at": asked
                if consent == "yes" and rng.random() < CLOSED_SHARE
                else None,
                "quiet_start": "23:00" if rng.random() < 0.05 else None,
                "quiet_end": None,
                "stage": 0,
            }
        )
        if rng.random() < PROFILE_SHARE:
            profiles.append(
                {
                    "guild_id": guild_id,
                    "user_id": user_id,
                    "timezone": rng.choice(ZONES) if rng.random() < OWN_TZ_SHARE else None,
                    "reminder_version": 0,
                    "created_at": first_seen,
                    "updated_at": first_seen,
                }
            )
        if keep_days and idle.days <= DAYS_BACK:
            # Days on which they were active: the last-seen day and a few before it.
            last_day = today - idle.days
            span = range(max(today - DAYS_BACK, last_day - 60), last_day)
            extra = min(len(span), rng.randint(0, 2 * keep_days - 2))
            for day in (last_day, *rng.sample(span, extra)):
                days.append(
                    {
                        "guild_id": guild_id,
                        "user_id": user_id,
                        "day": date.fromordinal(day),
                        "messages": rng.randint(1, 20),
                        "reactions": rng.randint(0, 5),
                        "checkins": 0,
                        "commands": 0,
                    }
                )
    return members, profiles, days


async def _insert(db: Database, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        async with db.engine.begin() as connection:
            await connection.execute(insert(model.__table__), rows[start : start + BATCH])


async def seed(
    db: Database, members: int, servers: int, now: datetime, days_per_member: int
) -> tuple[int, int]:
    """Servers and members as described above; returns (quiet members, day rows)."""
    rng = random.Random(SEED + members)
    guilds = [GUILD_BASE + number for number in range(servers)]
    await _insert(
        db,
        GuildSettings,
        [
            {
                "guild_id": g,
                "timezone": rng.choice(ZONES) if rng.random() < 0.7 else "UTC",
                "created_at": now - timedelta(days=400),
                "updated_at": now - timedelta(days=400),
            }
            for g in guilds
        ],
    )
    await _insert(
        db,
        ReachoutSettings,
        [
            {
                "guild_id": g,
                "enabled": True,
                "threshold_days": THRESHOLD_DAYS,
                "channel_ids": [],
                "not_opted": rng.choice(("nothing",) * 7 + ("digest",) * 2 + ("buddy",)),
                "buddy_nudge": "before" if rng.random() < 0.1 else "off",
                "version": 1,
                "updated_at": now - timedelta(days=1),
            }
            for g in guilds
        ],
    )
    per_server = members // servers
    cutoff = now - timedelta(days=THRESHOLD_DAYS)
    quiet = day_rows = 0
    pending: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]] = ([], [], [])
    for index, guild_id in enumerate(guilds):
        rows = _member_rows(
            rng, guild_id, USER_BASE + index * per_server, per_server, now, days_per_member
        )
        quiet += sum(1 for r in rows[0] if r["last_seen_at"] < cutoff and r["left_at"] is None)
        day_rows += len(rows[2])
        for into, new in zip(pending, rows, strict=True):
            into.extend(new)
        if len(pending[0]) >= BATCH or index == len(guilds) - 1:
            for model, batch in zip(
                (MemberActivity, MemberProfile, ActivityDay), pending, strict=True
            ):
                await _insert(db, model, batch)
                batch.clear()
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        # Outside any transaction (the engine opens each with BEGIN IMMEDIATE).
        await raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return quiet, day_rows


# ----- measuring ----------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(found.group(1)) if found else 0


def reset_peak_rss() -> None:
    """Linux: make VmHWM (peak RSS) start again from the current RSS."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def files_mib(folder: Path, prefix: str) -> float:
    return sum(p.stat().st_size for p in folder.glob(f"{prefix}*")) / 2**20


async def full_sweep(db: Database, clock: FrozenClock, guilds: list[int]) -> Sweep:
    """The hourly sweep of every server: `SweepAllHandler.prepare` once, as the dispatcher
    runs it (a read that finds who to look at, then a unit of work per SWEEP_CHUNK)."""
    handler = SweepAllHandler(db, clock)
    longest_unit = 0.0
    real_session = db.session

    @contextlib.asynccontextmanager
    async def timed_session() -> Any:
        nonlocal longest_unit
        began = time.perf_counter()
        async with real_session() as session:
            yield session
        longest_unit = max(longest_unit, time.perf_counter() - began)

    db.session = timed_session  # type: ignore[method-assign]
    slot = clock.now().replace(minute=0, second=0, microsecond=0)
    message = QueuedMessage(
        id=0,
        key=f"bench:sweep-all:{slot.isoformat()}",
        kind=KIND_SWEEP_ALL,
        guild_id=None,
        target_type="channel",
        target_id=0,
        payload={"slot": slot.isoformat()},
        attempts=1,
    )
    wall, loop_cpu, all_cpu = time.perf_counter(), time.thread_time(), time.process_time()
    done = await handler.prepare(message)
    wall = time.perf_counter() - wall
    loop_cpu = time.thread_time() - loop_cpu
    other_cpu = time.process_time() - all_cpu - loop_cpu
    db.session = real_session  # type: ignore[method-assign]
    if not isinstance(done, Done) or (counts := DONE.search(done.reason)) is None:
        raise RuntimeError(f"the sweep did not run: {done}")
    return Sweep(
        wall,
        loop_cpu,
        other_cpu,
        int(counts[1]),
        int(counts[2]),
        int(counts[3]),
        wall,
        longest_unit,
    )


def print_profile(profiler: cProfile.Profile, title: str, lines: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(lines)
    print(f"----- cProfile: {title} (event-loop thread only; times inflated by profiling)")
    print(out.getvalue())


async def measure(
    members: int, servers: int, days_per_member: int, profile: bool, folder: Path
) -> Figures:
    db = Database(f"sqlite+aiosqlite:///{folder / f'sweep-{members}.db'}")
    try:
        await migrate.upgrade(db)
        # Half past noon: not the midnight sweep, which also forgets old activity days.
        now = datetime.now(UTC).replace(hour=12, minute=30, second=0, microsecond=0)
        started = time.perf_counter()
        quiet, day_rows = await seed(db, members, servers, now, days_per_member)
        seed_seconds = time.perf_counter() - started
        db_mib = files_mib(folder, f"sweep-{members}.db")
        async with db.session() as session:
            guilds = list(
                await session.scalars(
                    select(ReachoutSettings.guild_id).order_by(ReachoutSettings.guild_id)
                )
            )
        clock = FrozenClock(now)
        rss_before = _status_kib("VmRSS")
        reset_peak_rss()
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        first = await full_sweep(db, clock, guilds)
        if profiler:
            profiler.disable()
            print_profile(profiler, f"first sweep, {members:,} members", 30)
            profiler = cProfile.Profile()
            profiler.enable()
        clock.advance(hours=1)
        second = await full_sweep(db, clock, guilds)
        if profiler:
            profiler.disable()
            print_profile(profiler, f"second sweep, {members:,} members", 20)
        rss_peak = _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        async with db.session() as session:
            dm_rows = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == KIND_DM)
            )
        return Figures(
            members=members,
            servers=servers,
            quiet=quiet,
            day_rows=day_rows,
            seed_seconds=seed_seconds,
            db_mib=db_mib,
            first=first,
            second=second,
            rss_before_mib=rss_before / 1024,
            rss_peak_mib=rss_peak / 1024,
            dm_rows=dm_rows or 0,
        )
    finally:
        await db.close()


def _child(members: int, servers: int, days_per_member: int, profile: bool, results: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        figures = asyncio.run(measure(members, servers, days_per_member, profile, Path(folder)))
    results.put(asdict(figures))


def run_size(members: int, servers: int, days_per_member: int, profile: bool) -> Figures:
    context = multiprocessing.get_context("spawn")  # a clean process: its peak RSS is its own
    results = context.Queue()
    child = context.Process(
        target=_child, args=(members, servers, days_per_member, profile, results)
    )
    child.start()
    try:
        while True:
            try:
                raw = results.get(timeout=1)
                break
            except queue.Empty:
                if not child.is_alive():
                    raise SystemExit(f"the run of {members:,} members failed") from None
    finally:
        child.join()
    raw["first"], raw["second"] = Sweep(**raw["first"]), Sweep(**raw["second"])
    return Figures(**raw)


def describe(label: str, sweep: Sweep, members: int) -> str:
    per_member = sweep.seconds / members * 1e6
    return (
        f"{label}: {sweep.seconds:7.2f} s ({per_member:5.1f} us a member; CPU: event loop "
        f"{sweep.loop_cpu:6.2f} s, SQLite thread {sweep.other_cpu:5.2f} s; the whole sweep "
        f"{sweep.longest * 1000:,.0f} ms, longest unit of work {sweep.longest_unit * 1000:,.0f} ms)"
        f" - looked at {sweep.looked_at:,}, queued "
        f"{sweep.dms:,} DMs and {sweep.nudges:,} buddy nudges"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reachout_sweep",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(n.replace("_", "")) for n in s.split(",")],
        default=None,
        help="members in all, comma-separated (default 100000,250000,500000,1000000)",
    )
    parser.add_argument("--servers", type=int, default=SERVERS, help="servers (default 1000)")
    parser.add_argument(
        "--days-per-member",
        type=int,
        default=4,
        help="mean days of activity counts a member (default 4; 0: none)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the sweeps (slower; figures inflated)"
    )
    parser.add_argument("--quick", action="store_true", help="10,000 and 50,000 members")
    args = parser.parse_args()
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"{args.servers:,} servers with reach-out on (threshold {THRESHOLD_DAYS} days); members "
        f"{QUIET_SHARE:.0%} quiet, {LEFT_SHARE:.0%} left; consent "
        + ", ".join(f"{v or 'unasked'} {s:.0%}" for v, s in CONSENT)
        + f"; about {args.days_per_member} days of counts a member; SQLite "
        f"{sqlite3.sqlite_version}, a file in a temp dir"
    )
    results: list[Figures] = []
    for members in sizes:
        f = run_size(members, args.servers, args.days_per_member, args.profile)
        results.append(f)
        label = f"[{members:>9,} members, {members // args.servers:,} a server]"
        print(
            f"{label} seeded in {f.seed_seconds:.1f} s: {f.quiet:,} quiet and still there, "
            f"{f.day_rows:,} day rows, database {f.db_mib:,.0f} MiB"
        )
        print(f"{label} {describe('first sweep ', f.first, members)}")
        print(f"{label} {describe('second sweep', f.second, members)}")
        print(
            f"{label} peak RSS during the sweeps {f.rss_peak_mib:,.0f} MiB (before them "
            f"{f.rss_before_mib:,.0f} MiB); reach-out DMs in the outbox: {f.dm_rows:,}",
            flush=True,
        )
    if len(results) > 1:
        base = results[0]
        print("growth against the smallest size (members x, first sweep x, second sweep x):")
        for f in results[1:]:
            print(
                f"  {f.members:>9,}: members x{f.members / base.members:4.1f}, first sweep "
                f"x{f.first.seconds / base.first.seconds:4.1f}, second sweep "
                f"x{f.second.seconds / base.second.seconds:4.1f}"
            )


if __name__ == "__main__":
    main()
