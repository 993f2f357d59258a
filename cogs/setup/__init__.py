"""`/setup`: server settings, for members with Manage Server. Features add subcommands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.setup._cog import Setup

if TYPE_CHECKING:
    from bot.client import KinfolkBot


async def setup(bot: KinfolkBot) -> None:
    await bot.add_cog(Setup(bot))
