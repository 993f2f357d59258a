"""Sharding, enforce_nonce and the global limit in the stand-in.

The gateway tests speak the raw protocol (two hand-made shard connections), so they pin
down exactly what each shard is sent; the discord.py tests show the unmodified client's
AutoShardedBot works against it, in one process or split over two.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
import pytest
from discord.ext import commands

from tests.fakediscord import FakeDiscord, Member, World, point_discord_py_at
from tests.fakediscord.messages import NONCE_WINDOW_SECONDS
from tests.fakediscord.ratelimit import GLOBAL_LIMIT_PER_SECOND, RateLimiter
from tests.fakediscord.world import guild_id_on_shard, shard_of

GUILDS, GUILD_MEMBERS, GUILD_MESSAGES, DIRECT_MESSAGES = 1 << 0, 1 << 1, 1 << 9, 1 << 12
INTENTS = GUILDS | GUILD_MEMBERS | GUILD_MESSAGES | DIRECT_MESSAGES


@dataclass
class Split:
    """Two servers, one on each of two shards, and a member in both."""

    world: World
    guild0: int
    guild1: int
    channel0: int
    channel1: int
    alice: int


@pytest.fixture
def split() -> Split:
    world = World()
    g0 = world.add_guild("Shard Zero", guild_id=guild_id_on_shard(0, 2))
    g1 = world.add_guild("Shard One", guild_id=guild_id_on_shard(1, 2))
    c0 = world.add_text_channel(g0.id, "zero")
    c1 = world.add_text_channel(g1.id, "one")
    alice = world.add_member(g0.id, "alice")
    world.guilds[g1.id].members[alice.id] = Member(alice.user, g1.id)
    return Split(world, g0.id, g1.id, c0.id, c1.id, alice.id)


@pytest.fixture
async def sfake(split: Split) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(split.world, bucket=(50, 1.0)) as server:
        undo = point_discord_py_at(server.api_base, server.gateway_url)
        try:
            yield server
        finally:
            undo()


# ----- a raw shard connection ----------------------------------------------------------
@dataclass
class RawShard:
    """One websocket that identified as ``shard`` and records the dispatches it gets."""

    ws: aiohttp.ClientWebSocketResponse
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    answer_heartbeats: bool = True
    task: asyncio.Task[None] | None = None

    def names(self, *kinds: str) -> list[str]:
        return [e for e, _ in self.events if not kinds or e in kinds]

    def guild_ids(self, kind: str) -> list[int]:
        return [int(d.get("guild_id") or d["id"]) for e, d in self.events if e == kind]

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if data["op"] == 0:
                self.events.append((data["t"], data["d"]))
            elif data["op"] == 1 and self.answer_heartbeats:
                await self.ws.send_json({"op": 1, "d": None})


@pytest.fixture
async def connect(sfake: FakeDiscord) -> AsyncIterator[Callable[..., Awaitable[RawShard]]]:
    http = aiohttp.ClientSession()
    shards: list[RawShard] = []

    async def open_shard(shard: list[int] | None) -> RawShard:
        ws = await http.ws_connect(sfake.gateway_url)
        hello = await ws.receive_json()
        assert hello["op"] == 10
        identify: dict[str, Any] = {"token": sfake.token, "intents": INTENTS, "properties": {}}
        if shard is not None:
            identify["shard"] = shard
        await ws.send_json({"op": 2, "d": identify})
        raw = RawShard(ws)
        raw.task = asyncio.create_task(raw._read())
        shards.append(raw)
        await sfake.wait_for(lambda: "READY" in raw.names(), what="READY")
        await sfake.gateway.sync()
        return raw

    yield open_shard
    for raw in shards:
        await raw.ws.close()
        if raw.task is not None:
            raw.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await raw.task
    await http.close()


async def test_guild_id_helper_lands_on_the_chosen_shard() -> None:
    for count in (1, 2, 3, 16):
        for shard in range(count):
            assert shard_of(guild_id_on_shard(shard, count), count) == shard
    with pytest.raises(ValueError, match="not one of"):
        guild_id_on_shard(2, 2)


async def test_ready_and_guild_create_list_only_the_shards_guilds(
    sfake: FakeDiscord, split: Split, connect: Callable[..., Awaitable[RawShard]]
) -> None:
    s0 = await connect([0, 2])
    s1 = await connect([1, 2])
    [(_, ready0)] = [e for e in s0.events if e[0] == "READY"]
    [(_, ready1)] = [e for e in s1.events if e[0] == "READY"]
    assert [int(g["id"]) for g in ready0["guilds"]] == [split.guild0]
    assert [int(g["id"]) for g in ready1["guilds"]] == [split.guild1]
    assert ready0["shard"] == [0, 2]
    assert ready1["shard"] == [1, 2]
    assert s0.guild_ids("GUILD_CREATE") == [split.guild0]
    assert s1.guild_ids("GUILD_CREATE") == [split.guild1]
    assert len(sfake.gateway.sessions) == 2
    assert sfake.gateway.connected_shards == {0, 1}
    assert sfake.gateway.session is sfake.gateway.shard_session(0)


async def test_identify_without_shard_is_shard_0_of_1_and_gets_everything(
    sfake: FakeDiscord, split: Split, connect: Callable[..., Awaitable[RawShard]]
) -> None:
    only = await connect(None)
    assert sorted(only.guild_ids("GUILD_CREATE")) == sorted([split.guild0, split.guild1])
    await sfake.post_message(split.channel1, split.alice, "on shard 1 of 2")
    await sfake.post_message(split.world.dm_channel_for(split.alice).id, split.alice, "a DM")
    assert only.names("MESSAGE_CREATE") == ["MESSAGE_CREATE", "MESSAGE_CREATE"]


async def test_guild_events_go_to_their_shard_and_dms_to_shard_0(
    sfake: FakeDiscord, split: Split, connect: Callable[..., Awaitable[RawShard]]
) -> None:
    s0 = await connect([0, 2])
    s1 = await connect([1, 2])
    s0.events.clear()
    s1.events.clear()
    # post_message / dispatch wait for both shards (sync), so nothing is still in flight.
    await sfake.post_message(split.channel0, split.alice, "in zero")
    await sfake.post_message(split.channel1, split.alice, "in one")
    dm = split.world.dm_channel_for(split.alice)
    await sfake.post_message(dm.id, split.alice, "in a DM")
    member = split.world.guilds[split.guild1].members[split.alice]
    await sfake.dispatch("GUILD_MEMBER_UPDATE", {**member.payload(), "guild_id": str(split.guild1)})
    await sfake.dispatch("GUILD_UPDATE", {"id": str(split.guild0), "name": "renamed"})
    # An event naming only a channel is routed by that channel's guild.
    await sfake.dispatch("CHANNEL_PINS_UPDATE", {"channel_id": str(split.channel1)})

    def contents(raw: RawShard) -> list[str]:
        return [d["content"] for e, d in raw.events if e == "MESSAGE_CREATE"]

    # Without MESSAGE_CONTENT the guild messages arrive blanked; the DM keeps its text.
    assert contents(s0) == ["", "in a DM"]
    assert [d["channel_id"] for e, d in s0.events if e == "MESSAGE_CREATE"] == [
        str(split.channel0),
        str(dm.id),
    ]
    assert contents(s1) == [""]
    assert [d["channel_id"] for e, d in s1.events if e == "MESSAGE_CREATE"] == [str(split.channel1)]
    assert s0.names("GUILD_MEMBER_UPDATE", "GUILD_UPDATE") == ["GUILD_UPDATE"]
    assert s1.names("GUILD_MEMBER_UPDATE", "GUILD_UPDATE") == ["GUILD_MEMBER_UPDATE"]
    assert s0.names("CHANNEL_PINS_UPDATE") == []
    assert s1.names("CHANNEL_PINS_UPDATE") == ["CHANNEL_PINS_UPDATE"]
    # With shard 1's socket gone, its events wait in its session for a RESUME; shard 0
    # still gets none of them.
    await sfake.gateway.drop(shard_id=1)
    assert sfake.gateway.connected_shards == {0}
    s0.events.clear()
    await sfake.gateway.dispatch("GUILD_UPDATE", {"id": str(split.guild1), "name": "later"})
    await sfake.gateway.sync()
    assert s0.events == []
    session1 = sfake.gateway.shard_session(1)
    assert session1 is not None
    assert session1.buffer[-1]["d"]["name"] == "later"


async def test_identify_again_replaces_only_that_shards_session(
    sfake: FakeDiscord, split: Split, connect: Callable[..., Awaitable[RawShard]]
) -> None:
    s0 = await connect([0, 2])
    s1 = await connect([1, 2])
    first_ids = set(sfake.gateway.sessions)
    again = await connect([1, 2])
    assert len(sfake.gateway.sessions) == 2
    kept = first_ids & set(sfake.gateway.sessions)
    assert kept == {sfake.gateway.shard_session(0).session_id}  # type: ignore[union-attr]
    assert sfake.gateway.shard_session(1).session_id not in first_ids  # type: ignore[union-attr]
    s1.events.clear()
    again.events.clear()
    s0.events.clear()
    await sfake.post_message(split.channel1, split.alice, "one")
    await sfake.post_message(split.channel0, split.alice, "zero")
    assert again.names("MESSAGE_CREATE") == ["MESSAGE_CREATE"]
    assert s1.names() == []
    assert s0.names("MESSAGE_CREATE") == ["MESSAGE_CREATE"]
    assert sfake.gateway.identify_count == 3


async def test_invalid_shard_is_refused(sfake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(sfake.gateway_url) as ws:
        await ws.receive_json()
        identify = {"token": sfake.token, "intents": INTENTS, "properties": {}, "shard": [2, 2]}
        await ws.send_json({"op": 2, "d": identify})
        closed = await ws.receive()
        assert closed.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4010
    assert sfake.gateway.sessions == {}


async def test_sync_waits_for_every_connected_shard(
    sfake: FakeDiscord, connect: Callable[..., Awaitable[RawShard]]
) -> None:
    await connect([0, 2])
    s1 = await connect([1, 2])
    s1.answer_heartbeats = False
    with pytest.raises(TimeoutError):
        await sfake.gateway.sync(timeout=0.3)
    s1.answer_heartbeats = True
    await sfake.gateway.sync(timeout=2)


# ----- discord.py's AutoShardedBot -----------------------------------------------------
class QuickShards(commands.AutoShardedBot):
    """No 5-second pause between a process's shards (discord.py's identify pacing)."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


