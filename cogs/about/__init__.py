"""`/about`: what Kinfolk is and how it is doing in this server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.about._cog import About

if TYPE_CHECKING:
    from bot.client import KinfolkBot


async def setup(bot: KinfolkBot) -> None:
    await bot.add_cog(About(bot))
