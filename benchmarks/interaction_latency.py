"""Interaction latency under load: /checkin, the mood button and /talk, next to a bare command.

The bot runs in its own process, built as `kinfolk run` builds it (`bot.runner.serve`: settings
from the environment, migrations, `KinfolkBot` with the system clock, graceful shutdown on
SIGTERM), plus one bare discord.py command, `/ping`, that only replies. The local Discord
stand-in runs in this process, with roomy rate limits, so its own CPU is not charged to the bot.

Each interaction is timed from the stand-in dispatching INTERACTION_CREATE to the bot's first
callback arriving: the span Discord allows 3 s for. The stand-in's deadline is raised for the
run so that a late answer is still measured rather than refused; answers over 3 s are counted.
Arrivals are open-loop (each fired on schedule whatever the answers so far), SECONDS per rate:

- bare:       `/ping`, answers "pong";
- /checkin:   the first answer (one read: has the member agreed?), the mood buttons;
- mood click: a tap on those buttons, which saves the check-in and updates the message;
- /talk:      saves a request (one unit of work) and answers; the alert then goes out
              through the outbox in the background. After each /talk phase the run waits
              for the alerts to be posted, so the next rate starts with an empty outbox.

Every member acts once per command (one check-in a day, one open request), and has agreed to
check-ins beforehand. The table gives p50/p99/max, answers over 3 s, wrong answers (a /talk
that answered "couldn't save"), the bot's CPU use (all threads, and its event-loop thread)
and the stand-in's, and what the rest of the machine used meanwhile.

    .venv/bin/python -m benchmarks.interaction_latency            # SQLite
    KINFOLK_BENCH_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m benchmarks.interaction_latency        # and PostgreSQL
    ... -m benchmarks.interaction_latency --profile               # 100/s under cProfile

With --profile the bot process runs each phase at 100/s under cProfile (CPU time of its
event-loop thread) and the script prints where that CPU went, grouped by library, with the top
functions; the bot's `Database` is then also timed (units of work, the wait for a connection
and BEGIN, and on SQLite the wait for and hold of the writer lock). cProfile slows the bot
two- to threefold, so the latencies of a profiled run are not the figures to quote.

A whole run takes about 3 minutes per backend (more if the outbox stalls: see RESULTS.md);
the bot's log is kept in a printed temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import os
import platform
import pstats
import resource
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import discord
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bot.client import KinfolkBot, apply_endpoint_overrides
from bot.clock import SystemClock
from bot.config import load_settings
from bot.db import migrate
from bot.db.crypto import configure_keys, generate_key
from bot.db.engine import Database
from bot.db.repositories import checkins as checkin_repo
from bot.logs import configure_logging
from bot.runner import _run_until_signalled
from tests.fakediscord import FakeDiscord, InteractionHandle, World
from tests.fakediscord.messages import all_custom_ids

RATES = (50, 100, 200)
PROFILE_RATES = (100,)
SECONDS = 4.0
DEADLINE = 3.0  # Discord's limit for the first answer
ANSWER_TIMEOUT = 60.0  # how long to wait for the last answer of a phase
DRAIN_TIMEOUT = 60.0  # how long to wait for a /talk phase's alerts
POSTGRES_ENV = "KINFOLK_BENCH_POSTGRES_URL"
PROFILE_ENV = "KINFOLK_BENCH_PROFILE_DIR"
# The bot process writes this file once it is ready and has frozen its start-up heap.
READY_ENV = "KINFOLK_BENCH_READY_FILE"
BARE, CHECKIN, CLICK, TALK = "bare", "/checkin", "mood click", "/talk"
COMMANDS = (BARE, CHECKIN, CLICK, TALK)
TICKS = os.sysconf("SC_CLK_TCK")
REPO = str(Path(__file__).resolve().parent.parent) + "/"


# ----- the bot process ------------------------------------------------------------------------


def add_bare_command(bot: KinfolkBot) -> None:
    @bot.tree.command(name="ping", description="Bare command: replies and does nothing else")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            "pong", ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


class UnitTimes:
    """How long units of work took, and (SQLite) waited for and held the writer lock."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.units: list[float] = []
        self.waits: list[float] = []
        self.holds: list[float] = []
        self.checkouts: list[float] = []
        self.connects = 0

    def summary(self) -> dict[str, float]:
        found: dict[str, float] = {"units": len(self.units), "connects": self.connects}
        for name, values in (
            ("unit", self.units),
            ("wait", self.waits),
            ("hold", self.holds),
            ("checkout", self.checkouts),
        ):
            if len(values) >= 2:
                q = statistics.quantiles(values, n=100, method="inclusive")
                found.update(
                    {f"{name}_p50": q[49], f"{name}_p99": q[98], f"{name}_sum": sum(values)}
                )
        return found


