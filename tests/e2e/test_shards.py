"""Two KinfolkBot processes splitting two shards, against one database and the stand-in.

Each server's events reach only the process running its shard, and DMs reach only shard 0.
So a slash command is answered by the process owning the server's shard, a button under a
DM is handled by shard 0 even when the DM is about a server on shard 1, and the outbox
(which any process may run) must not rely on having the server in its own cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest

from bot.client import KinfolkBot, apply_endpoint_overrides
from bot.config import Settings
from bot.db.engine import Database
from bot.db.models import MemberActivity, OutboxMessage
from bot.db.repositories import outbox
from bot.jobs.delivery import plain_payload
from bot.services.reachout.handlers import ANSWERS_VIEW
from bot.services.reachout.texts import REPLIES
from tests.e2e.driver import serving
from tests.fakediscord import FakeDiscord, Member, World
from tests.fakediscord.world import guild_id_on_shard
from tests.helpers import FrozenClock


@dataclass
class Servers:
    """Server "Zero" lives on shard 0 of 2 and "One" on shard 1; alice is in both."""

    world: World
    zero: int
    one: int
    zero_general: int
    one_general: int
    one_owner: int
    alice: int


@pytest.fixture
def servers() -> Servers:
    world = World()
    zero = world.add_guild("Zero", guild_id=guild_id_on_shard(0, 2))
    one = world.add_guild("One", guild_id=guild_id_on_shard(1, 2))
    zero_general = world.add_text_channel(zero.id, "general")
    one_general = world.add_text_channel(one.id, "general")
    alice = world.add_member(zero.id, "alice")
    world.guilds[one.id].members[alice.id] = Member(alice.user, one.id)
    return Servers(world, zero.id, one.id, zero_general.id, one_general.id, one.owner_id, alice.id)


@pytest.fixture
async def fake(servers: Servers) -> AsyncIterator[FakeDiscord]:
    async with serving(servers.world) as server:
        yield server


@dataclass
class Process:
    """One bot "process": its KinfolkBot and the interactions it was handed."""

    bot: KinfolkBot
    task: asyncio.Task[None]
    interactions: list[int] = field(default_factory=list)


@pytest.fixture
async def shards(
    fake: FakeDiscord, database: Database, clock: FrozenClock
) -> AsyncIterator[list[Process]]:
    """Shard 0 and shard 1 of 2, each in its own KinfolkBot, sharing the database."""
    processes: list[Process] = []
    try:
        for shard_id in (0, 1):
            settings = Settings(
                token=fake.token,
                database_url=database.url,
                api_base=fake.api_base,
                gateway_url=fake.gateway_url,
                shard_count=2,
                shard_ids=(shard_id,),
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
            seen: list[int] = []

            async def on_ready(ready: asyncio.Event = ready) -> None:
                ready.set()

            async def on_interaction(
                interaction: discord.Interaction, seen: list[int] = seen
            ) -> None:
                seen.append(interaction.id)

            bot.add_listener(on_ready, "on_ready")
            bot.add_listener(on_interaction, "on_interaction")
            processes.append(Process(bot, asyncio.create_task(bot.start(fake.token)), seen))
            await asyncio.wait_for(ready.wait(), 15)
        await fake.gateway.wait_shards([0, 1])
        await fake.wait_commands_synced()
        yield processes
    finally:
        for process in reversed(processes):
            await process.bot.close()
            await asyncio.wait_for(process.task, 10)


async def queue(
    database: Database,
    clock: FrozenClock,
    key: str,
    target_type: str,
    target_id: int,
    **payload: Any,
) -> None:
    async with database.session() as session:
        await outbox.enqueue(
            session,
            key=key,
            kind="plain",
            target_type=target_type,
            target_id=target_id,
            payload=payload,
            due_at=clock.now(),
            now=clock.now(),
        )


async def finished(fake: FakeDiscord, database: Database, key: str) -> OutboxMessage:
    """The row once a dispatcher is done with it (sent, or given up)."""

    async def done() -> OutboxMessage | None:
        async with database.session() as session:
            row = await outbox.get_by_key(session, key)
        return row if row is not None and row.status in ("sent", "failed") else None

    return await fake.wait_for(done, 10, f"outbox row {key}")


async def test_each_shard_sees_only_its_servers(servers: Servers, shards: list[Process]) -> None:
    zero, one = (p.bot for p in shards)
    assert [g.id for g in zero.guilds] == [servers.zero]
    assert [g.id for g in one.guilds] == [servers.one]
    assert (zero.shard_count, sorted(zero.shards)) == (2, [0])
    assert (one.shard_count, sorted(one.shards)) == (2, [1])


async def test_a_command_is_answered_by_the_shard_of_its_server(
    fake: FakeDiscord, servers: Servers, shards: list[Process]
) -> None:
    zero, one = shards
    for guild, channel, owner, other in (
        (servers.zero, servers.zero_general, zero, one),
        (servers.one, servers.one_general, one, zero),
    ):
        handle = await fake.invoke(guild, channel, servers.alice, "about")
        assert (await handle.original_message()).embeds[0]["title"] == "Kinfolk"
        assert int(handle.id) in owner.interactions
        assert int(handle.id) not in other.interactions
    assert len(zero.interactions) == len(one.interactions) == 1


async def test_a_dm_button_about_a_shard_1_server_is_handled_by_shard_0(
    fake: FakeDiscord,
    servers: Servers,
    shards: list[Process],
    database: Database,
    clock: FrozenClock,
) -> None:
    zero, one = shards
    await queue(
        database,
        clock,
        "shards:dm",
        "user",
        servers.alice,
        **plain_payload(
            "Checking in from One", view=ANSWERS_VIEW, view_args={"guild_id": servers.one}
        ),
    )
    assert (await finished(fake, database, "shards:dm")).status == "sent"
    [dm] = fake.dm_messages(servers.alice)
    handle = await fake.click(dm, f"reachout:answer:{servers.one}:pause", servers.alice)
    assert (await handle.original_message()).content == REPLIES["pause"]
    assert handle.is_ephemeral
    assert int(handle.id) in zero.interactions
    assert one.interactions == []
    async with database.session() as session:
        row = await session.get(MemberActivity, (servers.one, servers.alice))
    assert row is not None
    assert row.last_answer == "pause"
    assert row.paused_until is not None


async def _only_shard_0_dispatches(shards: list[Process]) -> None:
    """Stop shard 1's outbox, so whatever is queued next is sent by shard 0."""
    await shards[1].bot.stop_outbox()
    assert shards[1].bot._outbox_task is not None
    assert shards[1].bot._outbox_task.done()


