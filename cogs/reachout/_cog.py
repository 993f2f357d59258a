"""/reachout for members, and the listeners that record participation: a message, a
reaction or a Kinfolk command in a server counts (its time only; never its content)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import N_, _, ngettext, number
from bot.services.reachout import answers, consent, sweep
from bot.services.reachout.activity import COMMAND, MESSAGE, REACTION
from bot.services.reachout.handlers import ANSWERS_VIEW, handlers
from bot.ui.feature import FeatureCog, Handlers, Views
from bot.ui.replies import send_ephemeral
from cogs.checkins._views import ConsentButton, MoodButton
from cogs.escalation._member_views import AddContextButton, CancelButton
from cogs.reachout._views import DYNAMIC_ITEMS, answers_view

NOT_ENABLED = N_(
    "Reach-out isn't switched on in this server yet, so Kinfolk won't DM anyone about being "
    "quiet here. Your choice is saved for if it ever is."
)


def _channel_of(channel: object) -> int | None:
    """The channel that counts for a message: a thread counts as its parent channel."""
    if isinstance(channel, discord.Thread):
        return channel.parent_id
    return getattr(channel, "id", None)


class Reachout(FeatureCog):
    reachout = app_commands.Group(
        name="reachout",
        description="Whether Kinfolk may check on you by DM if you go quiet (private)",
        guild_only=True,
    )

    # Its own (the question is asked under check-ins and /buddy too), and what its DM's
    # answers start: a check-in's consent and moods, /talk's buttons.
    dynamic_items = (*DYNAMIC_ITEMS, ConsentButton, MoodButton, AddContextButton, CancelButton)

    def outbox_handlers(self) -> Handlers:
        return handlers(self.bot.db, self.bot.clock)

    def sender_views(self) -> Views:
        return {ANSWERS_VIEW: lambda args: answers_view(int(args["guild_id"]))}

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Make sure the hourly sweep of every server is queued."""
        if await sweep.at_start(self.bot.db, self.bot.clock):
            self.bot.outbox.wake()

    # Participation. No message content is read: discord.py gives the author and the
    # channel, which is all that is used (the bot has no message-content intent).
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None or message.author.bot or message.webhook_id is not None:
            return
        await self.bot.participation.seen(
            message.guild.id, message.author.id, MESSAGE, channel_id=_channel_of(message.channel)
        )

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.guild_id is None or (payload.member is not None and payload.member.bot):
            return
        if self.bot.user is not None and payload.user_id == self.bot.user.id:
            return
        channel = self.bot.get_channel(payload.channel_id)
        channel_id = _channel_of(channel) if channel is not None else payload.channel_id
        await self.bot.participation.seen(
            payload.guild_id, payload.user_id, REACTION, channel_id=channel_id
        )

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None or interaction.user.bot:
            return
        await self.bot.participation.seen(interaction.guild_id, interaction.user.id, COMMAND)

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """Only with MEMBERS_INTENT: members who left are not reached out to."""
        await answers.member_left(self.bot.db, self.bot.clock, payload.guild_id, payload.user.id)

    @reachout.command(name="on", description="Kinfolk may DM you kindly if you go quiet")
    async def turn_on(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await consent.set_consent(
            self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id, True
        )
        info = await consent.status(self.bot.db, interaction.guild_id, interaction.user.id)
        text = ngettext(
            "Done. If you're quiet here for {count} day, Kinfolk may send you "
            "one short, kind DM with a few one-tap answers — a few at most, further and "
            "further apart, and never between {start} and {end} "
            "({timezone} time). **/reachout off** stops it any time.",
            "Done. If you're quiet here for {count} days, Kinfolk may send you "
            "one short, kind DM with a few one-tap answers — a few at most, further and "
            "further apart, and never between {start} and {end} "
            "({timezone} time). **/reachout off** stops it any time.",
            info.threshold_days,
        ).format(
            count=number(info.threshold_days),
            start=info.quiet_start,
            end=info.quiet_end,
            timezone=info.timezone,
        )
        if not info.enabled:
            text += "\n\n" + _(NOT_ENABLED)
        await send_ephemeral(interaction, text)

    @reachout.command(name="off", description="Never DM me about being quiet")
    async def turn_off(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await consent.set_consent(
            self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id, False
        )
        await send_ephemeral(
            interaction,
            _(
                "Done: Kinfolk won't DM you about being quiet in this server, now or later. "
                "**/reachout on** turns it back on if you ever want it."
            ),
        )

    @reachout.command(name="quiet-hours", description="When Kinfolk must never DM you")
    @app_commands.describe(
        start="When your quiet hours start, e.g. 22:00 or 10pm (your timezone)",
        end="When they end, e.g. 08:00 or 8am",
    )
    async def quiet_hours(self, interaction: discord.Interaction, start: str, end: str) -> None:
        assert interaction.guild_id is not None
        quiet_start, quiet_end = await consent.set_quiet_hours(
            self.bot.db, self.bot.clock, interaction.guild_id, interaction.user.id, start, end
        )
        info = await consent.status(self.bot.db, interaction.guild_id, interaction.user.id)
        await send_ephemeral(
            interaction,
            _(
                "Done. Kinfolk won't DM you between **{start}** and **{end}** "
                "({timezone} time; **/reminder timezone** sets yours)."
            ).format(start=quiet_start, end=quiet_end, timezone=info.timezone),
        )

    @reachout.command(name="show", description="What you chose, and what Kinfolk records")
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        info = await consent.status(self.bot.db, interaction.guild_id, interaction.user.id)
        if info.consent == "yes" and info.dms_closed:
            choice = _(
                "You said yes, but your DMs were closed when Kinfolk last tried, so it "
                "stopped. **/reachout on** tries again."
            )
        elif info.consent == "yes":
            choice = _("Kinfolk **may** DM you if you go quiet.")
        elif info.consent == "no":
            choice = _("Kinfolk **won't** DM you about being quiet.")
        else:
            choice = _("You haven't said yes, so Kinfolk won't DM you about being quiet.")
        lines = [
            choice,
            _("Quiet hours: {start}–{end} ({timezone} time).").format(
                start=info.quiet_start, end=info.quiet_end, timezone=info.timezone
            ),
        ]
        if info.paused_until is not None and info.paused_until > self.bot.clock.now():
            lines.append(
                _("Paused until {date}.").format(
                    date=discord.utils.format_dt(info.paused_until, "D")
                )
            )
        lines.append(
            _(
                "What's recorded: when you were last active here and how many messages, "
                "reactions, check-ins and commands per day — never what you wrote."
            )
        )
        if not info.enabled:
            lines.append(_(NOT_ENABLED))
        await send_ephemeral(interaction, "\n".join(lines))
