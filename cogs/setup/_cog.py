from __future__ import annotations

import discord
from discord import app_commands

from bot.services.about import feature_statuses
from bot.services.guild_config import InvalidSetting, set_timezone
from bot.ui.autocomplete import timezone_autocomplete
from bot.ui.feature import FeatureCog, setup_command
from bot.ui.replies import send_ephemeral


class Setup(FeatureCog):
    @setup_command("show", "Show how Kinfolk is set up in this server")
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        statuses = await feature_statuses(self.bot.db, interaction.guild_id)
        embed = discord.Embed(title="Kinfolk settings", colour=discord.Colour.teal())
        for status in statuses:
            mark = "✅ set up" if status.configured else "▫️ not set up"
            embed.add_field(name=f"{status.name} ({mark})", value=status.detail, inline=False)
        await send_ephemeral(interaction, embed=embed)

    @setup_command("timezone", "The server's timezone, for shared schedules")
    @app_commands.describe(timezone="An IANA timezone such as Europe/Berlin; start typing a city")
    @app_commands.autocomplete(timezone=timezone_autocomplete)
    async def timezone(self, interaction: discord.Interaction, timezone: str) -> None:
        assert interaction.guild_id is not None  # guild_only
        try:
            config = await set_timezone(
                self.bot.db,
                self.bot.clock,
                interaction.guild_id,
                timezone,
                actor_id=interaction.user.id,
            )
        except InvalidSetting as error:
            await send_ephemeral(interaction, str(error))
            return
        await send_ephemeral(
            interaction, f"Done: this server's schedules now follow **{config.timezone}**."
        )
