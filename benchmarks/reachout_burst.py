"""A burst of reach-out DMs through the local Discord stand-in and its 50 requests/s limit.

The real bot (unmodified discord.py, the real outbox dispatcher and `DiscordSender`, which
paces every REST request at 45 a second) runs against the local stand-in with its default
rate limits: 50 requests a second globally, and 5 requests per 5 s for each route bucket
that has no roomier override. Quiet members who opted in to DMs are seeded in servers of
1,000, each with their own timezone where it is daytime now (so quiet hours hold nothing
back), and one sweep of each server queues their reach-outs exactly as the hourly sweep
does. Then the bot starts and its dispatcher sends them.

Two scenarios:
  (a) known DM channel: each member's DM channel is already stored (as after an earlier
      reach-out), so a DM is one request: POST /channels/{id}/messages.
  (b) first contact: no DM channel is known, so discord.py first opens one with
      POST /users/@me/channels. The stand-in has one bucket of 5 requests per 5 s for that
      route for the whole bot (its default bucket; the route has no override), which holds
      first contacts to about one a second: this scenario sends fewer DMs by default.

The stand-in runs in its own process by default, as Discord is another machine: its own
work (it checks every request body against Discord's OpenAPI schema, about 11 ms a DM on
the development machine) is then not charged to the bot's CPU, though each send still
waits for its answer. `--same-process` runs it on the bot's event loop, as the end-to-end
tests do.

Figures, from the stand-in's request log: wall time from the first to the last send, DMs
a second, REST requests a second (and the most in any one second), and the 429s the
stand-in answered (global or per route); the time the sender's pacer spent waiting (if it
waited little, the bot's own work per DM set the pace, not the pacer); CPU per DM. Halfway
through, a plain channel message is queued (as an escalation alert would be) and the time
until it reaches the stand-in is reported.

    .venv/bin/python -m benchmarks.reachout_burst                     # (a) 10,000, (b) 250
    .venv/bin/python -m benchmarks.reachout_burst --count 2000 --first-contact-count 50
    .venv/bin/python -m benchmarks.reachout_burst --quick              # (a) 500, (b) 20
    .venv/bin/python -m benchmarks.reachout_burst --only a --lanes 4   # 4 sent at once
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import logging
import multiprocessing
import os
import platform
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from bot.client import KinfolkBot, apply_endpoint_overrides
from bot.clock import SystemClock
from bot.config import Settings
from bot.db import migrate
from bot.db.crypto import configure_keys, generate_key
from bot.db.engine import Database
from bot.db.models import (
    GuildSettings,
    MemberActivity,
    MemberProfile,
    OutboxMessage,
    ReachoutSettings,
)
from bot.db.repositories import outbox
from bot.domain.timezones import all_timezones
from bot.heap import freeze_start_up_heap
from bot.jobs.delivery import plain_payload
from bot.jobs.pacing import DEFAULT_PER_SECOND
from bot.services.reachout.sweep import KIND_DM, sweep_guild
from tests.fakediscord import Channel, FakeDiscord, World
from tests.fakediscord.ratelimit import (
    BUCKET_OVERRIDES,
    DEFAULT_BUCKET,
    GLOBAL_LIMIT_PER_SECOND,
    route_template,
)
from tests.fakediscord.world import DM, new_snowflake

COUNT = 10_000
FIRST_CONTACT_COUNT = 250
QUICK = (500, 20)
MEMBERS_PER_SERVER = 1_000
BATCH = 5_000
POLL_SECONDS = 0.25
DM_OPEN = "POST /users/@me/channels"
SEND = "POST /channels/{id}/messages"

Person = tuple[int, int, int | None]  # server, member, their DM channel if already known


# ----- the stand-in, in this process or its own ------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    status: int
    time: float  # time.monotonic() when it arrived (the same clock in both processes)

    @property
    def route(self) -> str:
        return route_template(self.method, self.path)[0]


@dataclass
class Log:
    requests: list[Request]
    answered: dict[str, int]  # 429s, by "scope: route"
    violations: int


class StandIn:
    """The stand-in on this event loop, as the end-to-end tests run it."""

    def __init__(self, world: World) -> None:
        self.fake = FakeDiscord(world, fail_on_violations=False)
        self.answered: Counter[str] = Counter()
        self._seen = 0

    async def start(self) -> tuple[str, str, str]:
        await self.fake.start()
        check = self.fake.limiter.check

        def counted(method: str, path: str, *, counts_globally: bool) -> Any:
            decision = check(method, path, counts_globally=counts_globally)
            if decision.status == 429:
                scope = decision.headers.get("X-RateLimit-Scope", "?")
                self.answered[f"{scope}: {route_template(method, path)[0]}"] += 1
            return decision

        self.fake.limiter.check = counted  # type: ignore[method-assign]
        return self.fake.token, self.fake.api_base, self.fake.gateway_url

    def _finished(self) -> list[Request]:
        """Requests answered since the last call (in arrival order, up to the first still
        being handled)."""
        found = []
        for record in self.fake.requests[self._seen :]:
            if record.status == 0:
                break
            found.append(Request(record.method, record.path, record.status, record.time))
        self._seen += len(found)
        return found

    async def new_requests(self) -> tuple[list[Request], float | None]:
        """Requests answered since the last call, and the stand-in's own CPU seconds so far
        (None: it shares this process)."""
        return self._finished(), None

    def _log(self) -> Log:
        requests = [Request(r.method, r.path, r.status, r.time) for r in self.fake.requests]
        return Log(requests, dict(self.answered), len(self.fake.violations))

    async def finish(self) -> Log:
        log = self._log()
        await self.fake.stop()
        return log


def _serve(world: World, conn: Any) -> None:
    """The stand-in's own process: serve until told to finish, answering the parent."""

    async def serve() -> None:
        stand_in = StandIn(world)
        conn.send(await stand_in.start())
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "new":
                conn.send((stand_in._finished(), time.process_time()))
            else:
                conn.send(await stand_in.finish())
                return

    asyncio.run(serve())


