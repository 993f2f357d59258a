"""End-to-end fixtures: the real KinfolkBot (unmodified discord.py) against the local
Discord stand-in, on a database migrated exactly as `kinfolk run` migrates it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.client import KinfolkBot, apply_endpoint_overrides
from bot.config import Settings
from bot.db import migrate
from bot.db.engine import Database
from tests.conftest import fresh_database
from tests.e2e.driver import serving
from tests.fakediscord import FakeDiscord, Member, World
from tests.helpers import FrozenClock

MANAGE_GUILD = 1 << 5


@dataclass
class Haven:
    """The test world: one server with a moderator and an ordinary member."""

    world: World
    guild_id: int
    general_id: int
    moderator: Member
    member: Member


@pytest.fixture
def haven() -> Haven:
    world = World()
    guild = world.add_guild("Haven")
    general = world.add_text_channel(guild.id, "general")
    mods = world.add_role(guild.id, "Moderators", permissions=MANAGE_GUILD)
    moderator = world.add_member(guild.id, "mod", roles=[mods.id])
    member = world.add_member(guild.id, "alice")
    return Haven(world, guild.id, general.id, moderator, member)


@pytest.fixture
async def fake(haven: Haven) -> AsyncIterator[FakeDiscord]:
    async with serving(haven.world) as server:
        yield server


@pytest.fixture
async def database(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database(backend, tmp_path, create_schema=False) as db:
        await migrate.upgrade(db)
        yield db


StartBot = Callable[..., Awaitable[KinfolkBot]]


@pytest.fixture
async def start_bot(
    fake: FakeDiscord, database: Database, clock: FrozenClock
) -> AsyncIterator[StartBot]:
    """Starts a KinfolkBot (stopping any earlier one first, like a restart)."""
    running: list[tuple[KinfolkBot, asyncio.Task[None]]] = []

    async def stop_all() -> None:
        while running:
            bot, task = running.pop()
            await bot.close()
            await asyncio.wait_for(task, 10)

    async def start(**overrides: object) -> KinfolkBot:
        await stop_all()
        settings = Settings(
            token=fake.token,
            database_url=database.url,
            api_base=fake.api_base,
            gateway_url=fake.gateway_url,
            **overrides,  # type: ignore[arg-type]
        )
        apply_endpoint_overrides(settings)
        bot = KinfolkBot(
            settings=settings,
            db=database,
            clock=clock,
            guild_ready_timeout=0.1,
            outbox_poll_seconds=0.05,
        )
        ready = asyncio.Event()
        bot.add_listener(_set_event(ready), "on_ready")
        running.append((bot, asyncio.create_task(bot.start(fake.token))))
        await asyncio.wait_for(ready.wait(), 15)
        return bot

    yield start
    await stop_all()


def _set_event(event: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def on_ready() -> None:
        event.set()

    return on_ready


@pytest.fixture
async def kinfolk(start_bot: StartBot) -> KinfolkBot:
    return await start_bot()


def embed_fields(message_embeds: list[dict]) -> dict[str, str]:
    return {f["name"]: f["value"] for e in message_embeds for f in e.get("fields", [])}
