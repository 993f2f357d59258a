"""/circle, /offer and /thinking-of-you, and wiring circles into the bot."""

from __future__ import annotations

import re

import discord
from discord import app_commands

from bot.domain.circles import Kind
from bot.i18n import _
from bot.services.circles import notes, offers
from bot.services.circles.handlers import handlers
from bot.services.circles.notes import NOTE_VIEW, REPORT_VIEW
from bot.ui import pictures
from bot.ui.bound import server_problem
from bot.ui.feature import FeatureCog, Handlers, Routes, Views
from bot.ui.replies import finish_deferred, send_ephemeral
from cogs.circles._views import (
    DYNAMIC_ITEMS,
    NAME_FORM,
    circle_answer,
    note_view,
    report_view,
    submit_name,
)


def describe_offer(offer: offers.Offer) -> str:
    if not offer.kinds and not offer.topics:
        return _(
            "You're not offering any support at the moment, and that's fine. Giving support "
            "helps the giver too, whenever you're ready: e.g. `/offer emotional:True`."
        )
    if offer.kinds:
        kinds = ", ".join(f"{k.emoji} {k.offered}" for k in offer.kinds)
        lines = [_("You're glad to offer: {kinds}.").format(kinds=kinds)]
    else:
        lines = [_("You're glad to offer: advice.")]
    if offer.topics:
        topics = ", ".join(discord.utils.escape_markdown(t) for t in offer.topics)
        lines.append(_("Topics you know from experience: {topics}.").format(topics=topics))
    lines.append(
        _("Your buddy's intro mentions this.")
        if offer.share_with_buddy
        else _("Your buddy's intro won't mention this.")
    )
    lines.append(
        _(
            "Buddy pairing prefers matching you with someone who's missing what you offer. "
            "`/offer withdraw:True` takes it all back."
        )
    )
    return "\n".join(lines)


class Circles(FeatureCog):
    dynamic_items = DYNAMIC_ITEMS

    def outbox_handlers(self) -> Handlers:
        return handlers(self.bot.db, self.bot.clock)

    def sender_views(self) -> Views:
        return {
            NOTE_VIEW: lambda args: note_view(int(args["note_id"]), int(args["guild_id"])),
            REPORT_VIEW: lambda args: report_view(int(args["note_id"])),
        }

    def modal_routes(self) -> Routes:
        return {NAME_FORM: self._name_submitted}

    async def _name_submitted(self, interaction: discord.Interaction, match: re.Match[str]) -> None:
        problem = await server_problem(interaction, int(match["guild"]))
        if problem is not None:
            await send_ephemeral(interaction, problem)
            return
        await submit_name(interaction, int(match["guild"]), Kind(match["kind"]))

    @app_commands.command(name="circle", description="Your own support circle (private)")
    @app_commands.guild_only()
    async def circle(self, interaction: discord.Interaction) -> None:
        guild_id = interaction.guild_id
        assert guild_id is not None
        with self.bot.pictures_drawing.turn(guild_id, interaction.user.id, "circle") as mine:
            if not mine:
                await send_ephemeral(interaction, _(pictures.STILL_DRAWING))
                return
            await interaction.response.defer(ephemeral=True, thinking=True)
            await finish_deferred(interaction, **(await circle_answer(interaction, guild_id)))

    @app_commands.command(name="offer", description="The kinds of support you're glad to give")
    @app_commands.guild_only()
    @app_commands.describe(
        emotional="Listening: being someone to talk to",
        practical="Help with tasks, meals, lifts",
        informational="Advice from having been there (add topics)",
        companionship="Shared time: a game, a walk on a call, company",
        topics="Topics you know from experience, comma-separated, e.g. job loss, new parent",
        share_with_buddy="Whether your buddy's intro mentions what you offer (default yes)",
        withdraw="Take back all your offers",
    )
    async def offer(
        self,
        interaction: discord.Interaction,
        emotional: bool | None = None,
        practical: bool | None = None,
        informational: bool | None = None,
        companionship: bool | None = None,
        topics: app_commands.Range[str, 0, 250] | None = None,
        share_with_buddy: bool | None = None,
        withdraw: bool = False,
    ) -> None:
        assert interaction.guild_id is not None
        db, clock, guild, user = (
            self.bot.db,
            self.bot.clock,
            interaction.guild_id,
            interaction.user.id,
        )
        if withdraw:
            await offers.withdraw(db, guild, user)
            await send_ephemeral(
                interaction,
                _("Done: you're not offering any support now. Thank you for offering it."),
            )
            return
        choices = {
            Kind.EMOTIONAL: emotional,
            Kind.PRACTICAL: practical,
            Kind.INFORMATIONAL: informational,
            Kind.COMPANIONSHIP: companionship,
        }
        current = await offers.get(db, guild, user)
        kinds = None
        if any(v is not None for v in choices.values()):
            kinds = {k for k in current.kinds if choices[k] is not False}
            kinds |= {k for k, v in choices.items() if v}
        updated = current
        if kinds is not None or topics is not None or share_with_buddy is not None:
            updated = await offers.set_offer(
                db,
                clock,
                guild,
                user,
                kinds=kinds,
                topics=topics,
                share_with_buddy=share_with_buddy,
            )
        await send_ephemeral(interaction, describe_offer(updated))

    @app_commands.command(
        name="thinking-of-you", description="Let someone know you're thinking of them"
    )
    @app_commands.guild_only()
    @app_commands.describe(
        member="Who you're thinking of",
        note="A few words, if you like (they'll see them)",
        anonymous="Send without your name (only if the server allows it)",
    )
    async def thinking_of_you(
        self,
        interaction: discord.Interaction,
        member: discord.User,
        note: app_commands.Range[str, 1, 300] | None = None,
        anonymous: bool = False,
    ) -> None:
        assert interaction.guild_id is not None
        await notes.send(
            self.bot.db,
            self.bot.clock,
            interaction.guild_id,
            interaction.user.id,
            member.id,
            text=note,
            anonymous=anonymous,
            recipient_is_bot=member.bot,
            # Discord resolves a user option to a Member only for members of this server.
            recipient_in_server=isinstance(member, discord.Member),
        )
        self.bot.outbox.wake()
        if anonymous:
            text = _(
                "💌 On its way to {member} without your name. If it can't be delivered, I'll "
                "let you know."
            )
        else:
            text = _("💌 On its way to {member}. If it can't be delivered, I'll let you know.")
        await send_ephemeral(interaction, text.format(member=member.mention))
