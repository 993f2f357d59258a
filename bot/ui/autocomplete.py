"""Autocomplete callbacks shared by several commands."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.domain.timezones import search_timezones


async def timezone_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """IANA timezones matching what was typed so far ("berl" → Europe/Berlin)."""
    return [app_commands.Choice(name=name, value=name) for name in search_timezones(current)]
