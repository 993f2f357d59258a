"""The stand-in speaks Discord to an unmodified discord.py client: login, sync, commands,
components, modals, threads, roles, DMs and resume."""

from __future__ import annotations

import json

import discord
from discord.ext import commands

from tests.fakediscord import FakeDiscord, World
from tests.fakediscord.messages import StoredMessage
from tests.fakediscord_selftest.conftest import ids


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
