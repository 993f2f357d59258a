"""Privacy: /privacy for members, /audit and /setup privacy for moderators."""

from discord.ext import commands

from cogs.privacy._cog import Privacy


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Privacy(bot))  # type: ignore[arg-type]
