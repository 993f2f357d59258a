"""An interaction speaks its member's language: `enter` is called where each interaction's
handling starts (the command tree, `ReportsErrors`, the modal router), before anything is
said, so every reply, button and error in it is in `interaction.locale`; and the language is
noted for the member's later DMs (`bot.services.languages`)."""

from __future__ import annotations

import discord

from bot import i18n


def enter(interaction: discord.Interaction) -> None:
    """Speak the member's language for the rest of this interaction's task."""
    locale = getattr(interaction, "locale", None)
    i18n.use(locale)
    tracker = getattr(getattr(interaction, "client", None), "languages", None)
    if tracker is not None and locale is not None and interaction.guild_id is not None:
        guild_locale = interaction.guild_locale
        tracker.seen(
            interaction.guild_id,
            interaction.user.id,
            str(locale.value),
            None if guild_locale is None else str(guild_locale.value),
        )
