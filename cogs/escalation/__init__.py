"""'I need to talk': /talk for members; alerts, /support and the ladder for moderators."""

from discord.ext import commands

from cogs.escalation._cog import Talk
from cogs.escalation._setup import EscalationSetup
from cogs.escalation._support import Support


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Talk(bot))  # type: ignore[arg-type]
    await bot.add_cog(Support(bot))  # type: ignore[arg-type]
    await bot.add_cog(EscalationSetup(bot))  # type: ignore[arg-type]
