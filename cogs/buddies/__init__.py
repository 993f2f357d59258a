"""Buddy pairing: /buddy for members, /setup buddies and /setup buddies-round for moderators."""

from discord.ext import commands

from cogs.buddies._cog import Buddies
from cogs.buddies._setup import BuddySetup


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Buddies(bot))  # type: ignore[arg-type]
    await bot.add_cog(BuddySetup(bot))  # type: ignore[arg-type]