def sharded_bot(received: list[discord.Message], **options: Any) -> commands.AutoShardedBot:
    bot = QuickShards(
        command_prefix="!",
        intents=discord.Intents.default(),
        guild_ready_timeout=0.1,
        **options,
    )

    async def on_message(message: discord.Message) -> None:
        received.append(message)

    bot.add_listener(on_message)
    return bot


@contextlib.asynccontextmanager
async def running(bot: commands.AutoShardedBot, token: str) -> AsyncIterator[None]:
    ready = asyncio.Event()

    async def on_ready() -> None:
        ready.set()

    bot.add_listener(on_ready)
    task = asyncio.create_task(bot.start(token))
    try:
        await asyncio.wait_for(ready.wait(), 15)
        yield
    finally:
        await bot.close()
        await asyncio.wait_for(task, 5)


async def test_autosharded_bot_takes_the_recommended_count(
    sfake: FakeDiscord, split: Split
) -> None:
    sfake.gateway.recommended_shards = 2
    received: list[discord.Message] = []
    bot = sharded_bot(received)
    async with running(bot, sfake.token):
        await sfake.gateway.wait_shards([0, 1])
        assert bot.shard_count == 2
        assert sorted(bot.shards) == [0, 1]
        assert {g.id: g.shard_id for g in bot.guilds} == {split.guild0: 0, split.guild1: 1}
        await sfake.post_message(split.channel1, split.alice, "hello")
        await sfake.wait_for(lambda: received, what="message on shard 1")
        assert received[0].guild is not None
        assert received[0].guild.id == split.guild1
    assert sorted(s.shard for s in sfake.gateway.sessions.values()) == [[0, 2], [1, 2]]


