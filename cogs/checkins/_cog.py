"""/checkin and /mood, and wiring check-ins into the bot: buttons, outbox kinds and views."""

from __future__ import annotations

import io

import discord
from babel.numbers import format_decimal
from discord import app_commands

from bot import i18n
from bot.domain.checkins import HISTORY_SPANS, Mood
from bot.i18n import _, ngettext, number
from bot.services.checkins import records
from bot.services.checkins.chart import render_png
from bot.services.checkins.handlers import handlers
from bot.services.checkins.prompt import START_VIEW
from bot.services.checkins.reminders import MOODS_VIEW
from bot.ui import pictures
from bot.ui.feature import FeatureCog, Handlers, Routes, Views
from bot.ui.reachout_ask import AskButton
from bot.ui.replies import finish_deferred, send_ephemeral
from bot.ui.views import view_of
from cogs.checkins._views import (
    DYNAMIC_ITEMS,
    NOTE_FORM,
    ExportButton,
    ForgetButton,
    StartButton,
    mood_picker,
    start_checkin,
    submit_note,
)
from cogs.escalation._member_views import AddContextButton, CancelButton


def _empty_history(days: int) -> str:
    return ngettext(
        "No check-ins in the last {days} day yet, so there's nothing to chart. "
        "**/checkin** whenever you're ready; there's no wrong time to start.",
        "No check-ins in the last {days} days yet, so there's nothing to chart. "
        "**/checkin** whenever you're ready; there's no wrong time to start.",
        days,
    ).format(days=number(days))


def _one_decimal(value: float) -> str:
    """ "4.0" (English), "4,0" (German): an average as the current language writes it."""
    return format_decimal(value, format="0.0", locale=i18n.babel_locale())


class Checkins(FeatureCog):
    # Its own, and what it sends of other features' flows: the reach-out question after a
    # check-in, /talk's buttons after "I'd like to talk".
    dynamic_items = (*DYNAMIC_ITEMS, AskButton, AddContextButton, CancelButton)

    def outbox_handlers(self) -> Handlers:
        return handlers(self.bot.db, self.bot.clock)

    def sender_views(self) -> Views:
        return {
            MOODS_VIEW: lambda args: mood_picker(int(args["guild_id"])),
            START_VIEW: lambda args: view_of(StartButton(int(args["guild_id"]))),
        }

    def modal_routes(self) -> Routes:
        return {NOTE_FORM: lambda interaction, match: submit_note(interaction, int(match["id"]))}

    @app_commands.command(name="checkin", description="Check in: how are you today? (private)")
    @app_commands.guild_only()
    async def checkin(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await start_checkin(interaction, interaction.guild_id)

    @app_commands.command(
        name="mood", description="Your mood over the last 30 or 90 days (private)"
    )
    @app_commands.guild_only()
    @app_commands.describe(days="How far back to look (default 30 days)")
    @app_commands.choices(
        days=[app_commands.Choice(name=f"{n} days", value=n) for n in HISTORY_SPANS]
    )
    async def mood(
        self, interaction: discord.Interaction, days: app_commands.Choice[int] | None = None
    ) -> None:
        guild_id = interaction.guild_id
        assert guild_id is not None
        span = days.value if days is not None else HISTORY_SPANS[0]
        with self.bot.pictures_drawing.turn(guild_id, interaction.user.id, "mood") as mine:
            if not mine:
                await send_ephemeral(interaction, _(pictures.STILL_DRAWING))
                return
            await self._mood(interaction, span)

    async def _mood(self, interaction: discord.Interaction, span: int) -> None:
        assert interaction.guild_id is not None
        # Drawing takes a moment (longer the first time): acknowledge within Discord's 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        seen = await records.history(
            self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id, span
        )
        own_data = view_of(ExportButton(interaction.guild_id), ForgetButton(interaction.guild_id))
        if not seen.points:
            await finish_deferred(interaction, _empty_history(span), view=own_data)
            return
        png = await pictures.draw(render_png, seen.points, seen.start, seen.today, i18n.current())
        summary = seen.summary
        assert summary.average is not None
        embed = discord.Embed(
            title=ngettext("Your last {count} day", "Your last {count} days", span).format(
                count=number(span)
            ),
            colour=discord.Colour.teal(),
        )
        embed.add_field(name=_("Check-ins"), value=number(summary.count))
        nearest = Mood(min(5, max(1, round(summary.average))))
        embed.add_field(
            name=_("Average"),
            value=_("{average} ({mood})").format(
                average=_one_decimal(summary.average), mood=_(nearest.label)
            ),
        )
        embed.add_field(
            name=_("Streak"),
            value=ngettext("{count} day", "{count} days", summary.streak).format(
                count=number(summary.streak)
            ),
        )
        embed.set_image(url="attachment://mood.png")
        embed.set_footer(
            text=_(
                "Days are counted in {timezone} time; change it with /reminder timezone. "
                "Only you can see this."
            ).format(timezone=seen.timezone)
        )
        await finish_deferred(
            interaction,
            embed=embed,
            file=discord.File(io.BytesIO(png), filename="mood.png"),
            view=own_data,
        )
