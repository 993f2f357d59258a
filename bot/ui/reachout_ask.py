"""The one-time question whether Kinfolk may DM a member who goes quiet, asked at their
first check-in, when they join the buddy programme, or by /reachout. Shared by those cogs."""

from __future__ import annotations

from typing import Any

import discord

from bot.i18n import N_, _
from bot.services.reachout import consent
from bot.services.reachout.texts import ASK_TEXT
from bot.ui.bound import BoundToServer
from bot.ui.context import kinfolk
from bot.ui.custom_ids import GUILD, YES_NO
from bot.ui.replies import send_ephemeral
from bot.ui.views import view_of

# Shown as `_(YES_TEXT)`, `_(NO_TEXT)`, in the member's language.
YES_TEXT = N_(
    "Thank you. If you go quiet for a while, Kinfolk may send you one short, kind DM — "
    "never during your night (22:00–08:00 your time; **/reachout quiet-hours** changes it). "
    "**/reachout off** stops it any time."
)
NO_TEXT = N_(
    "No problem: Kinfolk won't DM you about being quiet. **/reachout on** changes that "
    "whenever you like."
)


def ask_view(guild_id: int) -> discord.ui.View:
    return view_of(AskButton(guild_id, True), AskButton(guild_id, False))


async def maybe_ask(interaction: discord.Interaction, guild_id: int) -> None:
    """Ask once, in a private follow-up, where reach-out is on; never twice."""
    bot = kinfolk(interaction)
    if not await bot.participation.tracks(guild_id):
        return  # reach-out is off there: no unit of work (and no SQLite write lock) needed
    if await consent.ask_once(bot.db, bot.clock, guild_id, interaction.user.id):
        await send_ephemeral(interaction, _(ASK_TEXT), view=ask_view(guild_id))


class AskButton(
    BoundToServer,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"reachout:ask:" + GUILD + ":" + YES_NO,
):
    def __init__(self, guild_id: int, yes: bool) -> None:
        super().__init__(
            discord.ui.Button(
                custom_id=f"reachout:ask:{guild_id}:{'yes' if yes else 'no'}",
                label=_("Yes, that's OK") if yes else _("No thanks"),
                style=discord.ButtonStyle.success if yes else discord.ButtonStyle.secondary,
            )
        )
        self.guild_id, self.yes = guild_id, yes

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> AskButton:
        return cls(int(match["guild"]), match["answer"] == "yes")

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        await consent.set_consent(bot.db, bot.clock, self.guild_id, interaction.user.id, self.yes)
        await interaction.response.edit_message(
            content=_(YES_TEXT) if self.yes else _(NO_TEXT), view=None
        )
