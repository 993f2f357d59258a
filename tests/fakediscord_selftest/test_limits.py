"""The stand-in refuses what Discord refuses: rate limits, injected failures, spec and
deadline violations, closed DMs."""

from __future__ import annotations

import asyncio

import aiohttp
import discord
import pytest
from discord.ext import commands

from tests.fakediscord import FakeDiscord, World
from tests.fakediscord_selftest.conftest import ids


async def test_dm_to_closed_user_is_forbidden(
    fake: FakeDiscord, bot: commands.Bot, world: World
) -> None:
    alice = world.alice.id  # type: ignore[attr-defined]
    world.set_dms_closed(alice, True)
    user = await bot.fetch_user(alice)
    with pytest.raises(discord.Forbidden) as info:
        await user.send("hello")
    assert info.value.code == 50007
    assert fake.dm_messages(alice) == []


async def test_injected_429_is_retried(fake: FakeDiscord, bot: commands.Bot, world: World) -> None:
    channel = bot.get_channel(world.general.id)  # type: ignore[attr-defined]
    fake.inject_failure("POST", r"/channels/\d+/messages$", status=429, retry_after=0.1)
    await channel.send("after a 429")
    statuses = [r.status for r in fake.requests if r.method == "POST" and "/messages" in r.path]
    assert statuses == [429, 200]
    assert [m.content for m in fake.messages(channel.id)] == ["after a 429"]


async def test_injected_500_then_success(
    fake: FakeDiscord, bot: commands.Bot, world: World
) -> None:
    channel = bot.get_channel(world.general.id)  # type: ignore[attr-defined]
    fake.inject_failure("POST", r"/channels/\d+/messages$", status=500)
    sent = await channel.send("after a 500")
    assert sent.content == "after a 500"
    statuses = [r.status for r in fake.requests if r.method == "POST" and "/messages" in r.path]
    assert statuses == [500, 200]


async def test_overlong_content_is_a_violation(fake: FakeDiscord, world: World) -> None:
    url = f"{fake.api_base}/channels/{world.general.id}/messages"  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"content": "x" * 2001}, headers=headers) as resp:
            assert resp.status == 400
            assert resp.headers["Content-Type"] == "application/json"
            assert (await resp.json())["code"] == 50035
        async with session.post(
            url, json={"content": "ok"}, headers={"Authorization": "Bot nope"}
        ) as resp:
            assert resp.status == 401
    violations = fake.take_violations()
    assert len(violations) == 1
    assert "2001 characters" in violations[0]


async def test_double_acknowledgement_is_recorded(
    fake: FakeDiscord, bot: commands.Bot, world: World
) -> None:
    h = await fake.invoke(*ids(world), "setup show")
    await h.response()
    url = f"{fake.api_base}/interactions/{h.id}/{h.record.token}/callback"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"type": 4, "data": {"content": "again"}}) as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["code"] == 40060
    assert any("acknowledged twice" in v for v in fake.take_violations())


async def test_late_first_response_is_rejected(
    fake: FakeDiscord, bot: commands.Bot, world: World, late_errors: list[int]
) -> None:
    fake.response_deadline = 0.1  # Discord's is 3 s; shortened to keep the suite fast
    await fake.invoke(*ids(world), "slow")
    await fake.wait_for(lambda: late_errors, what="bot's NotFound")
    assert late_errors == [10062]
    assert any("first response after" in v for v in fake.take_violations())


async def test_global_limit_and_unknown_routes(fake: FakeDiscord) -> None:
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        responses = [await session.get(f"{fake.api_base}/users/@me") for _ in range(60)]
        for r in responses:
            await r.read()
        limited = [r for r in responses if r.status == 429]
        assert limited
        assert limited[0].headers["X-RateLimit-Global"] == "true"
        assert (await limited[0].json())["global"] is True
        await asyncio.sleep(1.0)
        async with session.get(f"{fake.api_base}/no/such/route") as resp:
            assert resp.status == 404
            assert await resp.json() == {"message": "404: Not Found", "code": 0}
    assert fake.take_unimplemented() == ["GET /no/such/route"]


async def test_leftover_violation_fails_the_test(world: World) -> None:
    server = FakeDiscord(world)
    await server.start()
    url = f"{server.api_base}/channels/{world.general.id}/messages"  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bot {server.token}"}
    async with aiohttp.ClientSession() as session:
        await session.post(url, json={"content": "y" * 2001}, headers=headers)
    with pytest.raises(AssertionError, match="2001 characters"):
        await server.__aexit__(None, None, None)