class SeparateStandIn:
    """The stand-in in a forked process (started before the bot's event loop exists)."""

    def __init__(self, world: World) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(world, child), daemon=True)
        self._process.start()

    async def _ask(self, command: str | None) -> Any:
        def ask() -> Any:
            if command is not None:
                self._conn.send(command)
            return self._conn.recv()

        return await asyncio.get_running_loop().run_in_executor(None, ask)

    async def start(self) -> tuple[str, str, str]:
        return await self._ask(None)

    async def new_requests(self) -> tuple[list[Request], float | None]:
        return await self._ask("new")

    async def finish(self) -> Log:
        log = await self._ask("finish")
        self._process.join(10)
        return log


# ----- the world and the database -----------------------------------------------------------


def build_world(count: int, known_channel: bool) -> tuple[World, list[Person]]:
    """Servers of MEMBERS_PER_SERVER with `count` members in all. With `known_channel`
    each member's DM channel exists already (made directly: `dm_channel_for` scans)."""
    world = World()
    people: list[Person] = []
    for number in range(0, count, MEMBERS_PER_SERVER):
        guild = world.add_guild(f"Haven {number // MEMBERS_PER_SERVER + 1}")
        world.add_text_channel(guild.id, "general")
        for index in range(number, min(count, number + MEMBERS_PER_SERVER)):
            member = world.add_member(guild.id, f"member{index}")
            channel = None
            if known_channel:
                dm = Channel(new_snowflake(), DM, "", recipients=[member.id])
                world.channels[dm.id] = dm
                channel = dm.id
            people.append((guild.id, member.id, channel))
    return world, people


def daytime_zones(now: datetime) -> list[str]:
    """Timezones where it is between 09:00 and 19:00 now: nothing waits for quiet hours."""
    return [z for z in all_timezones() if 9 <= now.astimezone(ZoneInfo(z)).hour < 19]


