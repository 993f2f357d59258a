"""Interaction latency of /talk under load, next to a bare command that only replies.

The real bot (unmodified discord.py) runs against the local Discord stand-in on 127.0.0.1.
Each interaction is timed from the stand-in dispatching INTERACTION_CREATE to the bot's
first callback arriving: the span Discord allows 3 s for. `/talk` saves a request (one
unit of work) and answers; its alerts then go out through the outbox in the background,
so the figures include that load too. Each rate runs for DURATION seconds, with a new
member per /talk (one open request per member).

    .venv/bin/python -m benchmarks.talk_latency
    KINFOLK_BENCH_POSTGRES_URL=postgresql+asyncpg://... .venv/bin/python -m benchmarks.talk_latency
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import discord

from benchmarks.db_throughput import database
from bot.client import KinfolkBot, apply_endpoint_overrides
from bot.clock import SystemClock
from bot.config import Settings
from bot.db.crypto import configure_keys, generate_key
from tests.fakediscord import FakeDiscord, InteractionHandle, World

RATES = (10, 25, 50)
DURATION = 4.0


async def fire(
    fake: FakeDiscord, where: tuple[int, int], members: list[int], command: str, rate: int
) -> list[float]:
    handles: list[InteractionHandle] = []
    options = {"feeling": "struggling"} if command == "talk" else None
    start = time.monotonic()
    for number in range(int(rate * DURATION)):
        await asyncio.sleep(max(0.0, start + number / rate - time.monotonic()))
        handles.append(await fake.invoke(*where, members.pop(), command, options=options))
    for handle in handles:
        await handle.response(timeout=30)
    return [(h.record.response_at or 0) - h.record.dispatched_at for h in handles]


def summary(latencies: list[float]) -> str:
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    worst = max(latencies) * 1000
    return f"p50 {q[49] * 1000:6.1f} ms  p99 {q[98] * 1000:7.1f} ms  max {worst:7.1f} ms"


async def run(backend: str, folder: Path) -> None:
    world = World()
    guild = world.add_guild("Bench")
    general = world.add_text_channel(guild.id, "general")
    alerts = world.add_text_channel(guild.id, "alerts")
    support = world.add_text_channel(guild.id, "support")
    mods = world.add_role(guild.id, "Moderators")
    needed = sum(int(r * DURATION) for r in RATES) * 2
    members = [world.add_member(guild.id, f"m{n}").id for n in range(needed)]
    async with (
        FakeDiscord(world, bucket=(10_000, 1.0), fail_on_violations=False) as fake,
        database(backend, folder) as db,
    ):
        settings = Settings(
            token=fake.token,
            database_url=db.url,
            api_base=fake.api_base,
            gateway_url=fake.gateway_url,
        )
        apply_endpoint_overrides(settings)
        bot = KinfolkBot(settings=settings, db=db, clock=SystemClock(), guild_ready_timeout=0.1)

        @bot.tree.command(name="ping", description="Bare command: replies and does nothing else")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong", ephemeral=True)

        task = asyncio.create_task(bot.start(fake.token))
        await fake.wait_ready()
        await fake.wait_commands_synced()
        where = (guild.id, general.id)
        setup = await fake.invoke(
            *where,
            world.guilds[guild.id].owner_id,
            "setup escalation",
            options={
                "alert_channel": alerts.id,
                "moderator_role": mods.id,
                "support_channel": support.id,
            },
        )
        await setup.response()
        for rate in RATES:
            bare = await fire(fake, where, members, "ping", rate)
            talk = await fire(fake, where, members, "talk", rate)
            print(f"[{backend}] {rate:3d}/s  bare  {summary(bare)}")
            print(f"[{backend}] {rate:3d}/s  /talk {summary(talk)}")
        posted = len(fake.messages(alerts.id))
        print(
            f"[{backend}] stand-in violations (late answers, invalid bodies): "
            f"{len(fake.violations)}; alerts posted by the end: {posted}"
        )
        await bot.close()
        await asyncio.wait_for(task, 10)


async def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    configure_keys([generate_key()])
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("KINFOLK_BENCH_POSTGRES_URL") else [])
    with tempfile.TemporaryDirectory() as folder:
        for backend in backends:
            await run(backend, Path(folder))


if __name__ == "__main__":
    asyncio.run(main())
