"""Privacy: /privacy for members, /audit and /setup privacy for moderators."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.privacy._cog import Privacy

if TYPE_CHECKING:
    from bot.client import KinfolkBot


async def setup(bot: KinfolkBot) -> None:
    await bot.add_cog(Privacy(bot))
