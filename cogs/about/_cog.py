from __future__ import annotations

import math

import discord
from discord import app_commands

from bot import __version__
from bot.domain.durations import humanize
from bot.services.about import feature_statuses
from bot.ui.feature import FeatureCog
from bot.ui.replies import send_ephemeral

BACKEND_NAMES = {"sqlite": "SQLite (embedded)", "postgresql": "PostgreSQL"}


class About(FeatureCog):
    @app_commands.command(name="about", description="What Kinfolk is, and how it's set up here")
    async def about(self, interaction: discord.Interaction) -> None:
        bot = self.bot
        latency = "measuring…" if math.isnan(bot.latency) else f"{bot.latency * 1000:.0f} ms"
        embed = discord.Embed(
            title="Kinfolk",
            description=(
                "Peer support that doesn't let anyone slip through: check-ins, buddies, and "
                "an “I need to talk” button that always reaches a person."
            ),
            colour=discord.Colour.teal(),
        )
        embed.add_field(name="Version", value=__version__)
        embed.add_field(name="Uptime", value=humanize(bot.clock.now() - bot.started_at))
        embed.add_field(name="Gateway latency", value=latency)
        embed.add_field(name="Database", value=BACKEND_NAMES.get(bot.db.backend, bot.db.backend))
        if interaction.guild_id is not None:
            statuses = await feature_statuses(bot.db, interaction.guild_id)
            lines = [f"{'✅' if s.configured else '▫️'} **{s.name}**: {s.detail}" for s in statuses]
            embed.add_field(name="In this server", value="\n".join(lines), inline=False)
        await send_ephemeral(interaction, embed=embed)
