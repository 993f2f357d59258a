"""Support circles: /circle, /offer and /thinking-of-you for members, /setup circles."""

from discord.ext import commands

from cogs.circles._cog import Circles
from cogs.circles._setup import CircleSetup


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Circles(bot))  # type: ignore[arg-type]
    await bot.add_cog(CircleSetup(bot))  # type: ignore[arg-type]