async def test_shard_0_names_a_server_of_shard_1_in_a_dm(
    fake: FakeDiscord,
    servers: Servers,
    shards: list[Process],
    database: Database,
    clock: FrozenClock,
) -> None:
    await _only_shard_0_dispatches(shards)
    payload = {**plain_payload("A note from {server}"), "server_name_of": servers.one}
    await queue(database, clock, "shards:named", "user", servers.alice, **payload)
    assert (await finished(fake, database, "shards:named")).status == "sent"
    [dm] = fake.dm_messages(servers.alice)
    assert dm.content == "A note from One"
    # Shard 0 has no "One" in its cache: it asked Discord for the server.
    assert shards[0].bot.get_guild(servers.one) is None
    assert [r.path for r in fake.requests if r.path == f"/guilds/{servers.one}"] == [
        f"/guilds/{servers.one}"
    ]


async def test_shard_0_reaches_the_owner_of_a_server_of_shard_1(
    fake: FakeDiscord,
    servers: Servers,
    shards: list[Process],
    database: Database,
    clock: FrozenClock,
) -> None:
    await _only_shard_0_dispatches(shards)
    await queue(
        database,
        clock,
        "shards:owner",
        "guild_owner",
        servers.one,
        **plain_payload("For the owner of One"),
    )
    row = await finished(fake, database, "shards:owner")
    assert (row.status, row.last_error) == ("sent", None)
    assert [m.content for m in fake.dm_messages(servers.one_owner)] == ["For the owner of One"]
    assert shards[0].bot.get_guild(servers.one) is None
