"""Check-ins: /checkin, /mood, /reminder and /setup checkins."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.checkins._cog import Checkins
from cogs.checkins._reminder import Reminders
from cogs.checkins._setup import CheckinSetup

if TYPE_CHECKING:
    from bot.client import KinfolkBot


async def setup(bot: KinfolkBot) -> None:
    await bot.add_cog(Checkins(bot))
    await bot.add_cog(Reminders(bot))
    await bot.add_cog(CheckinSetup(bot))
