"""`/about`: what Kinfolk is and how it is doing in this server."""

from discord.ext import commands

from cogs.about._cog import About


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(About(bot))