async def _insert(db: Database, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        async with db.engine.begin() as connection:
            await connection.execute(insert(model.__table__), rows[start : start + BATCH])


async def seed(db: Database, people: list[Person]) -> list[int]:
    """Reach-out on in every server; every member quiet for 30 days and opted in, in a
    timezone where it is daytime. Returns the servers."""
    now = datetime.now(UTC)
    zones = daytime_zones(now) or ["UTC"]
    guilds = sorted({g for g, _, _ in people})
    await _insert(
        db,
        GuildSettings,
        [{"guild_id": g, "timezone": "UTC", "created_at": now, "updated_at": now} for g in guilds],
    )
    await _insert(
        db,
        ReachoutSettings,
        [
            {
                "guild_id": g,
                "enabled": True,
                "threshold_days": 14,
                "channel_ids": [],
                "not_opted": "nothing",
                "buddy_nudge": "off",
                "version": 1,
                "updated_at": now,
            }
            for g in guilds
        ],
    )
    seen = now - timedelta(days=30)
    await _insert(
        db,
        MemberActivity,
        [
            {
                "guild_id": g,
                "user_id": u,
                "first_seen_at": seen - timedelta(days=100),
                "last_seen_at": seen,
                "dm_consent": "yes",
                "asked_at": seen - timedelta(days=50),
                "dm_channel_id": channel,
                "stage": 0,
            }
            for g, u, channel in people
        ],
    )
    await _insert(
        db,
        MemberProfile,
        [
            {
                "guild_id": g,
                "user_id": u,
                "timezone": zones[n % len(zones)],
                "reminder_version": 0,
                "created_at": seen,
                "updated_at": seen,
            }
            for n, (g, u, _) in enumerate(people)
        ],
    )
    return guilds


async def queue_probe(db: Database, clock: SystemClock, channel_id: int) -> float:
    """Queue a plain channel message now, as an escalation alert would be; returns when."""
    now = clock.now()
    async with db.session() as session:
        await outbox.enqueue(
            session,
            key=f"bench:probe:{uuid.uuid4().hex}",
            kind="plain",
            target_type="channel",
            target_id=channel_id,
            payload=plain_payload("A message queued in the middle of the burst"),
            due_at=now,
            now=now,
        )
    return time.monotonic()


# ----- the run ------------------------------------------------------------------------------


@dataclass
class Sample:
    """Taken at each poll: when, this process's CPU (event loop, all threads), the
    stand-in's CPU (None in this process), and the DMs sent so far."""

    at: float
    loop_cpu: float
    all_cpu: float
    stand_in_cpu: float | None
    sent: int


@dataclass
class Outcome:
    sends: list[float] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    probe_queued: float | None = None
    probe_sent: float | None = None
    waited: float = 0.0
    log: Log | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    stored: int = 0


async def scenario(
    label: str,
    count: int,
    known_channel: bool,
    world: World,
    people: list[Person],
    stand_in: StandIn | SeparateStandIn,
    folder: Path,
    probe: bool,
    lanes: int | None = None,
) -> None:
    token, api_base, gateway_url = await stand_in.start()
    db = Database(f"sqlite+aiosqlite:///{folder / f'burst-{uuid.uuid4().hex}.db'}")
    await migrate.upgrade(db)
    guilds = await seed(db, people)
    clock = SystemClock()
    started = time.perf_counter()
    queued = 0
    for guild_id in guilds:
        queued += (await sweep_guild(db, clock, guild_id)).dms
    print(
        f"[{label}] {count:,} quiet opted-in members in {len(guilds)} servers; one sweep of "
        f"each queued {queued:,} DMs in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    settings = Settings(
        token=token,
        database_url=db.url,
        api_base=api_base,
        gateway_url=gateway_url,
        outbox_concurrency=lanes,
    )
    print(f"[{label}] outbox lanes: {settings.outbox_lanes}", flush=True)
    apply_endpoint_overrides(settings)
    bot = KinfolkBot(settings=settings, db=db, clock=clock, guild_ready_timeout=0.1)
    task = asyncio.create_task(bot.start(token))
    await asyncio.wait_for(bot.wait_until_ready(), 60)
    freeze_start_up_heap()  # as `kinfolk run` does once ready (bot.runner)
    general = next(c.id for c in world.guild_channels(guilds[0]) if c.name == "general")
    probe_path = f"/channels/{general}/messages"
    out = Outcome()
    deadline = time.monotonic() + 300 + count * (0.3 if known_channel else 5.0)
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        new, stand_in_cpu = await stand_in.new_requests()
        for request in new:
            if request.route == SEND and request.status == 200:
                if request.path == probe_path:
                    out.probe_sent = request.time
                else:
                    out.sends.append(request.time)
        out.samples.append(
            Sample(
                time.monotonic(),
                time.thread_time(),
                time.process_time(),
                stand_in_cpu,
                len(out.sends),
            )
        )
        if probe and out.probe_queued is None and len(out.sends) >= count // 2:
            out.probe_queued = await queue_probe(db, clock, general)
            bot.outbox.wake()
        if len(out.sends) >= count and (out.probe_queued is None or out.probe_sent is not None):
            break
    out.waited = bot.sender.pacer.waited
    await bot.close()
    await asyncio.wait_for(task, 30)
    out.log = await stand_in.finish()
    async with db.session() as session:
        rows = await session.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.kind == KIND_DM)
            .group_by(OutboxMessage.status)
        )
        out.statuses = {status: number for status, number in rows.all()}
        out.stored = (
            await session.scalar(
                select(func.count())
                .select_from(MemberActivity)
                .where(MemberActivity.dm_channel_id.is_not(None))
            )
            or 0
        )
    await db.close()
    report(label, count, out)


