"""Self-tests for the local Discord stand-in, driven by an unmodified discord.py bot.

The bot here is a minimal ``commands.Bot`` (not Kinfolk's): it exists to prove the
stand-in speaks the protocol well enough for discord.py's real code paths, and that its
rule enforcement (validation, rate limits, interaction rules, mentions) bites.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import FakeDiscord, World, point_discord_py_at
from tests.fakediscord.messages import StoredMessage

pytestmark = pytest.mark.timeout(30)


class Feedback(discord.ui.Modal, title="Feedback"):
    """discord.py 2.7 style modal: a Label wrapping a text input."""

    answer: discord.ui.Label[Feedback] = discord.ui.Label(
        text="Answer", component=discord.ui.TextInput(custom_id="answer", max_length=100)
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        text_input = self.answer.component
        assert isinstance(text_input, discord.ui.TextInput)
        await interaction.response.send_message(f"got: {text_input.value}", ephemeral=True)


class Confirm(discord.ui.View):
    @discord.ui.button(label="Yes", custom_id="confirm:yes", style=discord.ButtonStyle.success)
    async def yes(
        self, interaction: discord.Interaction, button: discord.ui.Button[Confirm]
    ) -> None:
        await interaction.response.edit_message(
            content=f"confirmed by {interaction.user.name}", view=None
        )


def make_bot(received: list[discord.Message], late_errors: list[int]) -> commands.Bot:
    bot = commands.Bot(
        command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1
    )
    setup = app_commands.Group(name="setup", description="Server setup")

    @setup.command(name="show", description="Show settings")
    async def show(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("settings: none", ephemeral=True)

    @setup.command(name="report", description="Slow report with a file")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        data = json.dumps({"ok": True}).encode()
        await interaction.followup.send(
            "report ready", file=discord.File(io.BytesIO(data), "r.json")
        )
        await interaction.edit_original_response(content="report ready (edited)")

    @app_commands.command(name="slow", description="Answers too late")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.3)
        try:
            await interaction.response.send_message("too late")
        except discord.NotFound as exc:
            late_errors.append(exc.code)

    @app_commands.command(name="ask", description="Ask for confirmation")
    async def ask(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Sure?", view=Confirm(), ephemeral=True)

    @app_commands.command(name="feedback", description="Give feedback")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Feedback())

    async def fruit_choices(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        fruits = ["apple", "apricot", "banana"]
        return [app_commands.Choice(name=f, value=f) for f in fruits if f.startswith(current)]

    @app_commands.command(name="fruit", description="Pick a fruit")
    @app_commands.autocomplete(name=fruit_choices)
    async def fruit(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(name)

    @app_commands.command(name="greet", description="Greet someone")
    async def greet(interaction: discord.Interaction, who: discord.Member, times: int = 1) -> None:
        await interaction.response.send_message(f"hi {who.name} x{times}")

    for cmd in (setup, slow, ask, feedback, fruit, greet):
        bot.tree.add_command(cmd)

    async def setup_hook() -> None:
        await bot.tree.sync()

    async def on_message(message: discord.Message) -> None:
        received.append(message)

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    bot.add_listener(on_message)
    return bot


@pytest.fixture
def world() -> World:
    w = World()
    guild = w.add_guild("Test Guild")
    w.general = w.add_text_channel(guild.id, "general")  # type: ignore[attr-defined]
    w.alice = w.add_member(guild.id, "alice")  # type: ignore[attr-defined]
    w.guild = guild  # type: ignore[attr-defined]
    return w


@pytest.fixture
async def fake(world: World) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(world, bucket=(50, 1.0)) as server:
        undo = point_discord_py_at(server.api_base, server.gateway_url)
        try:
            yield server
        finally:
            undo()


@pytest.fixture
def received() -> list[discord.Message]:
    return []


@pytest.fixture
def late_errors() -> list[int]:
    return []


@pytest.fixture
async def bot(
    fake: FakeDiscord, received: list[discord.Message], late_errors: list[int]
) -> AsyncIterator[commands.Bot]:
    client = make_bot(received, late_errors)
    task = asyncio.create_task(client.start(fake.token))
    await fake.wait_ready()
    await fake.wait_commands_synced()
    yield client
    await client.close()
    await asyncio.wait_for(task, 5)


def ids(world: World) -> tuple[int, int, int]:
    return world.guild.id, world.general.id, world.alice.id  # type: ignore[attr-defined]


async def test_login_ready_and_guild_cache(
    fake: FakeDiscord, bot: commands.Bot, world: World
) -> None:
    gid, cid, _ = ids(world)
    guild = bot.get_guild(gid)
    assert guild is not None
    assert guild.name == "Test Guild"
    assert guild.get_channel(cid).name == "general"
    assert guild.me is not None
    assert guild.me.id == world.bot_user.id
    assert bot.user.id == world.bot_user.id
    assert fake.gateway.connect_queries[0]["compress"] == "zlib-stream"
    paths = [r.path for r in fake.requests]
    assert "/users/@me" in paths
    assert "/oauth2/applications/@me" in paths


async def test_command_sync_recorded(fake: FakeDiscord, bot: commands.Bot) -> None:
    names = {c["name"] for c in fake.global_commands}
    assert names == {"setup", "slow", "ask", "feedback", "fruit", "greet"}
    assert all(c["id"].isdigit() for c in fake.global_commands)


async def test_invoke_subcommand_ephemeral_reply(
    fake: FakeDiscord, bot: commands.Bot, world: World
) -> None:
    h = await fake.invoke(*ids(world), "setup show")
    body = await h.response()
    assert body["type"] == 4
    assert h.is_ephemeral
    assert (await h.original_message()).content == "settings: none"
    assert fake.messages(world.general.id, ephemeral=False) == []  # type: ignore[attr-defined]


async def test_user_option_is_resolved(fake: FakeDiscord, bot: commands.Bot, world: World) -> None:
    gid, cid, alice = ids(world)
    h = await fake.invoke(gid, cid, alice, "greet", options={"who": alice, "times": 2})
    assert (await h.original_message()).content == "hi alice x2"


async def test_defer_followup_file_and_edit_original(
    fake: FakeDiscord, bot: commands.Bot, world: World
) -> None:
    h = await fake.invoke(*ids(world), "setup report")
    assert (await h.response())["type"] == 5
    original = await h.original_message()
    await fake.wait_for(lambda: original.content == "report ready (edited)", what="edited original")
    assert json.loads(original.file("r.json")) == {"ok": True}


async def test_button_click_edits_message(
    fake: FakeDiscord, bot: commands.Bot, world: World
) -> None:
    gid, cid, alice = ids(world)
    h = await fake.invoke(gid, cid, alice, "ask")
    msg = await h.original_message()
    assert msg.ephemeral
    assert msg.components
    click = await fake.click(msg, "confirm:yes", alice)
    assert (await click.response())["type"] == 7
    assert msg.content == "confirmed by alice"
    assert msg.components == []


async def test_modal_round_trip(fake: FakeDiscord, bot: commands.Bot, world: World) -> None:
    h = await fake.invoke(*ids(world), "feedback")
    await h.response()
    assert h.modal is not None
    assert h.modal["title"] == "Feedback"
    submitted = await fake.submit_modal(h, {"answer": "lovely"})
    assert (await submitted.original_message()).content == "got: lovely"


async def test_autocomplete(fake: FakeDiscord, bot: commands.Bot, world: World) -> None:
    choices = await fake.autocomplete(*ids(world), "fruit", {"name": "ap"}, focused="name")
    assert [c["value"] for c in choices] == ["apple", "apricot"]


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


async def test_gateway_drop_resumes_and_replays(
    fake: FakeDiscord, bot: commands.Bot, world: World, received: list[discord.Message]
) -> None:
    await fake.drop_gateway()
    missed = await fake.post_message(world.general.id, world.alice.id, "while you were away")  # type: ignore[attr-defined]
    await fake.wait_resumed()
    await fake.wait_for(lambda: any(m.id == missed.id for m in received), what="replayed message")
    assert fake.gateway.identify_count == 1
    assert fake.gateway.resume_count == 1
    # Default intents lack MESSAGE_CONTENT, so Discord blanks other users' content.
    assert next(m for m in received if m.id == missed.id).content == ""
    h = await fake.invoke(*ids(world), "setup show")
    assert (await h.response())["type"] == 4


async def test_pinged_honours_allowed_mentions(
    fake: FakeDiscord, bot: commands.Bot, world: World
) -> None:
    channel = bot.get_channel(world.general.id)  # type: ignore[attr-defined]
    alice = world.alice.id  # type: ignore[attr-defined]
    await channel.send(f"@everyone <@{alice}>", allowed_mentions=discord.AllowedMentions.none())
    await channel.send(f"@everyone <@{alice}>")
    safe, unsafe = fake.messages(channel.id)
    assert fake.pinged(safe) == set()
    assert fake.pinged(unsafe) == {"everyone", f"user:{alice}"}


def test_pinged_explicit_user_list() -> None:
    msg = StoredMessage(1, 2, 3, content="<@10> <@11> <@&12>", allowed_mentions={"users": ["11"]})
    assert msg.allowed_mentions is not None
    from tests.fakediscord.messages import pinged

    assert pinged(msg) == {"user:11"}


async def test_threads_roles_and_dms(fake: FakeDiscord, bot: commands.Bot, world: World) -> None:
    gid, cid, alice = ids(world)
    helper = world.add_role(gid, "helper")
    guild = bot.get_guild(gid)
    channel = guild.get_channel(cid)
    thread = await channel.create_thread(
        name="support", type=discord.ChannelType.private_thread, invitable=False
    )
    member = await guild.fetch_member(alice)
    await thread.add_user(member)
    await thread.send(
        f"welcome <@{alice}>", allowed_mentions=discord.AllowedMentions(users=[member])
    )
    await thread.edit(archived=True, locked=True)
    await member.add_roles(discord.Object(helper.id))
    stored = fake.threads[0]
    assert stored.type == 12
    assert not stored.invitable
    assert stored.archived
    assert stored.locked
    assert alice in stored.thread_members
    assert fake.pinged(fake.messages(thread.id)[0]) == {f"user:{alice}"}
    assert helper.id in guild_member_roles(world, gid, alice)
    dm = await (await bot.fetch_user(alice)).send("hi there")
    edited = await dm.edit(content="hi again")
    assert [m.content for m in fake.dm_messages(alice)] == [edited.content] == ["hi again"]
    await dm.delete()
    assert fake.dm_messages(alice) == []


def guild_member_roles(world: World, guild_id: int, user_id: int) -> list[int]:
    return world.guilds[guild_id].members[user_id].roles


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
