from __future__ import annotations

import discord
from discord import app_commands

from bot import i18n
from bot.i18n import _
from bot.services.about import feature_statuses
from bot.services.guild_config import InvalidSetting, set_language, set_timezone
from bot.ui.autocomplete import timezone_autocomplete
from bot.ui.feature import FeatureCog, setup_command
from bot.ui.replies import send_ephemeral

FOLLOW_DISCORD = "discord"
# Each language by its own name, as a moderator looking for it would read it.
LANGUAGE_CHOICES = [
    app_commands.Choice(name="Follow the server's Discord language", value=FOLLOW_DISCORD),
    *(app_commands.Choice(name=language.name, value=language.code) for language in i18n.LANGUAGES),
]


class Setup(FeatureCog):
    @setup_command("show", "Show how Kinfolk is set up in this server")
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        statuses = await feature_statuses(self.bot.db, interaction.guild_id)
        embed = discord.Embed(title=_("Kinfolk settings"), colour=discord.Colour.teal())
        for status in statuses:
            if status.configured:
                name = _("{feature} (✅ set up)").format(feature=status.name)
            else:
                name = _("{feature} (▫️ not set up)").format(feature=status.name)
            embed.add_field(name=name, value=status.detail, inline=False)
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
            interaction,
            _("Done: this server's schedules now follow **{timezone}**.").format(
                timezone=config.timezone
            ),
        )

    @setup_command("language", "The language of Kinfolk's posts in this server's channels")
    @app_commands.describe(language="Members' own replies always follow their Discord language")
    @app_commands.choices(language=LANGUAGE_CHOICES)
    async def language(self, interaction: discord.Interaction, language: str) -> None:
        assert interaction.guild_id is not None  # guild_only
        chosen = None if language == FOLLOW_DISCORD else language
        try:
            config = await set_language(
                self.bot.db,
                self.bot.clock,
                interaction.guild_id,
                chosen,
                actor_id=interaction.user.id,
            )
        except InvalidSetting as error:
            await send_ephemeral(interaction, str(error))
            return
        self.bot.language_of.forget_server(interaction.guild_id)
        name = i18n.BY_CODE[config.post_language].name
        if chosen is None:
            text = _(
                "Done: Kinfolk's posts in this server's channels follow the server's Discord "
                "language (now **{language}**). Each member's own replies and DMs follow "
                "their Discord language."
            )
        else:
            text = _(
                "Done: Kinfolk's posts in this server's channels (alerts, the daily prompt, "
                "milestones) are now in **{language}**. Each member's own replies and DMs "
                "follow their Discord language."
            )
        await send_ephemeral(interaction, text.format(language=name))
