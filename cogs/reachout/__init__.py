"""Participation tracking and reach-out: /reachout for members, /setup reachout for moderators."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.reachout._cog import Reachout
from cogs.reachout._setup import ReachoutSetup

if TYPE_CHECKING:
    from bot.client import KinfolkBot


async def setup(bot: KinfolkBot) -> None:
    await bot.add_cog(Reachout(bot))
    await bot.add_cog(ReachoutSetup(bot))
