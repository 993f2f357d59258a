from __future__ import annotations

import math

import discord
from discord import app_commands

from bot import __version__
from bot.domain.durations import humanize
from bot.i18n import N_, _, ngettext, number
from bot.services.about import feature_statuses
from bot.ui.feature import FeatureCog
from bot.ui.replies import send_ephemeral

BACKEND_NAMES = {"sqlite": N_("SQLite (embedded)"), "postgresql": N_("PostgreSQL")}


def duration_words(unit: str, amount: int) -> str:
    """One unit of a span of time, in the current language ("3 days")."""
    count = number(amount)
    if unit == "day":
        return ngettext("{count} day", "{count} days", amount).format(count=count)
    if unit == "hour":
        return ngettext("{count} hour", "{count} hours", amount).format(count=count)
    if unit == "minute":
        return ngettext("{count} minute", "{count} minutes", amount).format(count=count)
    return ngettext("{count} second", "{count} seconds", amount).format(count=count)


class About(FeatureCog):
    @app_commands.command(name="about", description="What Kinfolk is, and how it's set up here")
    async def about(self, interaction: discord.Interaction) -> None:
        bot = self.bot
        if math.isnan(bot.latency):
            latency = _("measuring…")
        else:
            latency = _("{milliseconds} ms").format(milliseconds=number(round(bot.latency * 1000)))
        embed = discord.Embed(
            title="Kinfolk",
            description=_(
                "Peer support that doesn't let anyone slip through: check-ins, buddies, and "
                "an “I need to talk” button that always reaches a person."
            ),
            colour=discord.Colour.teal(),
        )
        embed.add_field(name=_("Version"), value=__version__)
        embed.add_field(
            name=_("Uptime"),
            value=humanize(bot.clock.now() - bot.started_at, wording=duration_words),
        )
        embed.add_field(name=_("Gateway latency"), value=latency)
        backend = BACKEND_NAMES.get(bot.db.backend)
        embed.add_field(name=_("Database"), value=_(backend) if backend else bot.db.backend)
        if interaction.guild_id is not None:
            statuses = await feature_statuses(bot.db, interaction.guild_id)
            lines = [f"{'✅' if s.configured else '▫️'} **{s.name}**: {s.detail}" for s in statuses]
            embed.add_field(name=_("In this server"), value="\n".join(lines), inline=False)
        await send_ephemeral(interaction, embed=embed)
