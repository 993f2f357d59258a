"""`/setup`: server settings, for members with Manage Server. Features add subcommands."""

from discord.ext import commands

from cogs.setup._cog import Setup


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Setup(bot))
