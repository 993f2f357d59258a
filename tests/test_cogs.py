"""Every extension under cogs/ loads, and no two define the same command."""

from __future__ import annotations

from collections import Counter

import discord
from discord.ext import commands

from bot.client import discover_extensions


def test_discovers_every_feature_package() -> None:
    extensions = discover_extensions()
    assert "cogs.about" in extensions
    assert "cogs.setup" in extensions
    assert all(not name.split(".")[-1].startswith("_") for name in extensions)


async def test_extensions_load_without_command_clashes() -> None:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    for name in discover_extensions():
        await bot.load_extension(name)  # a duplicate top-level name raises here
    names = Counter(command.qualified_name for command in bot.tree.walk_commands())
    assert names["about"] == 1
    assert names["setup show"] == 1
    assert [name for name, count in names.items() if count > 1] == []
