"""Autocomplete callbacks shared by several commands."""

from __future__ import annotations

import discord
from discord import app_commands

from bot import i18n
from bot.domain import crisis_lines
from bot.domain.timezones import search_timezones
from bot.i18n import _


async def timezone_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """IANA timezones matching what was typed so far ("berl" → Europe/Berlin)."""
    return [app_commands.Choice(name=name, value=name) for name in search_timezones(current)]


BY_LANGUAGE = "auto"  # /setup resources region: no country, by each member's language


async def region_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Countries Kinfolk has crisis lines for, named in the moderator's language, matching
    what was typed (by name or ISO code); first, the choice of no country."""
    with i18n.speaking(interaction.locale):
        typed = current.strip().casefold()
        named = sorted((i18n.territory_name(code), code) for code in crisis_lines.countries())
        found = [
            app_commands.Choice(name=f"{name} ({code})", value=code)
            for name, code in named
            if not typed or typed in name.casefold() or typed == code.casefold()
        ]
        everyone = app_commands.Choice(
            name=_("By each member's Discord language"), value=BY_LANGUAGE
        )
        return ([everyone] if not typed else []) + found[:24]
