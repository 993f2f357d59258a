"""Buttons bound to the server their custom id names.

A custom id is text that arrives from Discord, and anyone can write text: a button that says
`checkin:mood:<server>:<mood>` must not act on a server other than the one it was pressed
in, and one pressed in a DM (a reminder, a reach-out message) must not act in a server the
member has left or was banned from. `BoundToServer` checks both before the button's `run`.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.i18n import N_, _
from bot.ui.context import kinfolk
from bot.ui.errors import ReportsErrors
from bot.ui.replies import send_ephemeral

log = logging.getLogger(__name__)

OTHER_SERVER = N_(
    "That button belongs to another server, so I can't use it here. Nothing was changed."
)
NOT_A_MEMBER = N_(
    "You're not a member of that server any more, so I can't do that there. Nothing was changed."
)


async def is_member(interaction: discord.Interaction, guild_id: int, user_id: int) -> bool:
    """Whether `user_id` is in server `guild_id` now. Asks Discord: the member cache is not
    kept (no member list is downloaded), and the server may be on another process's shard.
    A banned member is not a member."""
    bot = kinfolk(interaction)
    guild = bot.get_guild(guild_id)
    if guild is not None and guild.get_member(user_id) is not None and bot.intents.members:
        return True  # with the members intent the cache follows leaves and bans
    try:
        await bot.http.get_member(guild_id, user_id)
    except (discord.NotFound, discord.Forbidden):
        return False
    return True


async def server_problem(interaction: discord.Interaction, guild_id: int) -> str | None:
    """Why a button naming server `guild_id` may not act here, or None when it may."""
    if interaction.guild_id is not None:
        return None if interaction.guild_id == guild_id else _(OTHER_SERVER)
    if await is_member(interaction, guild_id, interaction.user.id):
        return None
    log.info("a button for server %s was pressed in a DM by a non-member", guild_id)
    return _(NOT_A_MEMBER)


class BoundToServer(ReportsErrors):
    """Mixin for `DynamicItem`s whose custom id names a server, kept in `self.guild_id`."""

    guild_id: int

    async def allowed(self, interaction: discord.Interaction) -> bool:
        problem = await server_problem(interaction, self.guild_id)
        if problem is None:
            return True
        await self.refuse(interaction, problem)
        return False

    async def refuse(self, interaction: discord.Interaction, problem: str, **extra: Any) -> None:
        await send_ephemeral(interaction, problem, **extra)
