"""Permission checks enforced in code (Discord's `default_permissions` is only a default a
server can change, and applies per top-level command, not per subcommand)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.ui.errors import Refusal

MANAGE_SERVER_REFUSAL = (
    "Only members with the **Manage Server** permission can change Kinfolk's settings. "
    "If something here needs changing, please ask a moderator."
)


def require_manage_server(interaction: discord.Interaction) -> None:
    if interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    if not interaction.permissions.manage_guild:
        raise Refusal(MANAGE_SERVER_REFUSAL)


class SetupGroup(app_commands.Group):
    """`/setup`: every subcommand, wherever it is defined, requires Manage Server."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        require_manage_server(interaction)
        return True


def missing(
    channel: discord.abc.GuildChannel, me: discord.Member, needs: tuple[str, ...]
) -> list[str]:
    """The permissions of `needs` that Kinfolk lacks in `channel`, as readable names."""
    granted = channel.permissions_for(me)
    return [name.replace("_", " ").title() for name in needs if not getattr(granted, name)]