def busiest_second(times: list[float]) -> int:
    """The most requests in any window of one second."""
    best = 0
    for index, start in enumerate(times):
        best = max(best, bisect.bisect_left(times, start + 1.0, lo=index) - index)
    return best


def cpu_line(samples: list[Sample]) -> str:
    """CPU a DM between the first poll that saw a DM sent and the last poll."""
    busy = [s for s in samples if s.sent > 0]
    if len(busy) < 2 or busy[-1].sent == busy[0].sent:
        return "too short to measure"
    first, last = busy[0], busy[-1]
    dms = last.sent - first.sent
    loop = (last.loop_cpu - first.loop_cpu) / dms * 1000
    rest = (last.all_cpu - first.all_cpu) / dms * 1000 - loop
    text = f"bot process {loop + rest:.1f} ms (event loop {loop:.1f}, other threads {rest:.1f})"
    if first.stand_in_cpu is not None and last.stand_in_cpu is not None:
        stand_in = (last.stand_in_cpu - first.stand_in_cpu) / dms * 1000
        text += f"; stand-in process {stand_in:.1f} ms"
    else:
        text += " - the stand-in's own work included (same process)"
    return text


def report(label: str, count: int, out: Outcome) -> None:
    assert out.log is not None
    requests = out.log.requests
    if not out.sends:
        print(f"[{label}] nothing was sent; DMs in the outbox by status: {out.statuses}")
        return
    last = out.sends[-1]
    # The burst begins with the first request made for a DM (opening its channel, in b).
    begin = next(r.time for r in requests if r.route in (SEND, DM_OPEN))
    window = [r for r in requests if begin <= r.time <= last]
    seconds = max(last - begin, 1e-9)
    between = max(last - out.sends[0], 1e-9)
    routes = Counter(r.route for r in window)
    print(
        f"[{label}] sent {len(out.sends):,} of {count:,} DMs in {seconds:.1f} s from the first "
        f"request to the last send: {len(out.sends) / seconds:.1f} DMs/s "
        f"({(len(out.sends) - 1) / between:.1f}/s from the first send to the last)"
    )
    print(
        f"[{label}] REST requests in that span: {len(window):,}, {len(window) / seconds:.1f}/s "
        f"(most in any one second: {busiest_second([r.time for r in window])}): "
        + ", ".join(f"{route} {n:,}" for route, n in routes.most_common())
    )
    answered = out.log.answered
    statuses = Counter(r.status for r in requests)
    print(
        f"[{label}] 429s from the stand-in: {sum(answered.values())}"
        + (" (" + ", ".join(f"{k} {n}" for k, n in Counter(answered).most_common()) + ")")
        * bool(answered)
        + f"; all its responses by status: {dict(sorted(statuses.items()))}; "
        f"violations: {out.log.violations}"
    )
    print(
        f"[{label}] the sender's pacer waited {out.waited:.1f} s in all ({out.waited / seconds:.0%}"
        f" of the span); DMs in the outbox by status: {out.statuses}; members with a stored "
        f"DM channel afterwards: {out.stored:,}"
    )
    print(f"[{label}] CPU a DM: {cpu_line(out.samples)}")
    if out.probe_queued is not None and out.probe_sent is not None:
        print(
            f"[{label}] a plain channel message queued when half the DMs were out reached the "
            f"stand-in {out.probe_sent - out.probe_queued:.1f} s later"
        )


