"""The one-tap answers under a reach-out DM. Each is a `DynamicItem` whose custom id carries
the server, so it works in a DM and after a restart."""

from __future__ import annotations

from typing import Any

import discord

from bot.domain.escalation import Urgency
from bot.i18n import _
from bot.services.reachout import answers
from bot.services.reachout.texts import ANSWERS, REPLIES
from bot.ui.bound import BoundToServer
from bot.ui.context import kinfolk
from bot.ui.custom_ids import GUILD
from bot.ui.errors import ReportsErrors
from bot.ui.reachout_ask import AskButton
from bot.ui.replies import send_ephemeral
from bot.ui.views import view_of
from cogs.checkins._views import start_checkin
from cogs.escalation._member_views import open_and_answer, refuse_with_resources

STYLES = {
    "busy": discord.ButtonStyle.success,
    "checkin": discord.ButtonStyle.primary,
    "talk": discord.ButtonStyle.danger,
    "pause": discord.ButtonStyle.secondary,
    "stop": discord.ButtonStyle.secondary,
}
EMOJI = {"busy": "👍", "checkin": "📝", "talk": "💬", "pause": "⏸️", "stop": "🔕"}


def answers_view(guild_id: int) -> discord.ui.View:
    return view_of(*(AnswerButton(guild_id, choice) for choice in ANSWERS))


class _Button(ReportsErrors, discord.ui.DynamicItem[discord.ui.Button], template=r"reachout:_"):
    def __init__(self, custom_id: str, label: str, **kwargs: Any) -> None:
        super().__init__(discord.ui.Button(custom_id=custom_id, label=label, **kwargs))


class AnswerButton(
    BoundToServer,
    _Button,
    template=r"reachout:answer:" + GUILD + r":(?P<choice>busy|checkin|talk|pause|stop)",
):
    def __init__(self, guild_id: int, choice: str) -> None:
        super().__init__(
            f"reachout:answer:{guild_id}:{choice}",
            _(ANSWERS[choice]),
            style=STYLES[choice],
            emoji=EMOJI[choice],
        )
        self.guild_id, self.choice = guild_id, choice

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> AnswerButton:
        return cls(int(match["guild"]), match["choice"])

    async def refuse(self, interaction: discord.Interaction, problem: str, **extra: Any) -> None:
        if self.choice == "talk":
            await refuse_with_resources(interaction, problem)
        else:
            await super().refuse(interaction, problem, **extra)

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        await answers.answer(bot.db, bot.clock, self.guild_id, interaction.user.id, self.choice)
        if self.choice == "talk":
            await open_and_answer(interaction, Urgency.STRUGGLING, self.guild_id)
        elif self.choice == "checkin":
            await start_checkin(interaction, self.guild_id)
        else:
            await send_ephemeral(interaction, _(REPLIES[self.choice]))


DYNAMIC_ITEMS = (AnswerButton, AskButton)
