"""/talk, and wiring the feature into the bot: buttons, outbox kinds and the alert view."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.escalation import Status, Urgency
from bot.services.escalation import ladder
from bot.services.escalation.render import ALERT_VIEW
from bot.ui.errors import report
from cogs.escalation._alert_views import (
    ClaimButton,
    HandOffButton,
    ResolveButton,
    ShowContextButton,
    alert_view,
)
from cogs.escalation._common import NO_PINGS
from cogs.escalation._member_views import (
    CONTEXT_FORM,
    PICKER_TEXT,
    AddContextButton,
    CancelButton,
    StartButton,
    open_and_answer,
    picker_view,
    submit_context,
)

if TYPE_CHECKING:
    from bot.client import KinfolkBot

DYNAMIC_ITEMS = (
    StartButton,
    AddContextButton,
    CancelButton,
    ClaimButton,
    ResolveButton,
    HandOffButton,
    ShowContextButton,
)


class Talk(commands.Cog):
    def __init__(self, bot: KinfolkBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)
        self.bot.outbox.handlers.update(ladder.handlers(self.bot.db, self.bot.clock))
        self.bot.sender.views[ALERT_VIEW] = lambda args: alert_view(
            int(args["request_id"]), Status(args.get("status", Status.OPEN))
        )

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)
        for kind in ladder.handlers(self.bot.db, self.bot.clock):
            self.bot.outbox.handlers.pop(kind, None)
        self.bot.sender.views.pop(ALERT_VIEW, None)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        match = CONTEXT_FORM.fullmatch(str((interaction.data or {}).get("custom_id", "")))
        if match is None:
            return
        try:
            await submit_context(interaction, int(match["id"]))
        except Exception as error:
            await report(interaction, error)

    @app_commands.command(name="talk", description="I need to talk: reach a person on this server")
    @app_commands.guild_only()
    @app_commands.describe(feeling="How are you feeling right now? (you can also pick after)")
    @app_commands.choices(
        feeling=[app_commands.Choice(name=u.label, value=u.value) for u in Urgency]
    )
    async def talk(
        self, interaction: discord.Interaction, feeling: app_commands.Choice[str] | None = None
    ) -> None:
        if feeling is None:
            await interaction.response.send_message(
                PICKER_TEXT, view=picker_view(), ephemeral=True, allowed_mentions=NO_PINGS
            )
            return
        await open_and_answer(interaction, Urgency(feeling.value))
