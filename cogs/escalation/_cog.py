"""/talk, and wiring the feature into the bot: buttons, outbox kinds and the alert view."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.domain.escalation import Status, Urgency
from bot.i18n import _
from bot.services.escalation import ladder
from bot.services.escalation.render import ALERT_VIEW
from bot.ui.feature import FeatureCog, Handlers, Routes, Views
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

DYNAMIC_ITEMS = (
    StartButton,
    AddContextButton,
    CancelButton,
    ClaimButton,
    ResolveButton,
    HandOffButton,
    ShowContextButton,
)


class Talk(FeatureCog):
    dynamic_items = DYNAMIC_ITEMS

    def outbox_handlers(self) -> Handlers:
        return ladder.handlers(self.bot.db, self.bot.clock)

    def sender_views(self) -> Views:
        return {
            ALERT_VIEW: lambda args: alert_view(
                int(args["request_id"]), Status(args.get("status", Status.OPEN))
            )
        }

    def modal_routes(self) -> Routes:
        return {
            CONTEXT_FORM: lambda interaction, match: submit_context(interaction, int(match["id"]))
        }

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
                _(PICKER_TEXT), view=picker_view(), ephemeral=True, allowed_mentions=NO_PINGS
            )
            return
        await open_and_answer(interaction, Urgency(feeling.value))