async def test_two_processes_split_the_shards(sfake: FakeDiscord, split: Split) -> None:
    got0: list[discord.Message] = []
    got1: list[discord.Message] = []
    bot0 = sharded_bot(got0, shard_count=2, shard_ids=[0])
    bot1 = sharded_bot(got1, shard_count=2, shard_ids=[1])
    async with running(bot0, sfake.token), running(bot1, sfake.token):
        await sfake.gateway.wait_shards([0, 1])
        assert [g.id for g in bot0.guilds] == [split.guild0]
        assert [g.id for g in bot1.guilds] == [split.guild1]
        await sfake.post_message(split.channel1, split.alice, "to one")
        await sfake.post_message(split.channel0, split.alice, "to zero")
        await sfake.post_message(split.world.dm_channel_for(split.alice).id, split.alice, "dm")
        await sfake.wait_for(lambda: len(got0) == 2 and len(got1) == 1, what="messages")
        await sfake.gateway.sync()
        assert [m.channel.id for m in got1] == [split.channel1]
        assert {m.channel.id for m in got0} == {
            split.channel0,
            split.world.dm_channel_for(split.alice).id,
        }


# ----- enforce_nonce ------------------------------------------------------------------
async def test_enforced_nonce_returns_the_earlier_message(sfake: FakeDiscord, split: Split) -> None:
    received: list[discord.Message] = []
    bot = sharded_bot(received)
    async with running(bot, sfake.token):
        channel = bot.get_partial_messageable(split.channel0)
        first = await channel.send("once", nonce="kinfolk-7")
        again = await channel.send("once", nonce="kinfolk-7")
        other = await channel.send("once", nonce="kinfolk-8")
        elsewhere = await bot.get_partial_messageable(split.channel1).send(
            "once", nonce="kinfolk-7"
        )
        plain = await channel.send("no nonce")
        plain_again = await channel.send("no nonce")
    assert again.id == first.id
    assert len({first.id, other.id, elsewhere.id, plain.id, plain_again.id}) == 5
    assert [m.content for m in sfake.messages(split.channel0)] == [
        "once",
        "once",
        "no nonce",
        "no nonce",
    ]
    assert sfake.store.nonce_repeats == [first.id]
    posts = [r for r in sfake.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert posts[0].body["enforce_nonce"] is True  # what discord.py sends with a nonce
    assert sfake.store.by_id[first.id].nonce == "kinfolk-7"


async def test_nonce_without_enforce_or_after_the_window_creates_anew(
    sfake: FakeDiscord, split: Split
) -> None:
    url = f"{sfake.api_base}/channels/{split.channel0}/messages"
    headers = {"Authorization": f"Bot {sfake.token}"}
    body = {"content": "x", "nonce": "n-1", "allowed_mentions": {"parse": []}}
    async with aiohttp.ClientSession(headers=headers) as http:
        ids = []
        for extra in ({}, {}, {"enforce_nonce": True}):
            async with http.post(url, json={**body, **extra}) as resp:
                assert resp.status == 200
                ids.append(int((await resp.json())["id"]))
        # The third repeats the nonce of the second (the newest with it): same message.
        assert ids[0] != ids[1]
        assert ids[2] == ids[1]
        # Past the window (or once deleted) the nonce no longer protects.
        sfake.store.by_id[ids[1]].created_monotonic -= NONCE_WINDOW_SECONDS + 1
        async with http.post(url, json={**body, "enforce_nonce": True}) as resp:
            late = int((await resp.json())["id"])
        sfake.store.by_id[late].deleted = True
        async with http.post(url, json={**body, "enforce_nonce": True}) as resp:
            after_delete = int((await resp.json())["id"])
    assert len({ids[0], ids[1], late, after_delete}) == 4
    assert len(sfake.messages(split.channel0)) == 3


# ----- the global limit ---------------------------------------------------------------
def test_global_limit_is_a_parameter() -> None:
    def allowed(limiter: RateLimiter, n: int) -> int:
        statuses = [
            limiter.check("POST", f"/channels/{i}/messages", counts_globally=True).status
            for i in range(n)
        ]
        assert set(statuses) <= {None, 429}
        return statuses.count(None)

    assert allowed(RateLimiter((50, 1.0)), 120) == GLOBAL_LIMIT_PER_SECOND == 50
    assert allowed(RateLimiter((50, 1.0), global_limit=100), 120) == 100
    refused = RateLimiter((50, 1.0), global_limit=1)
    refused.check("GET", "/users/@me", counts_globally=True)
    decision = refused.check("GET", "/users/@me", counts_globally=True)
    assert decision.status == 429
    assert decision.headers["X-RateLimit-Global"] == "true"


async def test_fake_discord_takes_a_global_limit(split: Split) -> None:
    async with FakeDiscord(split.world, global_limit=500) as server:
        assert server.limiter.global_limit == 500