class TimedLock:
    def __init__(self, lock: asyncio.Lock, times: UnitTimes) -> None:
        self.lock, self.times, self.since = lock, times, 0.0

    async def __aenter__(self) -> None:
        asked = time.perf_counter()
        await self.lock.acquire()
        self.since = time.perf_counter()
        self.times.waits.append(self.since - asked)

    async def __aexit__(self, *exc: object) -> None:
        self.times.holds.append(time.perf_counter() - self.since)
        self.lock.release()


class TimedDatabase(Database):
    """`Database` that also times its units of work (used with --profile only)."""

    def __init__(self, url: str, times: UnitTimes) -> None:
        super().__init__(url)
        self.times = times
        if self._sqlite_writer is not None:
            self._sqlite_writer = TimedLock(self._sqlite_writer, times)  # type: ignore[assignment]
        event.listen(self.engine.sync_engine, "connect", self._connected)

    def _connected(self, *_: object) -> None:
        self.times.connects += 1

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        started = time.perf_counter()
        try:
            async with super().session() as session:
                asked = time.perf_counter()
                await session.connection()  # pool checkout and BEGIN, at once rather than lazily
                self.times.checkouts.append(time.perf_counter() - asked)
                yield session
        finally:
            self.times.units.append(time.perf_counter() - started)


class PhaseProfiler:
    """SIGUSR1 starts cProfile on the event-loop thread (and the unit-of-work timing);
    SIGUSR2 stops it and writes `phase-N.prof` and `phase-N.json` (N from 1) into `folder`."""

    def __init__(self, folder: Path, times: UnitTimes) -> None:
        self.folder = folder
        self.times = times
        self.profile: cProfile.Profile | None = None
        self.count = 0
        self.started = 0.0

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGUSR1, self.start)
        loop.add_signal_handler(signal.SIGUSR2, self.stop)

    def start(self) -> None:
        self.times.reset()
        self.started = time.perf_counter()
        # CPU time of this thread, not wall time: on a busy machine wall time would charge
        # to whatever function was running the moments the OS ran something else.
        self.profile = cProfile.Profile(time.thread_time)
        self.profile.enable()

    def stop(self) -> None:
        if self.profile is None:
            return
        self.profile.disable()
        self.count += 1
        base = self.folder / f"phase-{self.count}"
        found = {**self.times.summary(), "window": time.perf_counter() - self.started}
        base.with_suffix(".json").write_text(json.dumps(found))
        self.profile.dump_stats(base.with_suffix(".part"))
        base.with_suffix(".part").replace(base.with_suffix(".prof"))
        self.profile = None


async def bot_process() -> int:
    """What `bot.runner.serve` does, with `/ping` added to the tree before it syncs."""
    settings = load_settings(os.environ)
    configure_logging(settings.log_level, settings.secrets)
    token = settings.require_token()
    configure_keys(settings.require_encryption_keys())
    apply_endpoint_overrides(settings)
    profiling = PROFILE_ENV in os.environ
    times = UnitTimes()
    database = (
        TimedDatabase(settings.database_url, times)
        if profiling
        else Database(settings.database_url)
    )
    try:
        await migrate.upgrade(database)
        bot = KinfolkBot(settings=settings, db=database, clock=SystemClock())
        add_bare_command(bot)
        if profiling:
            profiler = PhaseProfiler(Path(os.environ[PROFILE_ENV]), times)
            profiler.install(asyncio.get_running_loop())
        announcing = asyncio.create_task(announce_ready(bot, Path(os.environ[READY_ENV])))
        try:
            return await _run_until_signalled(bot, database, token)
        finally:
            announcing.cancel()
    finally:
        await database.close()


