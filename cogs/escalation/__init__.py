"""'I need to talk': /talk for members; alerts, /support and the ladder for moderators."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.escalation._cog import Talk
from cogs.escalation._setup import EscalationSetup
from cogs.escalation._support import Support

if TYPE_CHECKING:
    from bot.client import KinfolkBot


async def setup(bot: KinfolkBot) -> None:
    await bot.add_cog(Talk(bot))
    await bot.add_cog(Support(bot))
    await bot.add_cog(EscalationSetup(bot))