class RateLimitLog(logging.Handler):
    """Counts discord.py's own warnings about rate limits (and keeps them quiet)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "rate limit" in record.getMessage().lower()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reachout_burst",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--count", type=int, default=COUNT, help="DMs in scenario (a)")
    parser.add_argument(
        "--first-contact-count",
        type=int,
        default=FIRST_CONTACT_COUNT,
        help=f"DMs in scenario (b) (default {FIRST_CONTACT_COUNT}: about one a second)",
    )
    parser.add_argument("--only", choices=("a", "b"), help="run one scenario")
    parser.add_argument(
        "--same-process",
        action="store_true",
        help="run the stand-in on the bot's event loop, as the end-to-end tests do",
    )
    parser.add_argument("--no-probe", action="store_true", help="queue no message mid-burst")
    parser.add_argument(
        "--lanes", type=int, help="outbox messages sent at once (OUTBOX_CONCURRENCY; default 1)"
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK[0]} and {QUICK[1]} DMs")
    args = parser.parse_args()
    if args.quick:
        args.count, args.first_contact_count = QUICK

    logging.basicConfig(level=logging.WARNING)
    limited = RateLimitLog()
    http_log = logging.getLogger("discord.http")
    http_log.addHandler(limited)
    http_log.propagate = False
    configure_keys([generate_key()])
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"stand-in ({'on the bot event loop' if args.same_process else 'its own process'}): "
        f"{GLOBAL_LIMIT_PER_SECOND} requests/s globally; {DEFAULT_BUCKET[0]} per "
        f"{DEFAULT_BUCKET[1]:g} s per route bucket: per DM channel for {SEND}, one for the bot "
        f"for {DM_OPEN} {BUCKET_OVERRIDES.get(DM_OPEN, DEFAULT_BUCKET)}; the sender paces "
        f"each request at {DEFAULT_PER_SECOND:g}/s"
    )
    runs = []
    if args.only in (None, "a"):
        runs.append(("a: known DM channel", args.count, True))
    if args.only in (None, "b"):
        runs.append(("b: first contact", args.first_contact_count, False))
        if args.first_contact_count < args.count:
            print(
                f"[b: first contact] {args.first_contact_count:,} DMs, not {args.count:,}: "
                f"at about one a second {args.count:,} would take "
                f"{args.count / 3600:.1f} hours"
            )
    with tempfile.TemporaryDirectory() as folder:
        for label, count, known_channel in runs:
            world, people = build_world(count, known_channel)
            # Forked before the bot's event loop, threads and database exist.
            stand_in = StandIn(world) if args.same_process else SeparateStandIn(world)
            asyncio.run(
                scenario(
                    label,
                    count,
                    known_channel,
                    world,
                    people,
                    stand_in,
                    Path(folder),
                    not args.no_probe,
                    args.lanes,
                )
            )
    print(f"discord.py's own rate-limit warnings: {limited.count}")


if __name__ == "__main__":
    main()
