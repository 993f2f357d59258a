"""Buttons of buddy pairing, keyed by their custom id so they work after a restart."""

from __future__ import annotations

from typing import Any

import discord

from bot.i18n import _, ngettext, number
from bot.services.buddies import rounds
from bot.services.buddies.connect import Answer, answer
from bot.ui.context import kinfolk
from bot.ui.custom_ids import named, one_of
from bot.ui.errors import ReportsErrors
from bot.ui.permissions import require_manage_server
from bot.ui.replies import NO_PINGS
from bot.ui.views import view_of

GROUP = named("group")


def checkup_view(group_id: int) -> discord.ui.View:
    return view_of(*(ConnectButton(group_id, choice) for choice in Answer))


class ConnectButton(
    ReportsErrors,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"buddy:connect:" + GROUP + ":" + one_of("answer", *(a.value for a in Answer)),
):
    def __init__(self, group_id: int, choice: Answer) -> None:
        style = (
            discord.ButtonStyle.success if choice is Answer.YES else discord.ButtonStyle.secondary
        )
        super().__init__(
            discord.ui.Button(
                label=choice.label, style=style, custom_id=f"buddy:connect:{group_id}:{choice}"
            )
        )
        self.group_id, self.choice = group_id, choice

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> ConnectButton:
        return cls(int(match["group"]), Answer(match["answer"]))

    async def run(self, interaction: discord.Interaction) -> None:
        bot = kinfolk(interaction)
        reply = await answer(
            bot.db,
            bot.clock,
            self.group_id,
            interaction.user.id,
            self.choice,
            guild_id=interaction.guild_id,
        )
        bot.outbox.wake()
        await interaction.response.edit_message(content=reply, view=None)


class StartRoundButton(
    ReportsErrors,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"buddy:start:(?P<seed>[0-9]{1,7})(?::(?P<number>[0-9]{1,9}))?",
):
    """Under a round preview: start the round just as previewed (same seed), once. The
    round's number is in the button (buttons from before it was are still taken), so a
    second press, or a copy of an old preview, never starts another round."""

    def __init__(self, seed: int, number: int | None = None) -> None:
        suffix = f":{number}" if number is not None else ""
        super().__init__(
            discord.ui.Button(
                label=_("Start this round"),
                style=discord.ButtonStyle.primary,
                custom_id=f"buddy:start:{seed}{suffix}",
            )
        )
        self.seed, self.number = seed, number

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> StartRoundButton:
        number = match["number"]
        return cls(int(match["seed"]), int(number) if number is not None else None)

    async def run(self, interaction: discord.Interaction) -> None:
        # A button is not covered by /setup's check: moderator-only is enforced here too.
        require_manage_server(interaction)
        assert interaction.guild_id is not None
        bot = kinfolk(interaction)
        # Pairing a large round takes a moment (in a worker process): answer within
        # Discord's three seconds first, then fill in the message.
        await interaction.response.defer()
        plan = await rounds.start(
            bot.db,
            bot.clock,
            interaction.guild_id,
            self.seed,
            actor_id=interaction.user.id,
            number=self.number,
        )
        if not plan.started:
            await interaction.edit_original_response(
                content=_(
                    "Fewer than two members can be paired right now, so no round was started."
                ),
                view=None,
                allowed_mentions=NO_PINGS,
            )
            return
        bot.outbox.wake()
        await interaction.edit_original_response(
            content=ngettext(
                "Round {number} has started: {count} group. Their private threads are being "
                "opened now.",
                "Round {number} has started: {count} groups. Their private threads are being "
                "opened now.",
                len(plan.groups),
            ).format(number=plan.number, count=number(len(plan.groups))),
            view=None,
            allowed_mentions=NO_PINGS,
        )


DYNAMIC_ITEMS = (ConnectButton, StartRoundButton)
