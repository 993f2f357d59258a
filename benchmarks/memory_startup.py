"""Memory and start-up of the real bot process (`kinfolk run`) against the local stand-in.

The bot runs as its own process (as in production: `.venv/bin/kinfolk run`, settings from the
environment), so the RSS read from /proc/<pid>/status (VmRSS now, VmHWM the peak) is the
bot's alone; the stand-in runs in this process.

Memory scenarios (each a fresh SQLite database, one process each):
  baseline      1 small server (20 members, 4 channels, 3 roles)
  100k          1 server of 100,000 members, MEMBERS_INTENT false, then true
  1000 servers  1,000 small servers
RSS is read once the bot is ready (its "connected as" line and a first /about answered),
after some activity (200 interactions, /about and /checkin, 1,500 member messages, half of
them counted by reach-out, plus 5,000 joins in the big server), once participation was
written, and the peak over the whole run.

As Discord does, GUILD_CREATE of a server over 250 members (discord.py's large_threshold)
carries only the bot's member; Kinfolk never asks for member chunks
(chunk_guilds_at_startup=False), so a big server costs what a small one does at start.

Start-up (1,000 servers): from spawning the process to "ready", on a fresh SQLite database
(migrations included), on the same database again (already migrated, commands already synced),
and on a fresh PostgreSQL database when KINFOLK_BENCH_POSTGRES_URL is set. "Ready" is the
bot's on_ready line `connected as ... to N server(s)`, which discord.py emits
`guild_ready_timeout` (2 s by default) after the last GUILD_CREATE it received; the time to
the first /about answered after it is shown too, as is an /about sent the moment every
GUILD_CREATE was processed (before on_ready), which shows when the bot can really serve.

    .venv/bin/python -m benchmarks.memory_startup
    KINFOLK_BENCH_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m benchmarks.memory_startup
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import re
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
import discord
from sqlalchemy.engine import make_url

from bot.db.crypto import generate_key
from tests.fakediscord import FakeDiscord, World
from tests.test_cli import kinfolk_env

ROOT = Path(__file__).resolve().parents[1]
KINFOLK = str(Path(sys.executable).parent / "kinfolk")
# Wall clock minus monotonic clock: the stand-in records monotonic times, the bot's log wall.
WALL = time.time() - time.monotonic()

INTERACTIONS = 200
# More than discord.py keeps (max_messages=1000), so its message cache is full, as in any
# server that has been running a while.
MESSAGES = 1_500
JOINS = 5_000
REACHOUT_SERVERS = 10

# Lines of the bot's log that mark the phases of start-up (the bot's own timestamps).
IMPORTED = "DISCORD_API_BASE is set"  # first line: the interpreter and imports are done
LOGIN = "logging in using static token"  # migrations done, the bot built (discord.client)
SYNCED = re.compile(r"synced \d+ global commands|commands unchanged since the last sync")
GATEWAY = "has connected to Gateway"  # READY received (discord.gateway)
READY = re.compile(r"connected as \S+ to (\d+) server")


# ----- the world ---------------------------------------------------------------------------
@dataclass
class Server:
    id: int
    owner: int
    channels: list[int]
    members: list[int]


def build_world(servers: int, members: int) -> tuple[World, list[Server]]:
    """`servers` servers of `members` members, 4 text channels and 3 roles each."""
    world = World()
    built: list[Server] = []
    for number in range(servers):
        guild = world.add_guild(f"Server {number}")
        roles = [world.add_role(guild.id, name).id for name in ("Moderators", "Members", "New")]
        channels = [
            world.add_text_channel(guild.id, name).id
            for name in ("general", "support", "introductions", "mods")
        ]
        people = [
            world.add_member(guild.id, f"s{number}m{n}", roles=roles[1:2] if n % 3 else []).id
            for n in range(members - 1)  # and the owner
        ]
        built.append(Server(guild.id, guild.owner_id, channels, people))
    return world, built


# ----- the bot process ---------------------------------------------------------------------
@dataclass
class Line:
    at: float | None  # the bot's timestamp (wall clock), if the line has one
    text: str


@dataclass
class BotProcess:
    process: asyncio.subprocess.Process
    spawned: float  # wall clock
    lines: list[Line] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    async def read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            text = raw.decode(errors="replace").rstrip()
            at = None
            with contextlib.suppress(ValueError):
                at = datetime.strptime(text[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            self.lines.append(Line(at, text))

    def find(self, marker: str | re.Pattern[str]) -> Line | None:
        for line in self.lines:
            if marker.search(line.text) if isinstance(marker, re.Pattern) else marker in line.text:
                return line
        return None

    def at(self, marker: str | re.Pattern[str]) -> float:
        line = self.find(marker)
        if line is None or line.at is None:
            raise RuntimeError(f"the bot never logged {marker!r}:\n{self.tail()}")
        return line.at

    async def wait_for(self, marker: str | re.Pattern[str], timeout: float) -> Line:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while (line := self.find(marker)) is None:
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"no {marker!r} from the bot:\n{self.tail()}")
            await asyncio.sleep(0.01)
        return line

    def tail(self, n: int = 30) -> str:
        return "\n".join(line.text for line in self.lines[-n:])

    def memory(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MiB."""
        fields = {}
        for row in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = row.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
        return fields["VmRSS"], fields["VmHWM"]

    def cpu_seconds(self) -> float:
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        parts = stat[stat.rindex(")") + 2 :].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def bot_process(
    fake: FakeDiscord, database_url: str, folder: Path, *, members_intent: bool
) -> AsyncIterator[BotProcess]:
    """`kinfolk run` with its settings in the environment; stopped with SIGTERM after."""
    env = kinfolk_env(
        fake,
        DATABASE_URL=database_url,
        ENCRYPTION_KEY=generate_key(),
        LOG_LEVEL="INFO",
        MEMBERS_INTENT="true" if members_intent else "false",
    )
    fake.gateway.ready.clear()
    spawned = time.time()
    process = await asyncio.create_subprocess_exec(
        KINFOLK,
        "run",
        cwd=folder,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    bot = BotProcess(process, spawned)
    bot.reader = asyncio.create_task(bot.read())
    try:
        yield bot
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(bot.reader, 5)
    if process.returncode != 0 or bot.find("stopped cleanly") is None:
        raise RuntimeError(f"the bot did not stop cleanly ({process.returncode}):\n{bot.tail()}")
    if bot.find("Traceback") is not None:
        raise RuntimeError(f"the bot logged a traceback:\n{bot.tail(80)}")


# ----- start-up ----------------------------------------------------------------------------
@dataclass
class Startup:
    label: str
    phases: dict[str, float]  # seconds, in order
    ready: float  # spawn to on_ready
    about_after_ready: float  # on_ready to the first /about answered after it
    early_about: float  # spawn to the answer of an /about sent when all GUILD_CREATE were in
    servers: int
    migrations: int
    synced: bool
    cpu: float  # the bot's CPU seconds by ready
    rss: float  # MiB at ready


async def start_up(label: str, fake: FakeDiscord, bot: BotProcess, where: Server) -> Startup:
    """Wait for ready and take the phases apart (see the module docstring)."""
    await asyncio.wait_for(fake.gateway.ready.wait(), 300)
    # The bot answers an op 1 only after processing what came before it. Twice: a heartbeat
    # the bot sends on its own timer could answer the first one early.
    await fake.gateway.sync(timeout=300)
    await fake.gateway.sync(timeout=300)
    processed = time.time()
    early = await fake.invoke(where.id, where.channels[0], where.members[0], "about")
    line = await bot.wait_for(READY, 120)
    assert line.at is not None
    after = await fake.invoke(where.id, where.channels[0], where.members[1], "about")
    await after.response(timeout=30)
    await early.response(timeout=30)
    rss, _ = bot.memory()
    answered = (after.record.response_at or 0) + WALL
    early_answered = (early.record.response_at or 0) + WALL
    imported, login = bot.at(IMPORTED), bot.at(LOGIN)
    synced, gateway = bot.at(SYNCED), bot.at(GATEWAY)
    match = READY.search(line.text)
    assert match is not None
    phases = {
        "imports": imported - bot.spawned,
        "db + migrations": login - imported,
        "cogs + sync": synced - login,
        "connect": gateway - synced,
        "GUILD_CREATEs": processed - gateway,
        "ready wait": line.at - processed,
    }
    return Startup(
        label=label,
        phases=phases,
        ready=line.at - bot.spawned,
        about_after_ready=answered - line.at,
        early_about=early_answered - bot.spawned,
        servers=int(match[1]),
        migrations=sum("Running upgrade" in x.text for x in bot.lines),
        synced="global commands" in (bot.find(SYNCED) or Line(None, "")).text,
        cpu=bot.cpu_seconds(),
        rss=rss,
    )


# ----- activity ----------------------------------------------------------------------------
async def activity(
    fake: FakeDiscord, servers: list[Server], rng: random.Random, *, joins: int
) -> list[float]:
    """Reach-out on in a few servers, then interactions, member messages (and joins);
    returns the interaction latencies (dispatch to first callback, seconds)."""
    tracked = servers[:REACHOUT_SERVERS]
    for server in tracked:
        handle = await fake.invoke(
            server.id, server.channels[0], server.owner, "setup reachout", {"enabled": True}
        )
        await handle.response(timeout=30)
    latencies: list[float] = []
    for batch in range(INTERACTIONS // 10):
        handles = []
        for n in range(10):
            server = rng.choice(servers)
            command = "about" if (batch + n) % 2 else "checkin"
            member = rng.choice(server.members)
            handles.append(await fake.invoke(server.id, server.channels[0], member, command))
        for handle in handles:
            await handle.response(timeout=30)
            latencies.append((handle.record.response_at or 0) - handle.record.dispatched_at)
    # As `fake.post_message` does, without its barrier after each message: every barrier
    # costs a heartbeat, and discord.py sends at most 110 gateway messages a minute.
    for number in range(MESSAGES):
        server = rng.choice(tracked if number % 2 else servers)
        author = rng.choice(server.members)
        message = fake.store.create(rng.choice(server.channels), author, content="hello all")
        data = fake.render(message)
        data["member"] = fake.world.guilds[server.id].members[author].payload(with_user=False)
        await fake.gateway.dispatch("MESSAGE_CREATE", data)
    guild = servers[0].id
    for number in range(joins):
        member = fake.world.add_member(guild, f"joiner{number}")
        await fake.gateway.dispatch(
            "GUILD_MEMBER_ADD", {**member.payload(), "guild_id": str(guild)}
        )
    await fake.gateway.sync(timeout=120)
    return latencies


async def participation_written(path: Path, timeout: float = 40) -> int:  # noqa: ASYNC109
    """Wait for the bot's periodic flush (every 15 s) to write what it counted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("PRAGMA busy_timeout = 2000")
            (rows,) = db.execute("SELECT count(*) FROM member_activity").fetchone()
        if rows:
            return int(rows)
        await asyncio.sleep(0.5)
    raise RuntimeError(f"no participation written within {timeout} s")


@dataclass
class Memory:
    label: str
    servers: int
    members: int
    intent: bool
    ready: float
    rss_ready: float
    rss_active: float
    peak: float
    counted: int
    latency_p50: float
    latency_max: float


async def memory_scenario(
    label: str, fake: FakeDiscord, servers: list[Server], folder: Path, *, intent: bool
) -> Memory:
    path = folder / f"{uuid.uuid4().hex}.db"
    async with bot_process(
        fake, f"sqlite+aiosqlite:///{path}", folder, members_intent=intent
    ) as bot:
        startup = await start_up(label, fake, bot, servers[0])
        big = len(servers[0].members) > 1_000
        latencies = await activity(fake, servers, random.Random(7), joins=JOINS if big else 0)
        counted = await participation_written(path)
        await asyncio.sleep(1)
        rss, peak = bot.memory()
    members = sum(len(s.members) + 1 for s in servers)
    return Memory(
        label,
        len(servers),
        members,
        intent,
        startup.ready,
        startup.rss,
        rss,
        peak,
        counted,
        statistics.median(latencies),
        max(latencies),
    )


# ----- PostgreSQL ----------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    """A new, empty database next to KINFOLK_BENCH_POSTGRES_URL's; dropped afterwards."""
    url = make_url(os.environ["KINFOLK_BENCH_POSTGRES_URL"])
    name = f"kinfolk_bench_{uuid.uuid4().hex[:10]}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def postgres_version() -> str:
    url = make_url(os.environ["KINFOLK_BENCH_POSTGRES_URL"])
    admin = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
    try:
        return str(await admin.fetchval("SHOW server_version"))
    finally:
        await admin.close()


# ----- printing ------------------------------------------------------------------------------
def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores ({model}), "
        f"Python {platform.python_version()}, discord.py {discord.__version__}, "
        f"SQLite {sqlite3.sqlite_version}, {datetime.now().strftime('%Y-%m-%d %H:%M')}"
    )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


STARTUP_LEGEND = """\
imports: spawn to the first log line (interpreter, discord.py, SQLAlchemy, alembic)
db + migrations: to discord.py's "logging in" (database opened, migrations checked/applied)
cogs + sync: to "synced N global commands" / "commands unchanged" (login, cogs, command sync)
connect: to "Shard ID 0 has connected to Gateway" (GET /gateway/bot, websocket, IDENTIFY)
GUILD_CREATEs: from READY until the bot has processed every GUILD_CREATE (op 1 barrier)
ready wait: to on_ready's "connected as" line: discord.py's guild_ready_timeout (2 s)
ready: spawn to "connected as"; /about: on_ready to the first /about answered after it
early /about: spawn to the answer of an /about sent when every GUILD_CREATE was processed"""


def print_startup(rows: list[Startup]) -> None:
    names = list(rows[0].phases)
    print(
        "| run | "
        + " | ".join(names)
        + " | ready | /about | early /about | migrations | commands | bot CPU | RSS |"
    )
    print("|---" * (len(names) + 8) + "|")
    for s in rows:
        phases = " | ".join(f"{s.phases[n]:.2f}" for n in names)
        print(
            f"| {s.label} | {phases} | **{s.ready:.2f}** | {s.about_after_ready * 1000:.0f} ms "
            f"| {s.early_about:.2f} | {s.migrations} | {'synced' if s.synced else 'unchanged'} "
            f"| {s.cpu:.2f} s | {s.rss:.0f} MiB |"
        )
    print(STARTUP_LEGEND)


def print_memory(rows: list[Memory]) -> None:
    print(
        "| scenario | servers | members | MEMBERS_INTENT | ready | RSS at ready "
        "| RSS after activity | peak (VmHWM) | interactions p50 / max |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.label} | {r.servers:,} | {r.members:,} | {str(r.intent).lower()} "
            f"| {r.ready:.1f} s | {r.rss_ready:.0f} MiB | {r.rss_active:.0f} MiB "
            f"| {r.peak:.0f} MiB | {r.latency_p50 * 1000:.0f} / {r.latency_max * 1000:.0f} ms |"
        )


# ----- main ----------------------------------------------------------------------------------
async def main(args: argparse.Namespace) -> None:
    print(machine())
    print(f"before: {load()}")
    if os.environ.get("KINFOLK_BENCH_POSTGRES_URL"):
        print(f"PostgreSQL {await postgres_version()}")
    print(
        f"activity: {INTERACTIONS} interactions (/about, /checkin), {MESSAGES:,} member messages "
        f"(half in the {REACHOUT_SERVERS} servers with reach-out on), "
        f"{JOINS:,} joins in the big server"
    )
    memory: list[Memory] = []
    startups: list[Startup] = []
    violations = 0
    chunk_requests = 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        world, servers = build_world(1, 20)
        async with FakeDiscord(world, bucket=(10_000, 1.0), fail_on_violations=False) as fake:
            memory.append(
                await memory_scenario("1 small server", fake, servers, folder, intent=False)
            )
            violations += len(fake.violations)

        started = time.monotonic()
        world, servers = build_world(1, args.big)
        print(f"built a world of {args.big:,} members in {time.monotonic() - started:.1f} s")
        async with FakeDiscord(world, bucket=(10_000, 1.0), fail_on_violations=False) as fake:
            for intent in (False, True):
                memory.append(
                    await memory_scenario(
                        f"1 server of {args.big:,}", fake, servers, folder, intent=intent
                    )
                )
            violations += len(fake.violations)
            chunk_requests += sum(m.get("op") == 8 for m in fake.gateway.received)

        world, servers = build_world(args.servers, 20)
        async with FakeDiscord(world, bucket=(10_000, 1.0), fail_on_violations=False) as fake:
            memory.append(
                await memory_scenario(
                    f"{args.servers:,} small servers", fake, servers, folder, intent=False
                )
            )
            # Start-up: a fresh database (migrations, command sync), then the same one again.
            for attempt in range(1, args.repeat + 1):
                url = f"sqlite+aiosqlite:///{folder / f'startup{attempt}.db'}"
                for label in ("sqlite fresh", "sqlite again"):
                    async with bot_process(fake, url, folder, members_intent=False) as bot:
                        startups.append(await start_up(f"{label} {attempt}", fake, bot, servers[1]))
            if os.environ.get("KINFOLK_BENCH_POSTGRES_URL"):
                for attempt in range(1, args.repeat + 1):
                    async with fresh_postgres() as url:
                        for label in ("postgresql fresh", "postgresql again"):
                            async with bot_process(fake, url, folder, members_intent=False) as bot:
                                started = await start_up(
                                    f"{label} {attempt}", fake, bot, servers[2]
                                )
                                startups.append(started)
            violations += len(fake.violations)
            chunk_requests += sum(m.get("op") == 8 for m in fake.gateway.received)

    print(f"start-up with {args.servers:,} servers (seconds unless marked):")
    print_startup(startups)
    print("memory:")
    print_memory(memory)
    print(
        f"stand-in violations (late answers, invalid bodies, no allowed_mentions): {violations}; "
        f"member chunk requests (op 8): {chunk_requests}"
    )
    print(f"after: {load()}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1_000, help="small servers (1,000)")
    parser.add_argument("--big", type=int, default=100_000, help="members of the big server")
    parser.add_argument("--repeat", type=int, default=3, help="start-up runs per backend (3)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
