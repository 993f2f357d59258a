"""Support circles: /circle, /offer and /thinking-of-you for members, /setup circles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.circles._cog import Circles
from cogs.circles._setup import CircleSetup

if TYPE_CHECKING:
    from bot.client import KinfolkBot


async def setup(bot: KinfolkBot) -> None:
    await bot.add_cog(Circles(bot))
    await bot.add_cog(CircleSetup(bot))
