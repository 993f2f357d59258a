"""Buddy pairing: /buddy for members, /setup buddies and /setup buddies-round for moderators."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.buddies._cog import Buddies
from cogs.buddies._setup import BuddySetup

if TYPE_CHECKING:
    from bot.client import KinfolkBot


async def setup(bot: KinfolkBot) -> None:
    await bot.add_cog(Buddies(bot))
    await bot.add_cog(BuddySetup(bot))