async def announce_ready(bot: KinfolkBot, path: Path) -> None:
    """Write `path` once the bot is ready and the runner's heap freeze (a full collection,
    tens of milliseconds) is behind it, so that no phase is timed across either."""
    await bot.wait_until_ready()
    await asyncio.sleep(0.5)
    await asyncio.to_thread(path.write_text, "ready")


def process_cpu(pid: int) -> tuple[float, float]:
    """(all threads, the main thread) CPU seconds of process `pid` so far."""

    def seconds(stat_path: str) -> float:
        with open(stat_path) as stat:
            text = stat.read()
        fields = text[text.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    return seconds(f"/proc/{pid}/stat"), seconds(f"/proc/{pid}/task/{pid}/stat")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class BotProcess:
    def __init__(self, process: asyncio.subprocess.Process, profile_dir: Path | None) -> None:
        self.process = process
        self.profile_dir = profile_dir
        self.profiles = 0

    @classmethod
    async def start(
        cls, env: dict[str, str], log_path: Path, profile_dir: Path | None
    ) -> BotProcess:
        if profile_dir is not None:
            env = {**env, PROFILE_ENV: str(profile_dir)}
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.interaction_latency",
                "--bot",
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        return cls(process, profile_dir)

    def cpu(self) -> tuple[float, float]:
        return process_cpu(self.process.pid)

    def rss(self) -> float:
        """The bot process's resident memory now, in MiB (/proc, VmRSS)."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc status")

    async def wait_announced(self, ready_file: Path) -> None:
        """Until the bot process has written `ready_file` (`announce_ready`)."""
        for _ in range(1200):
            if await asyncio.to_thread(ready_file.exists) or self.process.returncode is not None:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("the bot process never became ready")

    def profile_start(self) -> None:
        self.process.send_signal(signal.SIGUSR1)

    async def profile_stop(self) -> Path:
        assert self.profile_dir is not None
        self.process.send_signal(signal.SIGUSR2)
        self.profiles += 1
        path = self.profile_dir / f"phase-{self.profiles}.prof"
        for _ in range(600):
            if path.exists():
                return path
            await asyncio.sleep(0.05)
        raise RuntimeError(f"the bot process wrote no profile {path}")

    async def stop(self) -> int | None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode


# ----- databases ------------------------------------------------------------------------------


@asynccontextmanager
async def database_url(backend: str, folder: Path) -> AsyncIterator[str]:
    """A fresh SQLite file, or a fresh PostgreSQL database (dropped afterwards); the bot
    process migrates it at start, as `kinfolk run` does."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / f'latency-{uuid.uuid4().hex}.db'}"
        return
    url = make_url(os.environ[POSTGRES_ENV])
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"kinfolk_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def give_consent(url: str, guild_id: int, members: list[int]) -> None:
    """Every check-in member has agreed to check-ins kept (the usual case after day one)."""
    db = Database(url)
    now = datetime.now(UTC)
    try:
        async with db.session() as session:
            for member in members:
                await checkin_repo.update_profile(
                    session, guild_id, member, now=now, checkin_consent_at=now
                )
    finally:
        await db.close()


# ----- phases ---------------------------------------------------------------------------------


@dataclass
class Phase:
    backend: str
    rate: int
    command: str
    latencies: list[float] = field(default_factory=list)
    unanswered: int = 0
    wrong: int = 0
    wrong_example: str = ""
    slip: float = 0.0  # worst lateness of a dispatch against its schedule
    wall: float = 0.0
    bot_cpu: float = 0.0  # all threads of the bot process
    bot_loop_cpu: float = 0.0  # its main (event-loop) thread
    standin_cpu: float = 0.0
    machine_busy: float = 0.0  # share of all cores busy, everything on the machine
    note: str = ""

    @property
    def rest_cpu(self) -> float:
        """Cores' worth of CPU used by everything but the bot and this process."""
        cores = self.machine_busy * (os.cpu_count() or 1)
        return cores - (self.bot_cpu + self.standin_cpu) / self.wall

    @property
    def late(self) -> int:
        return sum(1 for value in self.latencies if value > DEADLINE) + self.unanswered

    def quantile(self, which: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[which - 1]


Starter = Callable[[int], Awaitable[InteractionHandle]]
Check = Callable[[dict[str, Any]], bool]


@dataclass
class Bench:
    fake: FakeDiscord
    bot: BotProcess
    backend: str
    guild_id: int
    channel_id: int
    alerts_id: int
    seconds: float
    checkin_members: Iterator[int]
    talk_members: Iterator[int]
    profile: bool
    profiles: list[tuple[str, Path, int]] = field(default_factory=list)

    async def phase(
        self, rate: int, command: str, start_one: Starter, check: Check, count: int | None = None
    ) -> tuple[Phase, list[InteractionHandle]]:
        count = int(rate * self.seconds) if count is None else count
        result = Phase(self.backend, rate, command)
        if self.profile:
            self.bot.profile_start()
            await asyncio.sleep(0.1)
        bot_before, loop_before = self.bot.cpu()
        own_before, ticks_before = own_cpu(), machine_ticks()
        started = time.monotonic()
        handles: list[InteractionHandle] = []
        for number in range(count):
            due = started + number / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            handle = await start_one(number)
            result.slip = max(result.slip, handle.record.dispatched_at - due)
            handles.append(handle)
        deadline = time.monotonic() + ANSWER_TIMEOUT
        for handle in handles:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    handle.record.responded.wait(), max(0.0, deadline - time.monotonic())
                )
        result.wall = time.monotonic() - started
        bot_after, loop_after = self.bot.cpu()
        busy_after, total_after = machine_ticks()
        result.bot_cpu, result.bot_loop_cpu = bot_after - bot_before, loop_after - loop_before
        result.standin_cpu = own_cpu() - own_before
        result.machine_busy = (busy_after - ticks_before[0]) / max(1, total_after - ticks_before[1])
        for handle in handles:
            record = handle.record
            if record.response is None or record.response_at is None:
                result.unanswered += 1
                continue
            result.latencies.append(record.response_at - record.dispatched_at)
            if not check(record.response):
                result.wrong += 1
                data = record.response.get("data") or {}
                result.wrong_example = result.wrong_example or str(data.get("content"))[:80]
        if self.profile:
            path = await self.bot.profile_stop()
            self.profiles.append((f"{command} at {rate}/s", path, count))
        return result, handles

    async def run_rate(self, rate: int) -> list[Phase]:
        fake, where = self.fake, (self.guild_id, self.channel_id)
        phases: list[Phase] = []

        bare, _ = await self.phase(
            rate,
            BARE,
            lambda n: fake.invoke(*where, next(self.checkin_members), "ping"),
            lambda body: body.get("type") == 4 and body["data"].get("content") == "pong",
        )
        phases.append(bare)

        members = [next(self.checkin_members) for _ in range(int(rate * self.seconds))]
        mood_ids = [f"checkin:mood:{self.guild_id}:{mood}" for mood in range(1, 6)]
        checkin, opened = await self.phase(
            rate,
            CHECKIN,
            lambda n: fake.invoke(*where, members[n], "checkin"),
            lambda body: body.get("type") == 4 and mood_ids[2] in custom_ids(body),
        )
        phases.append(checkin)

        pickers = [(h.record.original, h.record.user_id) for h in opened if h.record.original]
        click, _ = await self.phase(
            rate,
            CLICK,
            lambda n: fake.click(pickers[n][0], mood_ids[n % 5], pickers[n][1]),
            lambda body: (
                body.get("type") == 7 and str(body["data"].get("content", "")).startswith("Saved:")
            ),
            count=len(pickers),
        )
        phases.append(click)

        alerts_before = len(fake.messages(self.alerts_id))
        talk, answered = await self.phase(
            rate,
            TALK,
            lambda n: fake.invoke(
                *where, next(self.talk_members), "talk", options={"feeling": "struggling"}
            ),
            lambda body: (
                body.get("type") == 4
                and any(cid.startswith("talk:cancel:") for cid in custom_ids(body))
            ),
        )
        phases.append(talk)
        # Let the outbox post this phase's alerts before the next rate starts.
        opened_requests = len(answered) - talk.wrong - talk.unanswered
        during = len(fake.messages(self.alerts_id)) - alerts_before
        if self.profile:
            self.bot.profile_start()
        drain_started = time.monotonic()
        drain_cpu_before, _ = self.bot.cpu()
        with contextlib.suppress(AssertionError):  # not all posted in time: reported below
            await fake.wait_for(
                lambda: len(fake.messages(self.alerts_id)) - alerts_before >= opened_requests,
                DRAIN_TIMEOUT,
                "alerts",
            )
        drain_cpu = self.bot.cpu()[0] - drain_cpu_before
        posted = len(fake.messages(self.alerts_id)) - alerts_before
        if self.profile:
            path = await self.bot.profile_stop()
            self.profiles.append(
                (f"the rest of the alerts after /talk at {rate}/s", path, posted - during)
            )
        talk.note = (
            f"alerts: {during} of {opened_requests} posted by the last answer, "
            f"{posted} after {time.monotonic() - drain_started:.1f} s more"
        )
        if posted - during >= 20:
            # After the last answer the bot does nothing but post the rest of the alerts (and
            # their ladder rows' bookkeeping): its CPU then is the outbox's per alert, and
            # the phase's CPU less the alerts posted within it is the interactions' own.
            per_alert = drain_cpu / (posted - during)
            own = (talk.bot_cpu - during * per_alert) / max(1, len(answered))
            talk.note += (
                f"; outbox CPU {per_alert * 1000:.1f} ms an alert (after the last answer), "
                f"so /talk's own {own * 1000:.1f} ms an interaction"
            )
        return phases


def custom_ids(body: dict[str, Any]) -> list[str]:
    """The custom ids in an interaction response's body."""
    return all_custom_ids((body.get("data") or {}).get("components") or [])


# ----- a run ----------------------------------------------------------------------------------


@asynccontextmanager
async def bot_against_standin(
    world: World, backend: str, folder: Path, logs: Path, profile_dir: Path | None = None
) -> AsyncIterator[tuple[FakeDiscord, str, BotProcess]]:
    """The stand-in (roomy rate limits, late answers measured rather than refused), a fresh
    database, and the bot process against them, ready and its commands synced; on the way
    out the bot is stopped and the error lines of its log are reported."""
    async with (
        FakeDiscord(
            world, bucket=(100_000, 1.0), global_limit=100_000, fail_on_violations=False
        ) as fake,
        database_url(backend, folder) as url,
    ):
        fake.response_deadline = ANSWER_TIMEOUT
        env = {
            **os.environ,
            "DISCORD_TOKEN": fake.token,
            "DATABASE_URL": url,
            "DISCORD_API_BASE": fake.api_base,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "ENCRYPTION_KEY": generate_key(),
            "LOG_LEVEL": "WARNING",
            READY_ENV: str(logs / f"ready-{backend}-{uuid.uuid4().hex[:8]}"),
        }
        log_path = logs / f"bot-{backend}.log"
        bot = await BotProcess.start(env, log_path, profile_dir)
        try:
            await fake.wait_ready(timeout=120)
            await fake.wait_commands_synced(timeout=60)
            await bot.wait_announced(Path(env[READY_ENV]))
            # The stand-in is Discord, not the bot: keep its own full garbage collections
            # (its world of members, the test tooling) out of the measured answers, as the bot
            # keeps its own (`bot.heap`, done by the runner once ready).
            gc.collect()
            gc.freeze()
            yield fake, url, bot
        finally:
            gc.unfreeze()
            code = await bot.stop()
            problems = [
                line
                for line in log_path.read_text(errors="replace").splitlines()
                if "Traceback" in line or " ERROR " in line or "CRITICAL" in line
            ]
            print(
                f"[{backend}] bot process exit code {code}; error lines in its log "
                f"({log_path}): {len(problems)}; stand-in violations (invalid bodies etc.): "
                f"{len(fake.violations)}"
            )
            for line in problems[:5] + fake.violations[:5]:
                print(f"    {line[:160]}")


async def run_backend(
    backend: str, folder: Path, logs: Path, rates: tuple[int, ...], seconds: float, profile: bool
) -> tuple[list[Phase], list[tuple[str, Path, int]]]:
    world = World()
    guild = world.add_guild("Bench")
    general = world.add_text_channel(guild.id, "general")
    alerts = world.add_text_channel(guild.id, "alerts")
    support = world.add_text_channel(guild.id, "support")
    mods = world.add_role(guild.id, "Moderators")
    per_command = sum(int(rate * seconds) for rate in rates)
    checkin_pool = [world.add_member(guild.id, f"c{n}").id for n in range(2 * per_command)]
    talk_pool = [world.add_member(guild.id, f"t{n}").id for n in range(per_command)]
    profile_dir = folder / f"profiles-{backend}" if profile else None
    if profile_dir is not None:
        profile_dir.mkdir()
    async with bot_against_standin(world, backend, folder, logs, profile_dir) as (fake, url, bot):
        # Check-ins: the /checkin pool is used twice per rate (bare, /checkin), and only
        # /checkin members need to have agreed; agreeing all of them costs one transaction.
        await give_consent(url, guild.id, checkin_pool)
        setup = await fake.invoke(
            guild.id,
            general.id,
            world.guilds[guild.id].owner_id,
            "setup escalation",
            options={
                "alert_channel": alerts.id,
                "moderator_role": mods.id,
                "support_channel": support.id,
            },
        )
        await setup.response(timeout=30)
        bench = Bench(
            fake,
            bot,
            backend,
            guild.id,
            general.id,
            alerts.id,
            seconds,
            iter(checkin_pool),
            iter(talk_pool),
            profile,
        )
        phases: list[Phase] = []
        for rate in rates:
            phases += await bench.run_rate(rate)
            for line in table(phases[-len(COMMANDS) :]):
                print(line, flush=True)
    return phases, bench.profiles


# ----- reporting ------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


HEADER = (
    "backend     rate  command        n    p50 ms   p99 ms   max ms  >3s  wrong"
    "  bot CPU% (loop)  CPU ms/ix  stand-in%  rest%  slip ms"
)
LEGEND = (
    "p50/p99/max: dispatch to first callback; >3s: answers later than Discord allows; wrong:"
    " an answer other than the expected one; bot CPU%: the bot process, all threads (its"
    " event-loop thread), in % of one core; CPU ms/ix: bot CPU per interaction (for /talk with"
    " the outbox's work); stand-in%: this process; rest%: everything else on the machine, in %"
    " of one core (PostgreSQL, other users); slip: worst lateness of a dispatch against the"
    " schedule."
)


def table(phases: list[Phase]) -> list[str]:
    lines = []
    for p in phases:
        n = len(p.latencies) + p.unanswered
        lines.append(
            f"{p.backend:10s} {p.rate:4d}/s {p.command:11s} {n:5d} {ms(p.quantile(50))} "
            f"{ms(p.quantile(99))} {ms(max(p.latencies, default=float('nan')))} {p.late:4d} "
            f"{p.wrong:6d}  {p.bot_cpu / p.wall * 100:6.0f} ({p.bot_loop_cpu / p.wall * 100:3.0f})"
            f"  {p.bot_cpu / max(n, 1) * 1000:9.1f}  {p.standin_cpu / p.wall * 100:9.0f}"
            f"  {max(0.0, p.rest_cpu) * 100:5.0f}  {p.slip * 1000:7.1f}"
        )
        if p.wrong:
            lines.append(f"    {p.wrong} wrong answer(s), e.g. {p.wrong_example!r}")
        if p.note:
            lines.append(f"    {p.note}")
    return lines


def overheads(phases: list[Phase]) -> list[str]:
    bare = {(p.backend, p.rate): p for p in phases if p.command == BARE}
    lines = []
    for p in phases:
        if p.command == BARE:
            continue
        b = bare[(p.backend, p.rate)]
        lines.append(
            f"{p.backend:10s} {p.rate:4d}/s {p.command:11s} over bare: "
            f"p50 {ms(p.quantile(50) - b.quantile(50))} ms, "
            f"p99 {ms(p.quantile(99) - b.quantile(99))} ms"
        )
    return lines


# ----- profiles -------------------------------------------------------------------------------

LOOP = "event loop (asyncio, selectors, threads)"


def category(filename: str, function: str) -> str | None:
    """The group a profiled function's own time belongs to; None for a built-in that is
    charged to whoever called it."""
    if filename == "~":
        if "epoll" in function:
            return LOOP
        if "zlib" in function:
            return "zlib (gateway inflate)"
        if "json" in function:
            return "JSON"
        if "sqlite3" in function:
            return "SQLite"
        if "greenlet" in function:
            return "SQLAlchemy async bridge (greenlet)"
        if "socket" in function:
            return "sockets"
        return None
    for needle, name in (
        ("/json/", "JSON"),
        ("/discord/gateway.py", "discord.py gateway + cache (state)"),
        ("/discord/state.py", "discord.py gateway + cache (state)"),
        ("/discord/shard.py", "discord.py gateway + cache (state)"),
        ("/discord/app_commands/", "discord.py app commands"),
        ("/discord/ui/", "discord.py views/components"),
        ("/discord/interactions.py", "discord.py interaction responses"),
        ("/discord/webhook/", "discord.py interaction responses"),
        ("/discord/http.py", "discord.py REST client"),
        ("/discord/", "discord.py models, embeds, utils"),
        ("/aiohttp/", "aiohttp (HTTP + websocket)"),
        ("/yarl/", "aiohttp (HTTP + websocket)"),
        ("/multidict/", "aiohttp (HTTP + websocket)"),
        ("/sqlalchemy/orm/", "SQLAlchemy ORM"),
        ("/sqlalchemy/sql/", "SQLAlchemy SQL build + compile"),
        ("/sqlalchemy/engine/", "SQLAlchemy engine + results"),
        ("/sqlalchemy/dialects/", "SQLAlchemy dialect (driver adapter)"),
        ("/sqlalchemy/util/_concurrency", "SQLAlchemy async bridge (greenlet)"),
        ("/sqlalchemy/pool/", "SQLAlchemy pool"),
        ("/sqlalchemy/", "SQLAlchemy other"),
        ("/greenlet/", "SQLAlchemy async bridge (greenlet)"),
        ("/asyncpg/", "DB driver (asyncpg / aiosqlite)"),
        ("/aiosqlite/", "DB driver (asyncpg / aiosqlite)"),
        ("/cryptography/", "encryption"),
        (REPO + "bot/", "Kinfolk (bot/, cogs/)"),
        (REPO + "cogs/", "Kinfolk (bot/, cogs/)"),
        (REPO + "benchmarks/", "benchmark harness"),
        ("/asyncio/", LOOP),
        ("/selectors.py", LOOP),
        ("/threading.py", LOOP),
        ("/concurrent/", LOOP),
        ("/queue.py", LOOP),
        ("/logging/", "logging"),
    ):
        if needle in filename:
            return name
    if "site-packages" in filename:
        return "other libraries"
    return "Python stdlib, other"


def short(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    if filename == "~":
        return function
    for marker in ("site-packages/", REPO, "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({function})"


def units_report(path: Path) -> str:
    """The units of work of a profiled phase: how long each took and, on SQLite, how long
    it queued for the writer lock and held it (and the share of the phase it was held)."""
    found = json.loads(path.with_suffix(".json").read_text())
    text = f"    units of work: {found['units']:.0f} ({found['connects']:.0f} new connections)"
    if "unit_p50" in found:
        text += (
            f", each p50 {found['unit_p50'] * 1000:.1f} ms, p99 {found['unit_p99'] * 1000:.1f} ms"
        )
    if "checkout_p50" in found:
        text += (
            f"; connection + BEGIN p50 {found['checkout_p50'] * 1000:.1f} ms, "
            f"p99 {found['checkout_p99'] * 1000:.1f} ms"
        )
    if "wait_p50" in found:
        text += (
            f"; SQLite writer lock: waited p50 {found['wait_p50'] * 1000:.1f} ms, "
            f"p99 {found['wait_p99'] * 1000:.1f} ms; held p50 {found['hold_p50'] * 1000:.1f} ms, "
            f"p99 {found['hold_p99'] * 1000:.1f} ms, {found['hold_sum']:.1f} s in all "
            f"({found['hold_sum'] / found['window'] * 100:.0f}% of the profiled "
            f"{found['window']:.1f} s)"
        )
    return text


def profile_report(
    title: str, path: Path, interactions: int, top: int = 15, unit: str = "interaction"
) -> list[str]:
    stats: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    groups: dict[str, float] = defaultdict(float)
    for (filename, _line, function), (_cc, _nc, own, _cum, callers) in stats.items():
        group = category(filename, function)
        if group is not None:
            groups[group] += own
            continue
        # A built-in (isinstance, dict.get, re, ...): charge its time to its callers.
        for (caller_file, _line, caller_function), edge in callers.items():
            groups[category(caller_file, caller_function) or "built-ins"] += edge[2]
    busy = sum(groups.values())
    lines = [
        f"--- profile: {title}, {interactions} {unit}s: the bot's event-loop thread used "
        f"{busy:.2f} s CPU, {busy / max(1, interactions) * 1000:.1f} ms an {unit} under cProfile",
        units_report(path),
        "    its CPU by group (own time; built-ins charged to their callers):",
    ]
    for name, own in sorted(groups.items(), key=lambda item: -item[1]):
        if own / busy >= 0.005:
            lines.append(f"      {name:42s} {own:6.2f} s {own / busy * 100:5.1f}%")
    lines.append("    top functions by own time (s CPU, calls):")
    for key, (_cc, calls, own, _cum, _callers) in sorted(
        stats.items(), key=lambda item: -item[1][2]
    )[:top]:
        lines.append(f"      {own:6.2f} {calls:8d}  {short(key)[:110]}")
    plumbing = ("/asyncio/", "/selectors.py", "/contextlib.py", "benchmarks/", "_contextvars")
    lines.append(
        "    top functions by cumulative time (calls; asyncio plumbing left out). Not CPU"
        " totals: cProfile keeps one stack per thread, and SQLAlchemy's greenlet switches"
        " leave coroutines on it while other tasks run, so these figures are inflated; read"
        " the ranking as where the work hangs from, and the own times above as the cost:"
    )
    for key, (_cc, calls, _own, cumulative, _callers) in sorted(
        (item for item in stats.items() if not any(p in short(item[0]) for p in plumbing)),
        key=lambda item: -item[1][3],
    )[:top]:
        lines.append(f"      {cumulative:6.2f} {calls:8d}  {short(key)[:110]}")
    return lines


# ----- main -----------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {model}, "
        f"Python {platform.python_version()}, discord.py {discord.__version__}; "
        f"load average {load}"
    )


async def main(rates: tuple[int, ...], seconds: float, profile: bool) -> None:
    print(machine(), flush=True)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {seconds:g} s per rate", flush=True)
    print(LEGEND)
    print(HEADER, flush=True)
    backends = ["sqlite"] + (["postgresql"] if os.environ.get(POSTGRES_ENV) else [])
    phases: list[Phase] = []
    profiles: list[tuple[str, str, Path, int]] = []
    started = time.monotonic()
    logs = Path(tempfile.mkdtemp(prefix="kinfolk-latency-logs-"))
    with tempfile.TemporaryDirectory() as folder:
        for backend in backends:
            found, profiled = await run_backend(
                backend, Path(folder), logs, rates, seconds, profile
            )
            phases += found
            profiles += [(backend, *profiled_phase) for profiled_phase in profiled]
        print()
        print(HEADER)
        for line in table(phases):
            print(line)
        print()
        print("Kinfolk's overhead over the bare command, same rate, same run:")
        for line in overheads(phases):
            print(line)
        for backend, title, path, count in profiles:
            print()
            unit = "alert" if "alerts" in title else "interaction"
            for line in profile_report(f"[{backend}] {title}", path, count, unit=unit):
                print(line)
    print()
    print(f"whole run {time.monotonic() - started:.0f} s; {machine()}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", help="interactions a second, comma-separated (50,100,200)")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="seconds per rate")
    parser.add_argument(
        "--profile", action="store_true", help="run the bot under cProfile (rates default 100)"
    )
    parser.add_argument("--bot", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.bot:
        sys.exit(asyncio.run(bot_process()))
    chosen = (
        tuple(int(rate) for rate in arguments.rates.split(","))
        if arguments.rates
        else PROFILE_RATES
        if arguments.profile
        else RATES
    )
    asyncio.run(main(chosen, arguments.seconds, arguments.profile))
