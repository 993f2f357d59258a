"""The running bot, from an interaction, typed."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import discord

if TYPE_CHECKING:
    from bot.client import KinfolkBot


def kinfolk(interaction: discord.Interaction) -> KinfolkBot:
    return cast("KinfolkBot", interaction.client)
