"""Scale-out acceptance test: two `kinfolk run` processes (shard 0 and shard 1 of 2) against
one PostgreSQL and the local Discord stand-in.

10,000 due outbox messages are sent exactly once between them. One process is killed with
SIGKILL mid-dispatch: the messages it had leased are sent by the other once the lease runs
out, and none twice (a message the dead process had in fact sent just before dying is
answered by Discord's `enforce_nonce` with the existing message, not posted again).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from bot.db import migrate
from bot.db.engine import Database
from bot.db.models import OutboxMessage
from bot.jobs.delivery import plain_payload
from tests.conftest import POSTGRES_URL, _asyncpg_dsn
from tests.e2e.driver import assert_every_message_sets_allowed_mentions
from tests.fakediscord import FakeDiscord, World, point_discord_py_at
from tests.fakediscord.world import guild_id_on_shard
from tests.test_cli import KEY, KINFOLK, kinfolk_env

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason="KINFOLK_TEST_POSTGRES_URL not set"),
    # On an idle two-core machine this takes about a minute; the margin is for a busy one.
    pytest.mark.timeout(300),
]

COUNT = 10_000
LEASE_SECONDS = 5
CHANNELS_PER_SERVER = 20  # the rows are spread over 40 channels, 20 on each shard's server
KILL_AFTER = 2_500  # messages in the stand-in when the second process is killed
OURS = OutboxMessage.idempotency_key.like("multiprocess:%")  # not the bot's own jobs


@dataclass
class Bot:
    """One `kinfolk run` process and everything it printed."""

    name: str
    process: asyncio.subprocess.Process
    lines: list[str]
    reader: asyncio.Task[None]

    @property
    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    """A new PostgreSQL database (not just a schema: `kinfolk run` is given only a URL),
    migrated to head, dropped afterwards."""
    assert POSTGRES_URL
    name = f"kinfolk_mp_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    try:
        await migrate.upgrade(db)
        yield db
    finally:
        await db.close()
        admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def build_world() -> tuple[World, list[int]]:
    """One server on each of the two shards, with their channels."""
    world = World()
    channels: list[int] = []
    for shard in (0, 1):
        guild = world.add_guild(f"Shard {shard}", guild_id=guild_id_on_shard(shard, 2))
        channels += [
            world.add_text_channel(guild.id, f"room-{n}").id for n in range(CHANNELS_PER_SERVER)
        ]
    return world, channels


def content_of(n: int) -> str:
    return f"outbox message {n:05d}"


async def queue_all(db: Database, channels: list[int]) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "idempotency_key": f"multiprocess:{n}",
            "guild_id": None,
            "kind": "plain",
            "target_type": "channel",
            "target_id": channels[n % len(channels)],
            "payload": plain_payload(content_of(n)),
            "status": "pending",
            "due_at": now,
            "attempts": 0,
            "created_at": now,
        }
        for n in range(COUNT)
    ]
    async with db.session() as session:
        await session.execute(insert(OutboxMessage), rows)


async def start(fake: FakeDiscord, db: Database, tmp_path: Path, shard: int) -> Bot:
    env = kinfolk_env(
        fake,
        DATABASE_URL=db.url,
        ENCRYPTION_KEY=KEY,
        LOG_LEVEL="INFO",
        SHARD_COUNT="2",
        SHARD_IDS=str(shard),
        OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS),
        OUTBOX_PER_SECOND="1000",
        OUTBOX_CONCURRENCY="8",
    )
    workdir = tmp_path / f"shard{shard}"
    workdir.mkdir()
    # At a lower priority: the two bots can keep both cores busy, and the tests running
    # beside this one (on the other xdist worker) have 3-second interaction deadlines.
    nice = shutil.which("nice")
    process = await asyncio.create_subprocess_exec(
        *([nice, "-n", "10"] if nice else []),
        KINFOLK,
        "run",
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    lines: list[str] = []

    async def read() -> None:  # keep draining, or a full pipe would stall the bot
        assert process.stdout is not None
        async for line in process.stdout:
            lines.append(line.decode(errors="replace"))

    return Bot(f"shard {shard}", process, lines, asyncio.create_task(read()))


async def leased(db: Database) -> dict[str, dict[int, datetime]]:
    """Rows being sent, by lease owner: {owner: {row id: leased until}}."""
    async with db.session() as session:
        rows = await session.execute(
            select(OutboxMessage.lease_owner, OutboxMessage.id, OutboxMessage.leased_until).where(
                OURS, OutboxMessage.status == "sending"
            )
        )
    found: dict[str, dict[int, datetime]] = {}
    for owner, row_id, until in rows.all():
        found.setdefault(owner, {})[row_id] = until
    return found


async def statuses(db: Database) -> dict[str, int]:
    async with db.session() as session:
        rows = await session.execute(
            select(OutboxMessage.status, func.count()).where(OURS).group_by(OutboxMessage.status)
        )
    return dict(rows.all())


async def unsent(db: Database) -> str:
    """What is left, for the failure message: counts by status and error, a few rows."""
    async with db.session() as session:
        rows = (
            await session.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.status,
                    OutboxMessage.attempts,
                    OutboxMessage.last_error,
                    OutboxMessage.due_at,
                    OutboxMessage.leased_until,
                ).where(OURS, OutboxMessage.status != "sent")
            )
        ).all()
    by_kind = Counter((status, error) for _, status, _, error, _, _ in rows)
    return f"{dict(by_kind)}; e.g. {[tuple(r) for r in rows[:5]]}"


async def freeze_mid_dispatch(bot: Bot, db: Database) -> dict[int, datetime]:
    """Stop ``bot`` (SIGSTOP) at a moment it holds leased rows, and return those rows with
    their lease ends. Its lease owner is told apart from the other's by standing still: the
    running process's rows in hand change within half a second, the stopped one's cannot."""
    for _ in range(30):
        bot.process.send_signal(signal.SIGSTOP)
        await asyncio.sleep(0.1)  # a commit it had already sent lands
        first = await leased(db)
        await asyncio.sleep(0.5)
        second = await leased(db)
        still = [owner for owner, rows in first.items() if second.get(owner) == rows]
        if len(first) == 2 and len(still) == 1:
            return first[still[0]]
        bot.process.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.2)
    raise AssertionError("never caught the process holding leased rows")


async def test_two_processes_send_10000_messages_exactly_once_despite_a_sigkill(
    database: Database, tmp_path: Path
) -> None:
    world, channels = build_world()
    await queue_all(database, channels)
    bots: list[Bot] = []
    async with FakeDiscord(world, bucket=(10_000, 1.0), global_limit=100_000) as fake:
        undo = point_discord_py_at(fake.api_base, fake.gateway_url)
        try:
            began = time.monotonic()
            bots = [await start(fake, database, tmp_path, shard) for shard in (0, 1)]
            survivor, victim = bots
            await fake.gateway.wait_shards([0, 1], timeout=30)
            both_ready = time.monotonic()

            # Let both send for a while, then kill shard 1's process without warning.
            await fake.wait_for(
                lambda: len(fake.store.by_id) >= KILL_AFTER, 120, f"{KILL_AFTER} messages"
            )
            sent_before_kill = len(fake.store.by_id)
            stopped = time.monotonic()
            dead_rows = await freeze_mid_dispatch(victim, database)
            victim.process.send_signal(signal.SIGKILL)  # stopped, then killed: no last word
            await victim.process.wait()
            killed, sent_at_kill = time.monotonic(), len(fake.store.by_id)
            assert dead_rows, "the killed process held no leased rows"

            await fake.wait_for(
                lambda: len(fake.store.by_id) >= COUNT, 200, f"all {COUNT} messages"
            )

            async def all_sent() -> bool:
                return await statuses(database) == {"sent": COUNT}

            try:
                await fake.wait_for(all_sent, 20, "every row marked sent")
            except AssertionError:
                raise AssertionError(f"not all rows sent: {await unsent(database)}") from None
            done = time.monotonic()
            await asyncio.sleep(0.5)  # anything sent twice would show up now
            assert fake.take_violations() == []
            assert_every_message_sets_allowed_mentions(fake)
        finally:
            undo()
            for bot in bots:
                if bot.process.returncode is None:
                    bot.process.send_signal(signal.SIGTERM)
            for bot in bots:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(bot.process.wait(), 20)
                if bot.process.returncode is None:
                    bot.process.kill()
                    await bot.process.wait()
                await bot.reader

    # Every message exactly once in the stand-in, and nothing else.
    bot_id = world.bot_user.id
    contents = Counter(m.content for m in fake.store.by_id.values() if m.author_id == bot_id)
    assert contents == Counter(content_of(n) for n in range(COUNT))
    assert len(fake.store.by_id) == COUNT

    # Every row sent; the dead process's rows were sent by the survivor once their lease
    # ran out, never earlier.
    async with database.session() as session:
        rows = (
            await session.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.status,
                    OutboxMessage.sent_at,
                    OutboxMessage.attempts,
                ).where(OURS)
            )
        ).all()
    assert Counter(status for _, status, _, _ in rows) == {"sent": COUNT}
    sent_at = {row_id: at for row_id, _, at, _ in rows}
    attempts = {row_id: n for row_id, _, _, n in rows}
    early = {i: (sent_at[i], until) for i, until in dead_rows.items() if sent_at[i] < until}
    assert early == {}, "rows sent again before the dead process's lease ran out"
    # Claimed once by the dead process, and again by the survivor.
    assert {i: attempts[i] for i in dead_rows if attempts[i] < 2} == {}

    # A second request for a row comes from the crash (the dead process posted some of its
    # rows just before dying; the survivor's try got the same message back), or from a send
    # that timed out and was retried, which the bot logs. Nothing else.
    retried = {
        int(match)
        for bot in bots
        for match in re.findall(r"outbox (\d+) \(plain\): send failed", bot.output)
    }
    posts = [
        r
        for r in fake.requests
        if r.method == "POST" and r.path.endswith("/messages") and r.status == 200
    ]
    nonces = Counter(r.body["nonce"] for r in posts)
    repeated = {int(n.removeprefix("kinfolk-")) for n, k in nonces.items() if k > 1}
    unexplained = repeated - set(dead_rows) - retried
    assert unexplained == set(), f"rows requested twice outside the crash: {unexplained}"
    assert len(fake.store.nonce_repeats) == sum(k - 1 for k in nonces.values())

    assert survivor.process.returncode == 0, survivor.output[-3000:]
    assert "Traceback" not in survivor.output, survivor.output[-3000:]
    assert "stopped cleanly" in survivor.output
    assert victim.process.returncode == -signal.SIGKILL

    ready_s, total_s = both_ready - began, done - began
    two_rate = sent_before_kill / (stopped - both_ready)
    one_rate = (COUNT - sent_at_kill) / (done - killed)
    print(
        f"\nmultiprocess: ready in {ready_s:.1f}s; {sent_before_kill} sent by two processes "
        f"in {stopped - both_ready:.1f}s ({two_rate:.0f}/s, {two_rate / 2:.0f}/s each); "
        f"{COUNT - sent_at_kill} by the survivor in {done - killed:.1f}s incl. the "
        f"{LEASE_SECONDS}s lease ({one_rate:.0f}/s); {len(dead_rows)} rows leased by the dead "
        f"process; {len(repeated)} rows posted twice and answered by nonce; "
        f"{len(retried)} sends timed out and retried; "
        f"all {COUNT} sent {total_s:.1f}s after start"
    )
