"""Check-ins: /checkin, /mood, /reminder and /setup checkins."""

from discord.ext import commands

from cogs.checkins._cog import Checkins
from cogs.checkins._reminder import Reminders
from cogs.checkins._setup import CheckinSetup


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Checkins(bot))  # type: ignore[arg-type]
    await bot.add_cog(Reminders(bot))  # type: ignore[arg-type]
    await bot.add_cog(CheckinSetup(bot))  # type: ignore[arg-type]
