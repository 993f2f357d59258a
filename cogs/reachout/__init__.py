"""Participation tracking and reach-out: /reachout for members, /setup reachout for moderators."""

from discord.ext import commands

from cogs.reachout._cog import Reachout
from cogs.reachout._setup import ReachoutSetup


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Reachout(bot))  # type: ignore[arg-type]
    await bot.add_cog(ReachoutSetup(bot))  # type: ignore[arg-type]
