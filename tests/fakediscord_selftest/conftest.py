"""Fixtures for the stand-in's self-tests: a bare discord.py bot aimed at it."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import FakeDiscord, World, point_discord_py_at

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
