"""Permission checks enforced in code (Discord's `default_permissions` is only a default a
server can change, and applies per top-level command, not per subcommand)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.i18n import N_, _
from bot.ui.errors import Refusal

MANAGE_SERVER_REFUSAL = N_(
    "Only members with the **Manage Server** permission can change Kinfolk's settings. "
    "If something here needs changing, please ask a moderator."
)

# Discord's names for the permissions Kinfolk asks for, as its own settings show them.
PERMISSION_NAMES = {
    "view_channel": N_("View Channel"),
    "send_messages": N_("Send Messages"),
    "embed_links": N_("Embed Links"),
    "create_private_threads": N_("Create Private Threads"),
    "send_messages_in_threads": N_("Send Messages In Threads"),
    "manage_threads": N_("Manage Threads"),
}


def require_manage_server(interaction: discord.Interaction) -> None:
    if interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    if not interaction.permissions.manage_guild:
        raise Refusal(_(MANAGE_SERVER_REFUSAL))


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
    return [permission_name(name) for name in needs if not getattr(granted, name)]


def permission_name(name: str) -> str:
    """A permission's readable name ("send_messages" → "Send Messages"), translated."""
    known = PERMISSION_NAMES.get(name)
    return _(known) if known is not None else name.replace("_", " ").title()
